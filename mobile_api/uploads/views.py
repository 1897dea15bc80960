"""tus 1.0.0 resumable uploads at /api/v1/uploads/ (core, creation, checksum, termination,
expiration).

The request body is never parsed by DRF: PATCH hands the raw stream to the service, which
reads it in pieces. Every response, errors included, carries Tus-Resumable; errors are
problem+json like everywhere else.
"""

from __future__ import annotations

import base64
import binascii
import re

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from backend.common.errors import ApplicationError, ValidationFailed
from backend.evidence.models import Upload, UploadStatus
from backend.evidence.uploads import (
    CHECKSUM_ALGORITHMS,
    upload_append,
    upload_create,
    upload_get,
    upload_is_expired,
    upload_terminate,
)
from mobile_api.authentication import DeviceTokenAuthentication
from mobile_api.parsers import has_invalid_character, invalid_text, parse_non_negative_int

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,checksum,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
METADATA_KEY = re.compile(r"^[^\s,]+$")
MAX_METADATA_LENGTH = 4096
REASON_PHRASES = {460: "Checksum Mismatch"}


class TusVersionUnsupported(ApplicationError):
    status = 412
    code = "tus_version_unsupported"


class IgnoreClientContentNegotiation(BaseContentNegotiation):
    """tus clients send all sorts of Accept headers; the answers are fixed anyway."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _bad_header(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {message}", errors={name: [message]})


def parse_metadata(raw: str) -> dict[str, str]:
    """`key base64value,key2 base64value2` → {key: text}. Values are base64 per tus."""
    if len(raw) > MAX_METADATA_LENGTH:
        raise _bad_header("Upload-Metadata", "Too long.")
    metadata: dict[str, str] = {}
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        if not METADATA_KEY.match(key) or key in metadata:
            raise _bad_header("Upload-Metadata", f"Invalid or repeated key {key[:40]!r}.")
        try:
            text = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError) as error:
            raise _bad_header("Upload-Metadata", f"The value of {key!r} is not base64 of UTF-8 text.") from error
        if has_invalid_character(text):
            raise invalid_text(f"Upload-Metadata.{key}")
        metadata[key] = text
    return metadata


def sha256_from_metadata(value: str | None) -> str:
    """The lowercase hex digest of the whole file (base64-encoded in the header, like every value)."""
    if not value:
        raise _bad_header("Upload-Metadata", "sha256 is required (hex SHA-256 of the whole file, base64-encoded).")
    return value.strip()


def parse_header_int(name: str, value: str | None) -> int:
    number = parse_non_negative_int(value.strip()) if value is not None else None
    if number is None:
        raise _bad_header(name, "Required: a non-negative integer (ASCII digits, at most 2^63-1).")
    return number


def parse_checksum(value: str | None) -> tuple[str, bytes] | None:
    if not value:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ValidationFailed(
            f"Upload-Checksum algorithm {algorithm[:20]!r} is not supported; use one of {', '.join(CHECKSUM_ALGORITHMS)}.",
            code="checksum_algorithm_unsupported",
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as error:
        raise _bad_header("Upload-Checksum", "The digest is not base64.") from error
    return algorithm, digest


def _expires_header(upload: Upload) -> dict[str, str]:
    if upload.status != UploadStatus.IN_PROGRESS:
        return {}
    return {"Upload-Expires": http_date(upload.expires_at.timestamp())}


def _header(name: str, description: str, *, required: bool = False) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.HEADER, required=required, description=description)


TUS_RESUMABLE = _header("Tus-Resumable", "Always 1.0.0.", required=True)
TUS_DOC = "tus 1.0.0 (core, creation, checksum, termination, expiration): https://tus.io/protocols/resumable-upload"
UPLOAD_STATE = inline_serializer(
    "UploadState",
    {
        "id": serializers.UUIDField(),
        "status": serializers.CharField(),
        "length": serializers.IntegerField(),
        "offset": serializers.IntegerField(),
        "sha256": serializers.CharField(allow_null=True),
    },
)


class TusView(APIView):
    authentication_classes = [DeviceTokenAuthentication]
    parser_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientContentNegotiation

    def get_permissions(self):
        # Discovery (OPTIONS) is public, as tus clients and CORS preflights expect.
        if self.request.method == "OPTIONS":
            return [AllowAny()]
        return [IsAuthenticated()]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # GET (the JSON status) is not a tus request.
        if request.method not in {"OPTIONS", "GET"} and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise TusVersionUnsupported(f"Send Tus-Resumable: {TUS_VERSION}.")

    @extend_schema(
        summary="tus discovery: Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm",
        description=TUS_DOC,
        request=None,
        responses={204: OpenApiResponse(description="Capabilities in the headers.")},
    )
    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=204)
        response["Tus-Version"] = TUS_VERSION
        response["Tus-Extension"] = TUS_EXTENSIONS
        response["Tus-Max-Size"] = str(settings.UPLOAD_MAX_SIZE)
        response["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "HEAD" and response.status_code >= 400:
            # A HEAD answer has no body; the status says it.
            response = HttpResponse(status=response.status_code)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == 412:
            response["Tus-Version"] = TUS_VERSION
        if response.status_code in REASON_PHRASES:
            response.reason_phrase = REASON_PHRASES[response.status_code]
        response["Cache-Control"] = "no-store"
        return response


class UploadCollectionView(TusView):
    @extend_schema(
        summary="tus creation: start a resumable upload",
        description=TUS_DOC + ". Metadata: filename, content_type, sha256 (base64 values, per tus); "
        "sha256 is required and verified when the last byte arrives.",
        parameters=[
            TUS_RESUMABLE,
            _header("Upload-Length", "Total size in bytes (at most UPLOAD_MAX_SIZE, else 413).", required=True),
            _header("Upload-Metadata", "filename, content_type, sha256 — each `key base64(value)`.", required=True),
        ],
        request=None,
        responses={201: OpenApiResponse(description="Location: the upload's URL; Upload-Offset: 0; Upload-Expires.")},
    )
    def post(self, request):
        if "Upload-Defer-Length" in request.headers:
            raise _bad_header("Upload-Defer-Length", "Not supported: send Upload-Length.")
        length = parse_header_int("Upload-Length", request.headers.get("Upload-Length"))
        raw_metadata = request.headers.get("Upload-Metadata", "")
        metadata = parse_metadata(raw_metadata)
        upload = upload_create(
            owner=request.user,
            length=length,
            expected_sha256=sha256_from_metadata(metadata.get("sha256")),
            filename=metadata.get("filename", ""),
            content_type=metadata.get("content_type") or metadata.get("filetype", ""),
            metadata=metadata,
            raw_metadata=raw_metadata,
        )
        response = HttpResponse(status=201)
        response["Location"] = request.build_absolute_uri(f"/api/v1/uploads/{upload.id}/")
        response["Upload-Offset"] = str(upload.offset)
        for name, value in _expires_header(upload).items():
            response[name] = value
        return response


class UploadDetailView(TusView):
    @extend_schema(
        summary="tus: how much has arrived (Upload-Offset)",
        parameters=[TUS_RESUMABLE],
        request=None,
        responses={200: OpenApiResponse(description="Upload-Offset, Upload-Length, Upload-Expires."), 410: None},
    )
    def head(self, request, upload_id):
        upload = upload_get(user=request.user, upload_id=upload_id)
        if upload.status == UploadStatus.FAILED or upload_is_expired(upload):
            return HttpResponse(status=410)
        response = HttpResponse(status=200)
        response["Upload-Offset"] = str(upload.offset)
        response["Upload-Length"] = str(upload.length)
        if upload.raw_metadata:
            response["Upload-Metadata"] = upload.raw_metadata
        for name, value in _expires_header(upload).items():
            response[name] = value
        return response

    @extend_schema(summary="The upload's state as JSON (not part of tus)", responses=UPLOAD_STATE)
    def get(self, request, upload_id):
        """Not part of tus: the upload's state as JSON, for clients and the photo endpoint."""
        upload = upload_get(user=request.user, upload_id=upload_id)
        return JsonResponse(
            {
                "id": str(upload.id),
                "status": upload.status,
                "offset": upload.offset,
                "length": upload.length,
                "filename": upload.filename,
                "content_type": upload.content_type,
                "sha256": upload.sha256,
                "expected_sha256": upload.expected_sha256,
                "expires_at": upload.expires_at.isoformat() if upload.status == UploadStatus.IN_PROGRESS else None,
                "created_at": upload.created_at.isoformat(),
                "completed_at": upload.completed_at.isoformat() if upload.completed_at else None,
            }
        )

    @extend_schema(
        summary="tus: append bytes at Upload-Offset",
        description="Content-Type application/offset+octet-stream. A wrong offset → 409 offset_mismatch, "
        "nothing written; a bad Upload-Checksum → 460 checksum_mismatch, the offset does not move; the last "
        "byte checks the whole file's sha256 (460 sha256_mismatch, nothing kept).",
        parameters=[
            TUS_RESUMABLE,
            _header("Upload-Offset", "Where these bytes start.", required=True),
            _header("Upload-Checksum", "`sha1 <base64>` or `sha256 <base64>` of this chunk."),
        ],
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        responses={204: OpenApiResponse(description="Upload-Offset: the new offset.")},
    )
    def patch(self, request, upload_id):
        content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            raise ApplicationError(
                f"Content-Type must be {OFFSET_CONTENT_TYPE}.", code="unsupported_media_type", status=415
            )
        offset = parse_header_int("Upload-Offset", request.headers.get("Upload-Offset"))
        checksum = parse_checksum(request.headers.get("Upload-Checksum"))
        raw_length = request.headers.get("Content-Length")
        content_length = parse_non_negative_int(raw_length) if raw_length else None
        upload = upload_append(
            upload_id=upload_id,
            by=request.user,
            offset=offset,
            body=request._request,  # the raw WSGI stream, read in pieces by the service
            content_length=content_length,
            checksum=checksum,
        )
        response = HttpResponse(status=204)
        response["Upload-Offset"] = str(upload.offset)
        for name, value in _expires_header(upload).items():
            response[name] = value
        return response

    @extend_schema(
        summary="tus termination: discard the upload and its bytes",
        parameters=[TUS_RESUMABLE],
        request=None,
        responses={204: None},
    )
    def delete(self, request, upload_id):
        upload_terminate(upload_id=upload_id, by=request.user)
        return HttpResponse(status=204)
