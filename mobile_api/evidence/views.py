"""Photos over HTTP (`/api/v1/photos/`). Rules live in backend.evidence.photos.

Create by multipart (`file` + fields; the file is streamed to a temporary file, never held in
memory) or by JSON naming a finished upload (`upload`) or a known file (`sha256`). The bytes
are served only through the authenticated `original`, `thumbnail` and `preview` endpoints
(a redirect to a short-lived presigned URL when they are in S3).
"""

from __future__ import annotations

import django_filters
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request

from backend.common.errors import NotFound
from backend.evidence.blobs import blob_local_path, blob_presigned_url
from backend.evidence.models import Blob, Photo
from backend.evidence.photos import (
    FileTooLarge,
    file_sha256,
    local_file,
    max_photo_bytes,
    photos_visible_to,
)
from backend.evidence.storage import blob_key, blob_store
from backend.records.services import payload_digest
from mobile_api.evidence.serializers import PhotoSerializer
from mobile_api.parsers import JSONParser, MultiPartParser
from mobile_api.records.views import X_COORD_SYSTEM, FieldRecordViewSet

# Multipart overhead allowed on top of the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024


def serve_blob(blob: Blob, *, content_type: str, filename: str, disposition: str):
    """A stored file as a response: from disk, or a redirect to a presigned S3 URL (which names
    the same content type and disposition). Client-supplied bytes are never rendered as a page:
    `attachment` for originals, and a sandboxing CSP and nosniff on everything served here.
    (S3 cannot be told to add a CSP header to a presigned response; the attachment disposition
    and the fixed content type it does honour keep browsers from rendering the bytes.)"""
    url = blob_presigned_url(blob=blob, filename=filename)
    if url:
        response = HttpResponseRedirect(url)
    else:
        path = blob_local_path(blob=blob)
        if path is None or not blob_store(blob.storage).exists(blob_key(blob.sha256)):
            raise NotFound("The file is not in storage.", code="file_missing")
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115 - closed by Django
        response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
        response["ETag"] = f'"{blob.sha256}"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


class PhotoUploadHandler(TemporaryFileUploadHandler):
    """Every file goes to a temporary file on disk, and no further than PHOTO_MAX_BYTES."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > max_photo_bytes() + FORM_OVERHEAD_BYTES:
            raise FileTooLarge(
                f"The photo is larger than {max_photo_bytes()} bytes.", extra={"max_bytes": max_photo_bytes()}
            )
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received = getattr(self, "received", 0) + len(raw_data)
        if self.received > max_photo_bytes():
            raise FileTooLarge(
                f"The photo is larger than {max_photo_bytes()} bytes.", extra={"max_bytes": max_photo_bytes()}
            )
        return super().receive_data_chunk(raw_data, start)


class PhotoFilter(django_filters.FilterSet):
    record_type = django_filters.CharFilter()
    record_id = django_filters.UUIDFilter()
    case = django_filters.UUIDFilter(field_name="case_id")

    class Meta:
        model = Photo
        fields = ["record_type", "record_id", "case"]


class FileRecordViewSet(FieldRecordViewSet):
    """A record created with a file (multipart) or by the SHA-256 of one already uploaded.

    The file counts by its SHA-256, so a multipart retry and the same file sent by hash are
    the same content for client-id replays.
    """

    file_field = "file"
    file_hash_key = "sha256"

    def create_digest(self, request: Request, validated: dict) -> str:
        fields = {key: request.data.get(key) for key in request.data if key != self.file_field}
        file = validated.get(self.file_field)
        if file is not None:
            with local_file(file) as path:
                fields[self.file_hash_key] = file_sha256(path)
        return payload_digest(fields)


@extend_schema_view(
    create=extend_schema(
        request={"multipart/form-data": PhotoSerializer, "application/json": PhotoSerializer},
        parameters=[X_COORD_SYSTEM],
    )
)
class PhotoViewSet(FileRecordViewSet):
    """Photos of field records: visible exactly when their record is. `urls.thumbnail` and
    `urls.preview` are null until the background job has made them (`processing_status`)."""

    serializer_class = PhotoSerializer
    selector = staticmethod(photos_visible_to)
    record_type = "photo"
    filterset_class = PhotoFilter
    parser_classes = [JSONParser, MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":
            request.upload_handlers = [PhotoUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().order_by("created_at", "id")

    def _serve(self, blob: Blob | None, *, content_type: str, filename: str, disposition: str = "inline"):
        if blob is None:
            raise NotFound("Not made yet; see processing_status.", code="not_ready")
        return serve_blob(blob, content_type=content_type, filename=filename, disposition=disposition)

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY), 302: None})
    @action(detail=True, methods=["get"], filterset_class=None)
    def original(self, request: Request, pk: str | None = None):
        """The original bytes, as a download (`Content-Disposition: attachment`, sandboxed): a
        redirect to a presigned URL when they are in S3."""
        photo = self.get_object()
        extension = photo.content_type.rsplit("/", 1)[-1]
        return self._serve(
            photo.blob, content_type=photo.content_type, filename=f"{photo.pk}.{extension}", disposition="attachment"
        )

    @extend_schema(responses={(200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY), 302: None})
    @action(detail=True, methods=["get"], filterset_class=None)
    def thumbnail(self, request: Request, pk: str | None = None):
        """320 px JPEG without EXIF; 404 `not_ready` until made."""
        photo = self.get_object()
        return self._serve(photo.thumbnail, content_type="image/jpeg", filename=f"{photo.pk}-thumbnail.jpg")

    @extend_schema(responses={(200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY), 302: None})
    @action(detail=True, methods=["get"], filterset_class=None)
    def preview(self, request: Request, pk: str | None = None):
        """1600 px JPEG without EXIF; 404 `not_ready` until made."""
        photo = self.get_object()
        return self._serve(photo.preview, content_type="image/jpeg", filename=f"{photo.pk}-preview.jpg")
