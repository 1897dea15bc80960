"""What the service's printed documents share: the embedded Chinese font, paragraph styles,
tables, QR codes and local times (the acceptance opinion and the on-site certificate use them).

Chinese text is set in an embedded TrueType font (WenQuanYi Micro Hei, Debian's
fonts-wqy-microhei, or REPORT_FONT_PATH), so it is extractable; without it a CID font is used
and a warning logged.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from xml.sax.saxutils import escape

import qrcode
from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Table, TableStyle

logger = logging.getLogger(__name__)

DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_NAME = "WenQuanYiMicroHei"
FALLBACK_FONT_NAME = "STSong-Light"


def pdf_font() -> str:
    """The registered font name: the embedded TrueType font, else (logged) a CID font."""
    registered = pdfmetrics.getRegisteredFontNames()
    if FONT_NAME in registered:
        return FONT_NAME
    path = getattr(settings, "REPORT_FONT_PATH", "") or DEFAULT_FONT_PATH
    try:
        pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=0))
        return FONT_NAME
    except (OSError, ValueError) as error:
        logger.warning(
            "report font %s unavailable (%s); Chinese text falls back to %s", path, error, FALLBACK_FONT_NAME
        )
    if FALLBACK_FONT_NAME not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT_NAME))
    return FALLBACK_FONT_NAME


def pdf_styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=1, spaceAfter=4 * mm),
        "heading": ParagraphStyle(
            "heading", parent=base, fontSize=13, leading=18, spaceBefore=4 * mm, spaceAfter=2 * mm
        ),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11),
    }


def pdf_text(value: object) -> str:
    return escape(str(value if value is not None else ""))


def pdf_local_time(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def pdf_qr(url: str) -> Image:
    code = qrcode.QRCode(box_size=4, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    out.seek(0)
    return Image(out, width=32 * mm, height=32 * mm)


def pdf_table(rows: list[list], widths: list[float], font: str, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    commands = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(commands))
    return table
