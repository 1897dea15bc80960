"""The service figures as CSV (one long table) and XLSX (one sheet per figure)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rest_framework import renderers

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _is_figures(data: Any, renderer_context: dict[str, Any] | None) -> bool:
    response = (renderer_context or {}).get("response")
    return isinstance(data, dict) and "figures" in data and (response is None or response.status_code < 400)


class ServiceStatsCSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if not _is_figures(data, renderer_context):
            # Errors stay problem+json (the exception handler set the content type).
            return json.dumps(data, ensure_ascii=False).encode()
        from backend.stats.service import stats_table_rows

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerows(stats_table_rows(data))
        # A BOM, so that spreadsheet programs read the Chinese labels as UTF-8.
        return ("\ufeff" + out.getvalue()).encode("utf-8")


class ServiceStatsXLSXRenderer(renderers.BaseRenderer):
    media_type = XLSX_MEDIA_TYPE
    format = "xlsx"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if not _is_figures(data, renderer_context):
            return json.dumps(data, ensure_ascii=False).encode()
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        about = book.create_sheet("说明")
        about.append(["from", data["from"]])
        about.append(["to", data["to"]])
        about.append(["as_of", data["as_of"]])
        about.append(["region", data["region"] or ""])
        for figure in data["figures"]:
            about.append([figure["key"], figure["label"]])
        for missing in data["missing"]:
            about.append([missing["key"], missing["label"], "not available: " + missing["reason"]])
        for figure in data["figures"]:
            sheet = book.create_sheet(figure["key"][:31])
            columns = [*figure["dimensions"], *figure["measures"]]
            sheet.append([figure["label"]])
            sheet.append(columns)
            for row in figure["rows"]:
                sheet.append([row.get(column) for column in columns])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
