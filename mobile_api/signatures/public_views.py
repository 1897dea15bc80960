"""The page behind a printed document's QR code: does the document still stand? No login.

It shows only what the document itself shows (project name, record kind, whether it still
matches); an unknown record, a malformed hash or a record type that is not signable all read as
"not valid", so the page tells nothing about records one does not already hold the document of.
"""

import re
import uuid

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET

from backend.records.registry import RECORD_TYPES
from backend.signatures.services import document_verify

SHA256 = re.compile(r"^[0-9a-f]{64}$")

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>文件核验</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}
.valid{{color:#17803d}}.invalid{{color:#b42318}}.voided{{color:#6b7280}}code{{word-break:break-all}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.3em;text-align:left}}</style>
</head>
<body><h1>文件核验</h1>
<p class="{css}" id="status"><strong>{status}</strong></p>
<p>{explanation}</p>
<dl><dt>项目名称</dt><dd id="project">{project}</dd><dt>文件类型</dt><dd>{label}</dd>
<dt>内容摘要（SHA-256）</dt><dd><code>{content_hash}</code></dd><dt>有效签名数</dt><dd>{signatures}</dd></dl>
{signature_table}
</body></html>
"""

SIGNATURE_TABLE = """<h2>签名</h2>
<table id="signatures"><thead><tr><th>签署人</th><th>单位</th><th>签署时间</th><th>状态</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""

SIGNATURE_ROW = (
    '<tr class="signature {css}" data-state="{state}"><td>{name}</td><td>{organization}</td>'
    "<td>{signed_at}</td><td>{label}</td></tr>"
)

EXPLANATIONS = {
    None: "本文件内容与系统中的记录一致，签名未作废。",
    "record_changed": "系统中的记录在本文件生成后已被修改，本文件已不再代表当前记录。",
    "record_deleted": "系统中没有与本文件对应的记录。",
    "voided": "本文件上的签名已作废（记录已重新打开）。",
    "bad_signature": "签名校验失败。",
    "unknown_key": "签名所用密钥无法识别。",
    "image_changed": "签名图像与签署时不一致。",
    "photo_changed": "签署时的照片文件已被改动，与签名记录的摘要不一致。",
    "photo_missing": "签署时的照片文件已不在存储中。",
}

STATE_LABELS = {
    "valid": "有效",
    "voided": "已作废",
    "bad_signature": "无效：签名校验失败",
    "unknown_key": "无效：密钥无法识别",
    "image_changed": "无效：签名图像已改动",
    "record_deleted": "无效：记录已删除",
    "record_changed": "无效：记录已修改",
    "photo_changed": "无效：照片文件已改动",
    "photo_missing": "无效：照片文件缺失",
}


def _signature_rows(signatures: list[dict]) -> str:
    rows = []
    for outcome in signatures:
        signature = outcome["signature"]
        state = "valid" if outcome["valid"] else outcome["reason"]
        rows.append(
            SIGNATURE_ROW.format(
                css="valid" if state == "valid" else "voided" if state == "voided" else "invalid",
                state=escape(state),
                name=escape(signature.signer_name),
                organization=escape(signature.signer_organization_name),
                signed_at=escape(timezone.localtime(signature.signed_at).strftime("%Y-%m-%d %H:%M")),
                label=escape(STATE_LABELS.get(state, "无效")),
            )
        )
    return "\n".join(rows)


@require_GET
def document_verify_page(request: HttpRequest, record_type: str, record_id: uuid.UUID, content_hash: str):
    outcome = {"valid": False, "reason": "record_deleted", "record": None, "signatures": []}
    if record_type in RECORD_TYPES and record_type != "signature" and SHA256.match(content_hash):
        outcome = document_verify(record_type=record_type, record_id=record_id, content_hash=content_hash)
    record = outcome["record"]
    project = ""
    if record is not None and getattr(record, "case_id", None):
        project = record.case.project.name
    # Signatures are shown only for a document that matches the record: whoever holds it knows
    # who signed; a guessed or stale link learns nothing.
    signatures = outcome["signatures"] if outcome["reason"] not in ("record_deleted", "record_changed") else []
    html = PAGE.format(
        css="valid" if outcome["valid"] else "invalid",
        status="有效" if outcome["valid"] else "已失效",
        explanation=escape(EXPLANATIONS.get(outcome["reason"], "")),
        project=escape(project),
        label=escape(RECORD_TYPES[record_type].label if record_type in RECORD_TYPES else ""),
        content_hash=escape(content_hash),
        signatures=sum(1 for signature in signatures if signature["valid"]) if outcome["valid"] else 0,
        signature_table=SIGNATURE_TABLE.format(rows=_signature_rows(signatures)) if signatures else "",
    )
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
