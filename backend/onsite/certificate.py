"""The certificate (证照) of an on-site approval, as an A4 PDF for the vehicle's printer.

Number, holder, item, decision, the delegating department and the delegate, the issue time, the
tolerance promises still open, the SHA-256 of the decision's signed content, the server key that
signed it, and a QR code to the public verification page. Chinese text is set in the embedded
font the acceptance report uses (backend.acceptance.report), so it is extractable.
"""

from __future__ import annotations

import io

from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

from backend.cases.models import Material
from backend.documents.pdf import pdf_font, pdf_qr, pdf_styles, pdf_table, pdf_text
from backend.onsite.models import Certificate, DecisionOutcome, IntakeMaterialState

TITLES = {
    DecisionOutcome.APPROVE: "准予行政许可决定书（现场审批）",
    DecisionOutcome.APPROVE_WITH_TOLERANCE: "准予行政许可决定书（现场审批·容缺许可）",
}


def certificate_pdf(*, certificate: Certificate, verify_url: str | None = None) -> bytes:
    font = pdf_font()
    styles = pdf_styles(font)
    certificate = Certificate.objects.select_related(
        "decision__intake", "decision__delegate", "decision__delegation", "case__project"
    ).get(pk=certificate.pk)
    decision = certificate.decision
    intake = decision.intake
    project = certificate.case.project
    delegation = decision.delegation
    delegate = decision.delegate
    story: list = [
        Paragraph(pdf_text(TITLES.get(certificate.outcome, "现场审批证照")), styles["title"]),
        Paragraph(f"证照编号：{pdf_text(certificate.number)}", styles["base"]),
        Spacer(1, 3 * mm),
    ]
    rows = [
        ["持证单位", Paragraph(pdf_text(certificate.holder), styles["base"])],
        ["审批事项", Paragraph(pdf_text(certificate.item_name), styles["base"])],
        ["审批决定", pdf_text(certificate.get_outcome_display())],
        ["审批部门", Paragraph(pdf_text(certificate.department_name), styles["base"])],
        ["项目名称", Paragraph(pdf_text(project.name), styles["base"])],
        ["项目代码", pdf_text(project.code)],
        ["审批案件编号", pdf_text(certificate.case.external_no)],
        ["现场审批人", Paragraph(pdf_text(delegate.full_name or delegate.username), styles["base"])],
        [
            "授权期限",
            f"{timezone.localtime(delegation.valid_from):%Y-%m-%d} 至 {timezone.localtime(delegation.valid_to):%Y-%m-%d}",
        ],
        ["签发时间", f"{timezone.localtime(certificate.issued_at):%Y-%m-%d %H:%M}"],
    ]
    if decision.reason:
        rows.append(["审批意见", Paragraph(pdf_text(decision.reason), styles["base"])])
    story.append(pdf_table(rows, [35 * mm, 135 * mm], font, header=False))
    promised = [row for row in intake.materials if row.get("state") == IntakeMaterialState.PROMISED]
    if promised:
        received = set(
            str(pk)
            for pk in Material.objects.filter(
                pk__in=[row["material"] for row in promised], received_at__isnull=False
            ).values_list("pk", flat=True)
        )
        story.append(Paragraph("容缺材料及承诺补交期限", styles["heading"]))
        table = [["材料", "承诺补交日期", "状态"]]
        for row in promised:
            state = "已补交" if row["material"] in received else "待补交"
            table.append([Paragraph(pdf_text(row["name"]), styles["base"]), row["promised_by"], state])
        story.append(pdf_table(table, [100 * mm, 40 * mm, 30 * mm], font))
    story.append(
        Paragraph(
            f"本证照由{pdf_text(certificate.department_name)}授权审批服务直通车现场审批人作出，"
            "经系统电子签名（Ed25519），与审批系统中的许可决定具有同等效力。",
            styles["base"],
        )
    )
    story.append(Spacer(1, 4 * mm))
    footer = [
        Paragraph(f"内容摘要（SHA-256）：{certificate.content_hash}", styles["small"]),
        Paragraph(f"签名密钥：{pdf_text(certificate.key_id)}", styles["small"]),
    ]
    if verify_url:
        footer.append(Paragraph(f"扫码或访问以下地址核验本证照：{pdf_text(verify_url)}", styles["small"]))
        story.append(Table([[footer, pdf_qr(verify_url)]], colWidths=[135 * mm, 35 * mm]))
    else:
        story.extend(footer)
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"证照 {certificate.number}",
        author="工程建设项目审批现场服务平台",
    ).build(story)
    return out.getvalue()
