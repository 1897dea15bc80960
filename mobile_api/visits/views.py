"""Vehicle visits (直通车上门服务) and vehicle tracks over HTTP. Rules live in backend.visits.services."""

import datetime as dt
import re

import django_filters
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.common.errors import ApplicationError, ValidationFailed
from backend.visits.models import Vehicle, Visit, VisitStatus
from backend.visits.selectors import vehicle_track_feature, vehicles_visible_to, visit_records_page, visits_visible_to
from backend.visits.services import vehicle_track_append, visit_transition
from mobile_api.geometry import COORD_SYSTEM_HEADER
from mobile_api.pagination import LimitOffsetPagination
from mobile_api.records.idempotency import idempotent
from mobile_api.records.views import (
    IDEMPOTENCY_KEY,
    X_COORD_SYSTEM,
    FieldRecordViewSet,
    device_id_of,
    optional_if_match,
    record_response,
)
from mobile_api.visits.serializers import (
    CancelSerializer,
    TrackBatchResultSerializer,
    TrackBatchSerializer,
    TransitionSerializer,
    VehicleSerializer,
    VisitSerializer,
)

IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional on actions: the record\'s ETag (e.g. "3"); stale → 412 version_mismatch.',
)
TRACK_RANGE = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description="ISO 8601 with offset."),
    OpenApiParameter("to", OpenApiTypes.DATETIME, required=True, description="At most 7 days after `from`."),
]
TRACK_FEATURE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="GeoJSON Feature: LineString of the positions ordered by time (null with fewer than two); "
    "properties vehicle, plate, from, to, point_count, started_at, ended_at, length_m.",
)

# "+08:00" arrives as " 08:00" when a client forgets to percent-encode the query string.
_UNENCODED_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")


def _query_datetime(request: Request, name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_datetime(_UNENCODED_OFFSET.sub(r"+\1", raw.strip()))
    if value is None or value.tzinfo is None:
        raise ValidationFailed(
            f"{name} is not an ISO 8601 timestamp with offset.",
            code="validation_error",
            errors={name: ["An ISO 8601 timestamp with offset, e.g. 2026-03-02T09:00:00+08:00."]},
        )
    return value


class VisitFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    vehicle = django_filters.UUIDFilter(field_name="vehicle_id")
    status = django_filters.ChoiceFilter(choices=VisitStatus.choices)
    scheduled_after = django_filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="gte")
    scheduled_before = django_filters.IsoDateTimeFilter(field_name="scheduled_for", lookup_expr="lt")

    class Meta:
        model = Visit
        fields = ["case", "vehicle", "status"]


class VehicleFilter(django_filters.FilterSet):
    team = django_filters.UUIDFilter(field_name="team_id")

    class Meta:
        model = Vehicle
        fields = ["team", "is_active"]


class VisitViewSet(FieldRecordViewSet):
    """Visits of the approval-service vehicle to a key project's site.

    Status: booked → en_route (`POST {id}/depart`) → on_site (`POST {id}/arrive`, also straight from
    booked) → completed (`POST {id}/complete`); `POST {id}/cancel {reason?}` before arrival.
    `GET {id}/records/` lists the records made during the visit: the case's records created between
    arrival and completion by the vehicle team or a team member named in `team`.
    `GET {id}/track/` is the vehicle's track from departure (or arrival) to completion (or now).
    """

    serializer_class = VisitSerializer
    selector = staticmethod(visits_visible_to)
    record_type = "visit"
    filterset_class = VisitFilter

    def _transition(self, request: Request, to: str) -> Response:
        visit = self.get_object()
        serializer = (CancelSerializer if to == VisitStatus.CANCELLED else TransitionSerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = visit_transition(
            visit=visit,
            to=to,
            by=request.user,
            reason=serializer.validated_data.get("reason", ""),
            at=serializer.validated_data.get("at"),
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(updated).data, updated.version)

    @extend_schema(
        request=TransitionSerializer, responses=VisitSerializer, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL]
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def depart(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, VisitStatus.EN_ROUTE)

    @extend_schema(
        request=TransitionSerializer, responses=VisitSerializer, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL]
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def arrive(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, VisitStatus.ON_SITE)

    @extend_schema(
        request=TransitionSerializer, responses=VisitSerializer, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL]
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def complete(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, VisitStatus.COMPLETED)

    @extend_schema(request=CancelSerializer, responses=VisitSerializer, parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL])
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, VisitStatus.CANCELLED)

    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses=inline_serializer(
            "VisitRecordsPage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": inline_serializer(
                    "VisitRecord",
                    {
                        "type": serializers.CharField(),
                        "id": serializers.UUIDField(),
                        "created_at": serializers.DateTimeField(),
                        "created_by": serializers.UUIDField(allow_null=True),
                        "version": serializers.IntegerField(),
                    },
                    many=True,
                ),
            },
        ),
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def records(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        paginator = LimitOffsetPagination()
        limit, offset = paginator.get_limit(request), paginator.get_offset(request)
        total, entries = visit_records_page(visit=visit, user=request.user, offset=offset, limit=limit)
        paginator.count, paginator.limit, paginator.offset, paginator.request = total, limit, offset, request
        return paginator.get_paginated_response(
            [
                {
                    "type": name,
                    "id": str(record.pk),
                    "created_at": record.created_at.isoformat(),
                    "created_by": str(record.created_by_id) if record.created_by_id else None,
                    "version": record.version,
                }
                for name, record in entries
            ]
        )

    @extend_schema(responses={200: TRACK_FEATURE, 409: OpenApiResponse(description="`visit_not_started`")})
    @action(detail=True, methods=["get"], filterset_class=None)
    def track(self, request: Request, pk: str | None = None) -> Response:
        visit = self.get_object()
        start = visit.departed_at or visit.started_at
        if start is None:
            raise ApplicationError("The vehicle has not left for this visit yet.", code="visit_not_started", status=409)
        return Response(vehicle_track_feature(vehicle=visit.vehicle, start=start, end=visit.ended_at or timezone.now()))


class VehicleViewSet(viewsets.ReadOnlyModelViewSet):
    """Service vehicles: a vehicle team sees its own, officials and administrators all.

    `POST {id}/track/ {"positions": [{recorded_at, lon, lat, speed?, heading?, accuracy?}, …]}`
    (at most 10 000; the vehicle's team only; `X-Coord-System` honoured) stores a batch; positions
    already stored for the same time are counted as duplicates, never stored twice.
    `GET {id}/track/?from=&to=` (at most 7 days) returns the path as a GeoJSON Feature.
    """

    serializer_class = VehicleSerializer
    filterset_class = VehicleFilter

    def get_queryset(self):
        return vehicles_visible_to(user=self.request.user)

    @extend_schema(methods=["GET"], parameters=TRACK_RANGE, responses={200: TRACK_FEATURE})
    @extend_schema(
        methods=["POST"],
        request=TrackBatchSerializer,
        responses={200: TrackBatchResultSerializer},
        parameters=[X_COORD_SYSTEM],
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def track(self, request: Request, pk: str | None = None) -> Response:
        vehicle = self.get_object()
        if request.method == "POST":
            body = request.data if isinstance(request.data, dict) else {}
            result = vehicle_track_append(
                vehicle=vehicle,
                positions=body.get("positions"),
                by=request.user,
                coord_system=request.headers.get(COORD_SYSTEM_HEADER),
            )
            return Response(result)
        return Response(
            vehicle_track_feature(
                vehicle=vehicle, start=_query_datetime(request, "from"), end=_query_datetime(request, "to")
            )
        )
