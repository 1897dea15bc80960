"""Exports (`/api/v1/exports/`) and red-line imports (`/api/v1/imports/`) over HTTP.

Rules live in backend.exports; views parse, call one service and render.
"""

from __future__ import annotations

import uuid

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.cases.models import ApprovalCase, Project
from backend.common.errors import NotFound, ValidationFailed
from backend.exports.imports import (
    ImportTooLarge,
    import_commit,
    import_for,
    import_max_bytes,
    import_upload,
)
from backend.exports.services import export_file, export_for, export_request
from backend.sites.models import Site
from mobile_api.exceptions import ProblemSerializer
from mobile_api.exports.serializers import (
    ExportRequestSerializer,
    ExportSerializer,
    ImportCommitSerializer,
    RedLineImportSerializer,
)

CONTENT_TYPES = {
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "kml": "application/vnd.google-earth.kml+xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "shp": "application/zip",
}
FORM_OVERHEAD_BYTES = 64 * 1024


def _get(model, pk, what: str):
    """The named row, or 404; scope is checked by the service."""
    if pk is None:
        return None
    instance = model.objects.filter(pk=pk).first()
    if instance is None:
        raise NotFound(f"No such {what}.")
    return instance


class ExportListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="exports_create",
        request=ExportRequestSerializer,
        responses={202: ExportSerializer, 400: ProblemSerializer, 404: ProblemSerializer},
    )
    def post(self, request):
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        export = export_request(
            by=request.user,
            collection=data["collection"],
            format=data["format"],
            case=_get(ApprovalCase, data.get("case"), "case"),
            bbox=data.get("bbox"),
            datetime=data.get("datetime"),
        )
        export.refresh_from_db()
        return Response(ExportSerializer(export, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    @extend_schema(operation_id="exports_retrieve", responses={200: ExportSerializer, 404: ProblemSerializer})
    def get(self, request, export_id):
        export = export_for(user=request.user, export_id=export_id)
        return Response(ExportSerializer(export, context={"request": request}).data)


class ExportFileView(APIView):
    @extend_schema(
        operation_id="exports_file",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="the file"),
            404: ProblemSerializer,
            409: OpenApiResponse(ProblemSerializer, description="export_not_ready or export_failed"),
            410: OpenApiResponse(ProblemSerializer, description="export_expired"),
        },
    )
    def get(self, request, export_id):
        export = export_for(user=request.user, export_id=export_id)
        path = export_file(export=export)
        response = FileResponse(
            open(path, "rb"),  # noqa: SIM115 - closed by Django
            content_type=CONTENT_TYPES[export.format],
            as_attachment=True,
            filename=path.name,
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ImportUploadHandler(TemporaryFileUploadHandler):
    """Every file goes to a temporary file on disk, and no further than IMPORT_MAX_BYTES."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > import_max_bytes() + FORM_OVERHEAD_BYTES:
            raise ImportTooLarge()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received = getattr(self, "received", 0) + len(raw_data)
        if self.received > import_max_bytes():
            raise ImportTooLarge()
        return super().receive_data_chunk(raw_data, start)


class ImportListView(APIView):
    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [ImportUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        operation_id="imports_create",
        request={
            "multipart/form-data": inline_serializer(
                "RedLineImportUpload",
                {
                    "file": serializers.FileField(),
                    "crs": serializers.CharField(
                        required=False, help_text="EPSG code (4326, 4490, 4513-4554) or gcj02; default: the file's"
                    ),
                    "layers": serializers.CharField(required=False, help_text="comma-separated layer names"),
                    "project": serializers.UUIDField(required=False),
                    "case": serializers.UUIDField(required=False),
                },
            )
        },
        responses={202: RedLineImportSerializer, 400: ProblemSerializer, 413: ProblemSerializer},
    )
    def post(self, request):
        upload = request.FILES.get("file")
        red_line_import = import_upload(
            by=request.user,
            file=upload,
            crs=request.data.get("crs", ""),
            layers=request.data.get("layers", ""),
            project=_get(Project, _uuid(request.data.get("project"), "project"), "project"),
            case=_get(ApprovalCase, _uuid(request.data.get("case"), "case"), "case"),
        )
        red_line_import.refresh_from_db()
        return Response(RedLineImportSerializer(red_line_import).data, status=status.HTTP_202_ACCEPTED)


def _uuid(value, field: str) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as error:
        raise ValidationFailed(f"{field} must be a UUID.", errors={field: ["Must be a valid UUID."]}) from error


class ImportDetailView(APIView):
    @extend_schema(operation_id="imports_retrieve", responses={200: RedLineImportSerializer, 404: ProblemSerializer})
    def get(self, request, import_id):
        return Response(RedLineImportSerializer(import_for(user=request.user, import_id=import_id)).data)


class ImportCommitView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="imports_commit",
        request=ImportCommitSerializer,
        responses={
            200: RedLineImportSerializer,
            400: OpenApiResponse(ProblemSerializer, description="invalid_geometry, unknown_feature …"),
            404: ProblemSerializer,
            409: OpenApiResponse(ProblemSerializer, description="import_not_ready or import_committed"),
        },
    )
    def post(self, request, import_id):
        red_line_import = import_for(user=request.user, import_id=import_id)
        serializer = ImportCommitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        red_line_import = import_commit(
            red_line_import=red_line_import,
            by=request.user,
            features=[dict(feature) for feature in data["features"]],
            project=_get(Project, data.get("project"), "project"),
            case=_get(ApprovalCase, data.get("case"), "case"),
            site=_get(Site, data.get("site"), "site"),
        )
        return Response(RedLineImportSerializer(red_line_import).data)
