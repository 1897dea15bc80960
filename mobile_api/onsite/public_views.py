"""The page behind a certificate's QR code: is the certificate valid? No login.

It shows only what the printed certificate itself shows (number, holder, item, decision,
department, issue time, content hash), never the case's other records; an unknown id reads as
"not found" and tells nothing else.
"""

import uuid

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET

from backend.onsite.models import Certificate
from backend.onsite.services import certificate_verify

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>证照核验</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}
.valid{{color:#17803d}}.invalid{{color:#b42318}}code{{word-break:break-all}}</style>
</head>
<body><h1>证照核验</h1>
<p class="{css}" id="status" data-reason="{reason}"><strong>{status}</strong></p>
<p>{explanation}</p>
{details}
</body></html>
"""

DETAILS = """<dl id="certificate"><dt>证照编号</dt><dd id="number">{number}</dd>
<dt>持证单位</dt><dd id="holder">{holder}</dd><dt>审批事项</dt><dd id="item">{item}</dd>
<dt>审批决定</dt><dd id="outcome">{outcome}</dd><dt>审批部门</dt><dd id="department">{department}</dd>
<dt>签发时间</dt><dd id="issued_at">{issued_at}</dd>
<dt>内容摘要（SHA-256）</dt><dd><code id="content_hash">{content_hash}</code></dd></dl>"""

EXPLANATIONS = {
    None: "本证照由系统签发，签名有效，与系统中的现场审批决定一致。",
    "not_found": "系统中没有此证照。",
    "record_changed": "系统中的现场审批决定在签发后已被修改，本证照不再有效。",
    "record_deleted": "系统中没有与本证照对应的现场审批决定。",
    "bad_signature": "证照签名校验失败，内容可能已被篡改。",
    "unknown_key": "证照签名所用密钥无法识别。",
    "voided": "现场审批决定上的签名已作废。",
}


def certificate_verify_url(request: HttpRequest | None, certificate: Certificate) -> str:
    try:
        path = reverse("onsite-certificate-verify", args=[certificate.pk])
    except NoReverseMatch:
        # Mounted at /verify/certificates/ (backend/urls.py).
        path = f"/verify/certificates/{certificate.pk}/"
    return request.build_absolute_uri(path) if request is not None else path


@require_GET
def certificate_verify_page(request: HttpRequest, certificate_id: uuid.UUID) -> HttpResponse:
    certificate = Certificate.objects.filter(pk=certificate_id).first()
    if certificate is None:
        outcome, status_code, details = {"valid": False, "reason": "not_found"}, 404, ""
    else:
        outcome, status_code = certificate_verify(certificate=certificate), 200
        details = DETAILS.format(
            number=escape(certificate.number),
            holder=escape(certificate.holder),
            item=escape(certificate.item_name),
            outcome=escape(certificate.get_outcome_display()),
            department=escape(certificate.department_name),
            issued_at=escape(timezone.localtime(certificate.issued_at).strftime("%Y-%m-%d %H:%M")),
            content_hash=escape(certificate.content_hash),
        )
    html = PAGE.format(
        css="valid" if outcome["valid"] else "invalid",
        reason=escape(outcome["reason"] or ""),
        status="有效" if outcome["valid"] else ("未找到" if outcome["reason"] == "not_found" else "无效"),
        explanation=escape(EXPLANATIONS.get(outcome["reason"], "证照无效。")),
        details=details,
    )
    response = HttpResponse(html, status=status_code, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
