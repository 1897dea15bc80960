"""Vehicle visits (直通车上门服务) and vehicle tracks over HTTP. Rules live in backend.visits.services."""

import datetime as dt
import re

import django_filters
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.common.errors import ApplicationError, ValidationFailed
from backend.visits.bookings import (
    booking_request_confirm,
    booking_request_decline,
    booking_require_staff,
    service_plan_create,
)
from backend.visits.models import BookingRequest, BookingRequestStatus, ServicePlan, Vehicle, Visit, VisitStatus
from backend.visits.selectors import (
    booking_requests_visible_to,
    service_plans_visible_to,
    vehicle_availability,
    vehicle_track_feature,
    vehicles_for_availability,
    vehicles_visible_to,
    visit_records_page,
    visits_visible_to,
)
from backend.visits.services import parse_timestamp, vehicle_track_append, visit_transition
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, ProblemSerializer
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
    AvailabilityWindowSerializer,
    BookingConfirmSerializer,
    BookingDeclineSerializer,
    BookingRequestSerializer,
    CancelSerializer,
    RescheduleSerializer,
    ServicePlanSerializer,
    TrackBatchResultSerializer,
    TrackBatchSerializer,
    TransitionSerializer,
    VehicleSerializer,
    VisitSerializer,
)


class VehicleBookedProblemSerializer(ProblemSerializer):
    """409 `vehicle_booked`: the problem, and the visit that holds the time."""

    clashing_visit = inline_serializer(
        "ClashingVisit",
        {
            "id": serializers.UUIDField(),
            "vehicle": serializers.UUIDField(),
            "scheduled_for": serializers.DateTimeField(),
            "scheduled_until": serializers.DateTimeField(),
            "status": serializers.CharField(),
        },
        required=False,
    )


VEHICLE_BOOKED = OpenApiResponse(
    VehicleBookedProblemSerializer,
    description="`vehicle_booked`: the vehicle is booked for part of the time (`clashing_visit` names the visit); "
    "also `id_conflict`, `record_locked`, `visit_started`, `visit_finished`.",
)
CONFLICT_409 = {(409, PROBLEM_CONTENT_TYPE): VEHICLE_BOOKED}

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
    value = parse_timestamp(_UNENCODED_OFFSET.sub(r"+\1", raw.strip()))
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


@extend_schema_view(
    create=extend_schema(responses={201: VisitSerializer, **CONFLICT_409}),
    update=extend_schema(responses={200: VisitSerializer, **CONFLICT_409}),
    partial_update=extend_schema(responses={200: VisitSerializer, **CONFLICT_409}),
)
class VisitViewSet(FieldRecordViewSet):
    """Visits of the approval-service vehicle to a key project's site.

    A visit books its vehicle from `scheduled_for` for `duration_minutes` (to `scheduled_until`);
    one vehicle is never booked twice for overlapping times (409 `vehicle_booked` naming the
    clashing visit), on create, on PATCH/PUT and on `POST {id}/reschedule`, as over sync push.

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
        request=RescheduleSerializer,
        responses={200: VisitSerializer, **CONFLICT_409},
        parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reschedule(self, request: Request, pk: str | None = None) -> Response:
        """Move a booked visit to another time (and duration or vehicle): the record type's update."""
        visit = self.get_object()
        serializer = RescheduleSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        updated = (
            type(self)
            .services()
            .update(
                instance=visit,
                changes=dict(serializer.validated_data),
                by=request.user,
                device_id=device_id_of(request),
                expected_version=optional_if_match(request),
            )
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
        if self.action == "availability":
            return vehicles_for_availability(user=self.request.user)
        return vehicles_visible_to(user=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, required=True, description="ISO 8601 with offset."),
            OpenApiParameter("to", OpenApiTypes.DATETIME, required=True, description="At most 31 days after `from`."),
        ],
        responses={
            200: inline_serializer(
                "VehicleAvailability",
                {
                    "vehicle": serializers.UUIDField(),
                    "plate": serializers.CharField(),
                    "from": serializers.DateTimeField(),
                    "to": serializers.DateTimeField(),
                    "time_zone": serializers.CharField(),
                    "working_hours": serializers.CharField(help_text="HH:MM-HH:MM on working days."),
                    "windows": AvailabilityWindowSerializer(many=True),
                },
            ),
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="`calendar_horizon`: the range reaches past the working-day calendar."
            ),
        },
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def availability(self, request: Request, pk: str | None = None) -> Response:
        """Free and booked windows in [from, to) (at most 31 days), in time order.

        Free: the working hours (VISIT_WORKING_HOURS, e.g. 08:30-17:30 Asia/Shanghai) of working
        days on the national calendar (holidays are not free), minus bookings. Booked: every visit
        not cancelled; `visit` names it to those who may see that visit (the vehicle's team, staff,
        administrators, the builder of its case), to anyone else (other builders) it is just busy.
        """
        vehicle = self.get_object()
        return Response(
            vehicle_availability(
                vehicle=vehicle,
                user=request.user,
                start=_query_datetime(request, "from"),
                end=_query_datetime(request, "to"),
            )
        )

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


class BookingRequestFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    status = django_filters.ChoiceFilter(choices=BookingRequestStatus.choices)

    class Meta:
        model = BookingRequest
        fields = ["case", "status", "channel"]


@extend_schema_view(
    update=extend_schema(
        responses={
            200: BookingRequestSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="`booking_request_decided`, `record_locked`"
            ),
        }
    ),
    partial_update=extend_schema(
        responses={
            200: BookingRequestSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="`booking_request_decided`, `record_locked`"
            ),
        }
    ),
)
class BookingRequestViewSet(FieldRecordViewSet):
    """Booking requests for the vehicle (直通车预约申请).

    A builder files one for its own key project's case (`channel` wechat); the service's staff
    (approval officials, administrators) file one on its behalf (`channel` phone or wechat).
    Staff change or withdraw (DELETE) a pending request, `POST {id}/confirm {vehicle,
    scheduled_for? | window?, duration_minutes?}` books the visit (409 `vehicle_booked`, nothing
    written), `POST {id}/decline {reason}` declines it. Builder and staff are notified each time.
    """

    serializer_class = BookingRequestSerializer
    selector = staticmethod(booking_requests_visible_to)
    record_type = "booking_request"
    filterset_class = BookingRequestFilter

    @extend_schema(
        request=BookingConfirmSerializer,
        responses={200: BookingRequestSerializer, **CONFLICT_409},
        parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        booking = self.get_object()
        booking_require_staff(request.user)  # before any other answer: 403, not 400
        serializer = BookingConfirmSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        confirmed = booking_request_confirm(
            request=booking,
            by=request.user,
            vehicle=data["vehicle"],
            scheduled_for=data.get("scheduled_for"),
            window=data.get("window"),
            duration_minutes=data.get("duration_minutes"),
            team=data.get("team"),
            remarks=data.get("remarks", ""),
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(confirmed).data, confirmed.version)

    @extend_schema(
        request=BookingDeclineSerializer,
        responses=BookingRequestSerializer,
        parameters=[IDEMPOTENCY_KEY, IF_MATCH_OPTIONAL],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def decline(self, request: Request, pk: str | None = None) -> Response:
        booking = self.get_object()
        booking_require_staff(request.user)  # before any other answer: 403, not 400
        serializer = BookingDeclineSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        declined = booking_request_decline(
            request=booking,
            by=request.user,
            reason=serializer.validated_data["reason"],
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(declined).data, declined.version)


class ServicePlanFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    vehicle = django_filters.UUIDFilter(field_name="vehicle_id")

    class Meta:
        model = ServicePlan
        fields = ["case", "vehicle"]


class ServicePlanViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Monthly service plans of key projects (服务计划).

    `POST {case, vehicle, month: "YYYY-MM", rule, purpose, duration_minutes?, site?, team?}` books
    every visit the rule gives in the month, each clash-checked on its own: `occurrences` reports
    each as `booked` (with its `visit`), `clash` (with the `clashing_visit`), `not_workday`
    (a weekend or holiday of the national calendar) or `past`; the others are booked regardless.
    Invalid input refuses the whole plan (nothing booked).
    """

    serializer_class = ServicePlanSerializer
    filterset_class = ServicePlanFilter

    def get_queryset(self):
        return service_plans_visible_to(user=self.request.user)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: ServicePlanSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="`calendar_horizon`: the month is past the working-day calendar."
            ),
        },
    )
    @idempotent
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        plan = service_plan_create(by=request.user, **data)
        return Response(self.get_serializer(plan).data, status=status.HTTP_201_CREATED)
