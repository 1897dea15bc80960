"""Signatures over HTTP (`/api/v1/signatures/`) and the joint acceptance opinion PDF
(`/api/v1/inspections/{id}/report.pdf`). Rules live in backend.signatures.services."""

from __future__ import annotations

import django_filters
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.acceptance.report import inspection_report_pdf
from backend.acceptance.selectors import inspections_visible_to
from backend.common.errors import NotFound
from backend.signatures.models import Signature
from backend.signatures.selectors import signatures_visible_to
from backend.signatures.services import (
    FileTooLarge,
    max_image_bytes,
    signature_verify,
)
from mobile_api.evidence.views import FileRecordViewSet, serve_blob
from mobile_api.parsers import JSONParser, MultiPartParser
from mobile_api.records.views import X_COORD_SYSTEM
from mobile_api.signatures.serializers import SignatureSerializer

FORM_OVERHEAD_BYTES = 64 * 1024


class SignatureUploadHandler(TemporaryFileUploadHandler):
    """The image goes to a temporary file, and no further than SIGNATURE_IMAGE_MAX_BYTES."""

    def _too_large(self) -> FileTooLarge:
        return FileTooLarge(
            f"The signature image is larger than {max_image_bytes()} bytes.", extra={"max_bytes": max_image_bytes()}
        )

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > max_image_bytes() + FORM_OVERHEAD_BYTES:
            raise self._too_large()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received = getattr(self, "received", 0) + len(raw_data)
        if self.received > max_image_bytes():
            raise self._too_large()
        return super().receive_data_chunk(raw_data, start)


class SignatureFilter(django_filters.FilterSet):
    record_type = django_filters.CharFilter()
    record_id = django_filters.UUIDFilter()
    case = django_filters.UUIDFilter(field_name="case_id")
    status = django_filters.CharFilter()

    class Meta:
        model = Signature
        fields = ["record_type", "record_id", "case", "status"]


VERIFY_REASONS = [
    "voided",
    "unknown_key",
    "bad_signature",
    "image_changed",
    "record_deleted",
    "record_changed",
    "photo_changed",
    "photo_missing",
]
VerifySerializer = inline_serializer(
    "SignatureVerification",
    fields={
        "valid": serializers.BooleanField(),
        "reason": serializers.ChoiceField(
            choices=VERIFY_REASONS,
            allow_null=True,
            help_text="Why it is not valid (null when valid). `photo_changed` / `photo_missing`: a photo the "
            "signed content lists has other bytes in storage than its hash, or none (see `photos`).",
        ),
        "content_hash": serializers.CharField(),
        "current_hash": serializers.CharField(allow_null=True),
        "key_id": serializers.CharField(),
        "signed_at": serializers.DateTimeField(),
        "photos": serializers.ListField(
            child=inline_serializer(
                "SignatureVerificationPhoto",
                fields={
                    "sha256": serializers.CharField(),
                    "state": serializers.CharField(help_text="`changed` or `missing`."),
                },
            ),
            help_text="The signed photos whose stored bytes do not match (empty otherwise).",
        ),
    },
)


@extend_schema_view(
    create=extend_schema(
        request={"multipart/form-data": SignatureSerializer, "application/json": SignatureSerializer},
        parameters=[X_COORD_SYSTEM],
    )
)
class SignatureViewSet(FileRecordViewSet):
    """Signatures of field records, visible exactly when their record is. Never changed or
    deleted: reopening the signed record voids them (`status` `voided`)."""

    serializer_class = SignatureSerializer
    selector = staticmethod(signatures_visible_to)
    record_type = "signature"
    filterset_class = SignatureFilter
    parser_classes = [JSONParser, MultiPartParser]
    file_field = "image"
    file_hash_key = "image_sha256"
    http_method_names = ["get", "post", "head", "options"]

    def initialize_request(self, request, *args, **kwargs):
        if request.method == "POST":
            request.upload_handlers = [SignatureUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().order_by("signed_at", "id")

    def reopen(self, request: Request, pk: str | None = None) -> Response:  # not an action here
        raise MethodNotAllowed("POST")

    @extend_schema(responses=VerifySerializer)
    @action(detail=True, methods=["get"], filterset_class=None)
    def verify(self, request: Request, pk: str | None = None) -> Response:
        """Check the server's signature, recompute the record's hash and re-hash the stored bytes of
        the signature image and of every photo the signed content lists: `{valid, reason}`."""
        outcome = signature_verify(signature=self.get_object())
        return Response(
            {
                "valid": outcome["valid"],
                "reason": outcome["reason"],
                "content_hash": outcome["content_hash"],
                "current_hash": outcome["current_hash"],
                "key_id": outcome["key_id"],
                "signed_at": outcome["signed_at"].isoformat(),
                "photos": outcome["photos"],
            }
        )

    @extend_schema(responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY), 302: None})
    @action(detail=True, methods=["get"], filterset_class=None)
    def image(self, request: Request, pk: str | None = None):
        """The PNG of the handwritten signature, as the device sent it (a sandboxed download)."""
        signature = self.get_object()
        return serve_blob(
            signature.image, content_type="image/png", filename=f"{signature.pk}.png", disposition="attachment"
        )


def public_verify_url(request, *, record_type: str, record_id, content_hash: str) -> str:
    """The public page (no login) that says whether a printed document still stands."""
    try:
        path = reverse("signature-document-verify", args=[record_type, record_id, content_hash])
    except NoReverseMatch:
        # The public routes are mounted at /verify/ (backend/urls.py).
        path = f"/verify/{record_type}/{record_id}/{content_hash}/"
    return request.build_absolute_uri(path)


class InspectionReportView(APIView):
    """`GET inspections/{id}/report.pdf`: the joint acceptance opinion (联合验收意见书)."""

    def perform_content_negotiation(self, request, force=False):
        # The success body is a PDF built here; errors are problem+json whatever Accept says.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY)}, operation_id="inspection_report_pdf"
    )
    def get(self, request: Request, pk) -> HttpResponse:
        inspection = inspections_visible_to(user=request.user).filter(pk=pk).first()
        if inspection is None:
            raise NotFound("No such inspection.")
        pdf = inspection_report_pdf(
            inspection=inspection,
            verify_url_for=lambda content_hash: public_verify_url(
                request, record_type="inspection", record_id=inspection.pk, content_hash=content_hash
            ),
            generated_at=timezone.now(),
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="inspection-{inspection.pk}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response
