"""The joint acceptance opinion (联合验收意见书) of an inspection, as a PDF.

Everything comes from the database as it is now: project, case, site, stage, each item with its
department and result, rectifications, photo thumbnails, the signatures with their images, the
SHA-256 of the record's signed content (backend.signatures.content) and a QR code pointing to the
public verification page, which recomputes that hash. Chinese text is set in an embedded
TrueType font (WenQuanYi Micro Hei, Debian's fonts-wqy-microhei), so it is extractable.

Missing pieces never fail the document: a photo without a thumbnail, a file gone from storage or
an unreadable image is left out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
from collections.abc import Callable

from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table

from backend.acceptance.models import Inspection, InspectionItem, InspectionStatus, RectificationItem
from backend.documents.pdf import pdf_font, pdf_local_time, pdf_qr, pdf_styles, pdf_table, pdf_text
from backend.evidence.blobs import blob_open
from backend.evidence.models import Photo
from backend.signatures.content import record_content_hash
from backend.signatures.selectors import signatures_of_record

logger = logging.getLogger(__name__)

RESULT_WORDS = {"pass": "通过", "fail": "不通过", "filed": "备案", "pending": "待定"}
MAX_PHOTOS = 12
MAX_IMAGE_BYTES = 2 * 1024 * 1024


def _blob_bytes(blob) -> bytes | None:
    if blob is None or blob.size > MAX_IMAGE_BYTES:
        return None
    try:
        with contextlib.closing(blob_open(blob=blob)) as body:
            return body.read(MAX_IMAGE_BYTES + 1)
    except Exception as error:  # noqa: BLE001 - a missing file (disk or S3) leaves the image out
        logger.warning("report: blob %s unreadable: %s", blob.pk, error)
        return None


def _image(data: bytes | None, *, width: float, height: float) -> Image | None:
    if not data:
        return None
    try:
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(data)) as probe:
            pixel_width, pixel_height = probe.size
        scale = min(width / pixel_width, height / pixel_height)
        return Image(io.BytesIO(data), width=pixel_width * scale, height=pixel_height * scale)
    except Exception as error:  # noqa: BLE001 - an unreadable image is left out, never fails the report
        logger.warning("report: image left out: %s", error)
        return None


def _photos(inspection: Inspection, items: list[InspectionItem], rectifications: list[RectificationItem]) -> list:
    from django.db.models import Q

    photos = (
        Photo.objects.filter(
            Q(record_type="inspection", record_id=inspection.pk)
            | Q(record_type="inspection_item", record_id__in=[item.pk for item in items])
            | Q(record_type="rectification", record_id__in=[r.pk for r in rectifications])
        )
        .select_related("thumbnail")
        .order_by("created_at", "id")[: MAX_PHOTOS * 2]
    )
    images = []
    for photo in photos:
        image = _image(_blob_bytes(photo.thumbnail), width=40 * mm, height=30 * mm)
        if image is not None:
            images.append(image)
        if len(images) >= MAX_PHOTOS:
            break
    return images


def inspection_report_pdf(
    *,
    inspection: Inspection,
    verify_url_for: Callable[[str], str] | None = None,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """The joint acceptance opinion as PDF bytes. `verify_url_for(content_hash)` gives the
    public verification URL put in the QR code (none without it)."""
    font = pdf_font()
    styles = pdf_styles(font)
    generated_at = generated_at or timezone.now()
    inspection = Inspection.all_objects.select_related("case__project__builder", "site").get(pk=inspection.pk)
    case = inspection.case
    project = case.project
    items = list(
        InspectionItem.objects.filter(inspection=inspection).select_related("department").order_by("code", "id")
    )
    rectifications = list(
        RectificationItem.objects.filter(inspection_item__in=items)
        .select_related("inspection_item")
        .order_by("inspection_item__code", "created_at", "id")
    )
    signatures = list(signatures_of_record(record_type="inspection", record_id=inspection.pk, valid_only=True))
    content_hash = record_content_hash(record_type="inspection", record=inspection)
    is_signed = inspection.status == InspectionStatus.SIGNED

    story: list = [Paragraph("联合验收意见书", styles["title"])]
    if not is_signed:
        story.append(Paragraph("（草稿：尚未完成全部部门签署）", styles["base"]))
    site = inspection.site
    site_text = f"{site.name} {site.address}".strip() if site is not None else ""
    info = [
        ["项目名称", Paragraph(pdf_text(project.name), styles["base"])],
        ["项目代码", pdf_text(project.code)],
        ["审批案件编号", pdf_text(case.external_no)],
        ["建设单位", Paragraph(pdf_text(project.builder.name if project.builder_id else ""), styles["base"])],
        ["验收地点", Paragraph(pdf_text(site_text), styles["base"])],
        ["验收阶段", pdf_text(inspection.get_stage_display())],
        ["验收状态", pdf_text(inspection.get_status_display())],
    ]
    story.append(pdf_table(info, [35 * mm, 135 * mm], font, header=False))

    story.append(Paragraph("一、各部门验收意见", styles["heading"]))
    item_rows = [["序号", "验收事项", "验收部门", "结果", "备注"]]
    for number, item in enumerate(items, start=1):
        item_rows.append(
            [
                str(number),
                Paragraph(pdf_text(item.name), styles["base"]),
                Paragraph(pdf_text(item.department.name), styles["base"]),
                RESULT_WORDS.get(item.result, item.result),
                Paragraph(pdf_text(item.remarks), styles["small"]),
            ]
        )
    story.append(pdf_table(item_rows, [12 * mm, 48 * mm, 45 * mm, 18 * mm, 47 * mm], font))

    story.append(Paragraph("二、整改事项", styles["heading"]))
    if rectifications:
        rows = [["验收事项", "整改内容", "整改期限", "状态"]]
        for rectification in rectifications:
            rows.append(
                [
                    Paragraph(pdf_text(rectification.inspection_item.name), styles["base"]),
                    Paragraph(pdf_text(rectification.description), styles["base"]),
                    rectification.due_date.isoformat() if rectification.due_date else "",
                    pdf_text(rectification.get_status_display()),
                ]
            )
        story.append(pdf_table(rows, [40 * mm, 80 * mm, 25 * mm, 25 * mm], font))
    else:
        story.append(Paragraph("无。", styles["base"]))

    photos = _photos(inspection, items, rectifications)
    if photos:
        story.append(Paragraph("三、现场照片", styles["heading"]))
        grid = [photos[index : index + 4] for index in range(0, len(photos), 4)]
        grid[-1] += [""] * (4 - len(grid[-1]))
        story.append(Table(grid, colWidths=[42 * mm] * 4))

    story.append(Paragraph("四、签署", styles["heading"]))
    if signatures:
        rows = [["部门", "签署人", "签署时间", "签名"]]
        for signature in signatures:
            signer = signature.signer_name
            if signature.signer_role:
                signer += f"（{signature.signer_role}）"
            image = _image(_blob_bytes(signature.image), width=40 * mm, height=15 * mm)
            rows.append(
                [
                    Paragraph(pdf_text(signature.department.name), styles["base"]),
                    Paragraph(pdf_text(signer), styles["base"]),
                    pdf_local_time(signature.signed_at),
                    image or "",
                ]
            )
        story.append(pdf_table(rows, [50 * mm, 45 * mm, 30 * mm, 45 * mm], font))
    else:
        story.append(Paragraph("尚无签署。", styles["base"]))

    story.append(Spacer(1, 4 * mm))
    footer = [
        Paragraph(f"内容摘要（SHA-256）：{content_hash}", styles["small"]),
        Paragraph(f"生成时间：{pdf_local_time(generated_at)}", styles["small"]),
    ]
    if verify_url_for is not None:
        url = verify_url_for(content_hash)
        footer.append(Paragraph(f"扫码或访问以下地址核验本意见书是否仍然有效：{pdf_text(url)}", styles["small"]))
        story.append(Table([[footer, pdf_qr(url)]], colWidths=[135 * mm, 35 * mm]))
    else:
        story.extend(footer)

    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"联合验收意见书 {project.name}",
        author="工程建设项目审批现场服务平台",
    )
    document.build(story)
    return out.getvalue()
