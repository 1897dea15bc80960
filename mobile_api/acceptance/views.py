"""Joint acceptance over HTTP: inspections, their items, rectifications, and the catalogue.

Every rule lives in backend.acceptance.services; these views parse, call one service, render.
"""

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response

from backend.acceptance.models import (
    AcceptanceStage,
    Inspection,
    InspectionItem,
    InspectionResult,
    InspectionStatus,
    RectificationItem,
    RectificationStatus,
)
from backend.acceptance.selectors import (
    catalogue_items,
    inspection_items_visible_to,
    inspections_visible_to,
    rectifications_visible_to,
)
from backend.acceptance.services import (
    inspection_item_record_result,
    inspection_reinspect,
    inspection_reopen,
    rectification_transition,
)
from backend.common.errors import Conflict
from backend.records.services import payload_digest, record_check_can_reopen
from mobile_api.acceptance.serializers import (
    CatalogueItemSerializer,
    InspectionItemSerializer,
    InspectionSerializer,
    RecordResultSerializer,
    RectificationSerializer,
    ReinspectSerializer,
)
from mobile_api.records.idempotency import idempotent
from mobile_api.records.views import (
    IDEMPOTENCY_KEY,
    FieldRecordViewSet,
    device_id_of,
    optional_if_match,
    record_response,
)

IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional on actions: the record\'s ETag (e.g. "3"); stale → 412 version_mismatch.',
)


class InspectionFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    stage = django_filters.TypedChoiceFilter(choices=AcceptanceStage.choices, coerce=int)
    status = django_filters.ChoiceFilter(choices=InspectionStatus.choices)
    reinspection_of = django_filters.UUIDFilter(field_name="reinspection_of_id")

    class Meta:
        model = Inspection
        fields = ["case", "stage", "status", "reinspection_of"]


class InspectionItemFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    inspection = django_filters.UUIDFilter(field_name="inspection_id")
    department = django_filters.UUIDFilter(field_name="department_id")
    result = django_filters.ChoiceFilter(choices=InspectionResult.choices)

    class Meta:
        model = InspectionItem
        fields = ["case", "inspection", "department", "result"]


class RectificationFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    inspection_item = django_filters.UUIDFilter(field_name="inspection_item_id")
    status = django_filters.ChoiceFilter(choices=RectificationStatus.choices)

    class Meta:
        model = RectificationItem
        fields = ["case", "inspection_item", "status"]


class InspectionViewSet(FieldRecordViewSet):
    """Joint acceptance inspections (竣工联合验收), one stage each.

    Create with `{case, site?, stage, scheduled_at?, departments?: {code: org id}, item_codes?}`:
    the stage's catalogue rows become the items (`inspection-items/?inspection=`). `status` and
    `results_complete` are kept by the server. `POST {id}/reinspect` schedules a re-inspection
    (复验) of the failed items; a signed inspection is locked until `POST {id}/reopen`.
    """

    serializer_class = InspectionSerializer
    selector = staticmethod(inspections_visible_to)
    record_type = "inspection"
    filterset_class = InspectionFilter

    @extend_schema(
        parameters=[OpenApiParameter("stage", int, enum=[1, 2])],
        responses=CatalogueItemSerializer(many=True),
    )
    @action(detail=False, methods=["get"], filterset_class=None)
    def catalogue(self, request: Request) -> Response:
        """The acceptance catalogue: the matters of each stage and their default departments."""
        rows = catalogue_items()
        stage = request.query_params.get("stage")
        if stage in ("1", "2"):
            rows = rows.filter(stage=int(stage))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(CatalogueItemSerializer(page, many=True).data)

    @extend_schema(request=ReinspectSerializer, responses=InspectionSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def reinspect(self, request: Request, pk: str | None = None) -> Response:
        """A re-inspection of the failed items whose rectifications are fixed; 201, or 200 on a replayed `id`."""
        inspection = self.get_object()
        serializer = ReinspectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reinspection, created = inspection_reinspect(
            inspection=inspection,
            by=request.user,
            scheduled_at=serializer.validated_data.get("scheduled_at"),
            device_id=device_id_of(request),
            record_id=serializer.validated_data.get("id"),
            digest=payload_digest(
                {"reinspection_of": str(inspection.pk), **(request.data if isinstance(request.data, dict) else {})}
            ),
        )
        return record_response(
            self.get_serializer(reinspection).data,
            reinspection.version,
            status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Unlock a signed inspection with its items and rectifications; signatures are voided."""
        instance = self.get_object()
        record_check_can_reopen(user=request.user)  # before any other answer: 403, not 400
        reopened = inspection_reopen(
            inspection=instance,
            by=request.user,
            reason=str(request.data.get("reason", "")) if isinstance(request.data, dict) else "",
            device_id=device_id_of(request),
        )
        return record_response(self.get_serializer(reopened).data, reopened.version)


class InspectionItemViewSet(FieldRecordViewSet):
    """Per-department acceptance items. They are created with their inspection, never alone.

    The department records its result with `POST {id}/record {result, remarks?}` (Idempotency-Key;
    If-Match optional) or `PATCH {id}` with If-Match; only the item's department (or an
    administrator) may, others get 403 (or 404 when they cannot see the item).
    """

    serializer_class = InspectionItemSerializer
    selector = staticmethod(inspection_items_visible_to)
    record_type = "inspection_item"
    filterset_class = InspectionItemFilter

    @extend_schema(exclude=True)  # not an operation clients have: no schema for it
    def create(self, request: Request, *args, **kwargs) -> Response:
        raise MethodNotAllowed("POST", detail="Items are created with their inspection.")

    @extend_schema(exclude=True)
    def destroy(self, request: Request, *args, **kwargs) -> Response:
        raise MethodNotAllowed("DELETE", detail="Items are withdrawn with their inspection.")

    @extend_schema(
        request=RecordResultSerializer,
        responses=InspectionItemSerializer,
        parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def record(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        serializer = RecordResultSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = inspection_item_record_result(
            item=item,
            result=serializer.validated_data["result"],
            remarks=serializer.validated_data.get("remarks"),
            by=request.user,
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(updated).data, updated.version)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Items are reopened with their inspection (`POST inspections/{id}/reopen`)."""
        self.get_object()
        raise Conflict("Reopen the inspection; its items follow it.", code="reopen_inspection")


class RectificationViewSet(FieldRecordViewSet):
    """Rectification items (整改) of a failed inspection item: open → fixed → verified.

    The item's department creates them; `POST {id}/fix` (the department, the acceptance team or
    the builder), `POST {id}/verify` and `POST {id}/reject` (the department: fixed → open).
    """

    serializer_class = RectificationSerializer
    selector = staticmethod(rectifications_visible_to)
    record_type = "rectification"
    filterset_class = RectificationFilter

    def _transition(self, request: Request, to: str) -> Response:
        rectification = self.get_object()
        updated = rectification_transition(
            rectification=rectification,
            to=to,
            by=request.user,
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(updated).data, updated.version)

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL])
    @action(detail=True, methods=["post"])
    @idempotent
    def fix(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, RectificationStatus.FIXED)

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL])
    @action(detail=True, methods=["post"])
    @idempotent
    def verify(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, RectificationStatus.VERIFIED)

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL])
    @action(detail=True, methods=["post"])
    @idempotent
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, RectificationStatus.OPEN)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Rectifications are reopened with their inspection (`POST inspections/{id}/reopen`)."""
        self.get_object()
        raise Conflict("Reopen the inspection; its rectifications follow it.", code="reopen_inspection")
