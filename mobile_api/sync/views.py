"""`sync/push`, `sync/pull`, and the back office's list of sync conflicts."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.errors import ApplicationError, NotFound, ValidationFailed
from backend.records.models import FieldRecord
from backend.records.registry import RECORD_TYPES
from backend.sync.models import ConflictResolution, ConflictStatus, SyncConflict
from backend.sync.selectors import conflicts_visible_to
from backend.sync.services import sync_attachments_reconcile, sync_conflict_resolve
from mobile_api.exceptions import PROBLEM_RESPONSES
from mobile_api.records.views import device_id_of
from mobile_api.sync.pull import parse_case, parse_cursor, parse_limit, parse_types, pull_page
from mobile_api.sync.push import OperationSerializer, check_push_body, push_operations
from mobile_api.sync.registry import sync_type_get
from mobile_api.sync.scans import MaterialScanViewSet  # noqa: F401 - registers the material_scan viewset


class PushRequestSerializer(serializers.Serializer):
    device_id = serializers.CharField(required=False)
    operations = OperationSerializer(many=True)


class ReceiptSerializer(serializers.Serializer):
    # A rejected operation's op_id and type are echoed as sent, or null when they were not sent.
    op_id = serializers.CharField(allow_null=True, help_text="The operation's op_id (a UUID unless rejected).")
    type = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["applied", "duplicate", "merged", "conflict", "rejected"])
    id = serializers.UUIDField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    code = serializers.CharField(required=False, help_text="Why it was rejected or conflicts.")
    errors = serializers.DictField(required=False)
    server = serializers.DictField(required=False, help_text="The server's record (conflict, record_locked).")
    fields = serializers.ListField(child=serializers.CharField(), required=False, help_text="Conflicting fields.")
    original_status = serializers.CharField(required=False, help_text="On duplicate: the first receipt's status.")
    missing_attachments = serializers.ListField(child=serializers.CharField())


class PushResponseSerializer(serializers.Serializer):
    receipts = ReceiptSerializer(many=True)


class PushView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Push a batch of offline operations; one receipt per operation, in order",
        request=PushRequestSerializer,
        responses={200: PushResponseSerializer, **PROBLEM_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > settings.SYNC_MAX_BODY_BYTES:
            raise ApplicationError(
                f"The push body is larger than {settings.SYNC_MAX_BODY_BYTES} bytes; send fewer operations.",
                code="payload_too_large",
                status=413,
                extra={"max_bytes": settings.SYNC_MAX_BODY_BYTES},
            )
        device_id, operations = check_push_body(request.data, settings.SYNC_MAX_OPERATIONS)
        device_id = device_id or device_id_of(request)
        # Operations commit in chunks, each operation in its own savepoint: one bad operation never
        # undoes another, and a crash loses at most the uncommitted chunk, whose receipts the device
        # never saw, so its retry applies them once. Committing every operation alone would cap the
        # device's push at one operation per commit latency.
        receipts = push_operations(
            raws=operations, request=request, device_id=device_id, chunk=settings.SYNC_COMMIT_EVERY
        )
        return Response({"receipts": receipts})


class ChangeSerializer(serializers.Serializer):
    type = serializers.CharField(
        help_text="A sync type, or `case_access`: the caller was given the case; pull it with `?case=<id>`."
    )
    id = serializers.UUIDField()
    version = serializers.IntegerField()
    deleted = serializers.BooleanField()
    data = serializers.DictField()
    complete = serializers.BooleanField(help_text="Every declared photo and signature image has arrived.")
    missing_attachments = serializers.ListField(child=serializers.CharField())


class PullResponseSerializer(serializers.Serializer):
    changes = ChangeSerializer(many=True)
    cursor = serializers.CharField(help_text="Opaque; send it back to get what changed after.")
    has_more = serializers.BooleanField()


class PullView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="What changed after a cursor, in commit order, with tombstones",
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="Empty for everything."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Changes per page (max 1000, default 500)."),
            OpenApiParameter("types", OpenApiTypes.STR, description="Comma-separated sync types; default all."),
            OpenApiParameter(
                "case",
                OpenApiTypes.UUID,
                description="Only this case's records (after a `case_access` change, from an empty cursor).",
            ),
        ],
        responses={200: PullResponseSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        # Files that arrived by a path that did not report them complete their records now.
        sync_attachments_reconcile()
        # The page's JSON as pull_page assembled it from each change's JSON (never parsed and
        # encoded again here); the same JSON the schema's PullResponseSerializer describes.
        page = pull_page(
            request=request,
            cursor=parse_cursor(params.get("cursor")),
            limit=parse_limit(params.get("limit")),
            types=parse_types(params.get("types")),
            case_id=parse_case(params.get("case")),
        )
        return HttpResponse(page.body, content_type="application/json")


class ConflictSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="record_type", read_only=True)
    case = serializers.UUIDField(source="case_id", read_only=True)
    pushed_by = serializers.CharField(source="pushed_by.username", default=None, read_only=True)
    resolved_by = serializers.CharField(source="resolved_by.username", default=None, read_only=True)

    class Meta:
        model = SyncConflict
        fields = [
            "id",
            "type",
            "record_id",
            "case",
            "op_id",
            "device_id",
            "pushed_by",
            "base_version",
            "server_version",
            "fields",
            "client_data",
            "server_data",
            "status",
            "resolution",
            "resolved_by",
            "resolved_at",
            "resolved_version",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=ConflictResolution.choices)
    data = serializers.DictField(required=False, help_text="With `edit`: the values to write (REST field names).")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ConflictViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sync conflicts: the back office sees those of its cases, a device user their own.

    Filter with `?case=<id>` and `?status=open|resolved`.
    """

    serializer_class = ConflictSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        qs = conflicts_visible_to(user=self.request.user).select_related("pushed_by", "resolved_by")
        params = self.request.query_params
        if params.get("case"):
            try:
                qs = qs.filter(case_id=serializers.UUIDField().to_internal_value(params["case"]))
            except serializers.ValidationError as error:
                raise ValidationFailed("case must be a UUID.", errors={"case": ["Expected a UUID."]}) from error
        if params.get("status"):
            if params["status"] not in ConflictStatus.values:
                raise ValidationFailed("Unknown status.", errors={"status": ["open or resolved."]})
            qs = qs.filter(status=params["status"])
        return qs.order_by("created_at", "id")

    @extend_schema(
        summary="Resolve a conflict: keep the server's values, take the device's, or edit",
        request=ResolveSerializer,
        responses={200: ConflictSerializer, **PROBLEM_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        conflict = self.get_object()
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        resolution = body.validated_data["resolution"]
        sync_type = sync_type_get(conflict.record_type)
        if sync_type is None:
            raise ApplicationError("This record type cannot be changed here.", code="unsupported_type", status=409)
        view = sync_type.view(request, "partial_update")

        def apply() -> FieldRecord | None:
            record = view.get_queryset().filter(pk=conflict.record_id).first()
            if record is None:
                raise NotFound("The record no longer exists.")
            if resolution == ConflictResolution.EDIT:
                if not body.validated_data.get("data"):
                    raise ValidationFailed("Give the values to write.", errors={"data": ["Required with edit."]})
                data = body.validated_data["data"]
            else:
                data = conflict.client_data
            return _apply_changes(view=view, record=record, data=data, request=request)

        with transaction.atomic():
            resolved = sync_conflict_resolve(
                conflict=conflict,
                resolution=resolution,
                by=request.user,
                apply=apply,
                note=body.validated_data.get("note", ""),
            )
        return Response(self.get_serializer(resolved).data)


def _apply_changes(*, view: Any, record: FieldRecord, data: dict[str, Any], request: Request) -> FieldRecord:
    data = {k: v for k, v in data.items() if k != "id"}
    serializer = view.get_serializer(record, data=data, partial=True)
    serializer.is_valid(raise_exception=True)
    changes = {k: v for k, v in serializer.validated_data.items() if k != "id"}
    update = RECORD_TYPES[type(view).record_type].update
    if update is None:
        raise ApplicationError("This record type cannot be changed here.", code="unsupported_type", status=409)
    return update(
        instance=record, changes=changes, by=request.user, device_id=device_id_of(request), expected_version=None
    )
