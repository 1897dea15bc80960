"""Coordination meetings (`meetings/`), their participants (`meeting-participants/`) and decisions
(`meeting-decisions/`). Record behaviour from FieldRecordViewSet; every rule in backend.meetings.services."""

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.meetings import services
from backend.meetings.models import Meeting, MeetingDecision, MeetingKind, MeetingParticipant, MeetingStatus
from backend.meetings.selectors import (
    meeting_decisions_visible_to,
    meeting_participants_visible_to,
    meetings_visible_to,
)
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, ProblemSerializer
from mobile_api.meetings.serializers import (
    MeetingDecisionSerializer,
    MeetingHoldSerializer,
    MeetingParticipantSerializer,
    MeetingSerializer,
)
from mobile_api.records.idempotency import idempotent
from mobile_api.records.views import (
    IDEMPOTENCY_KEY,
    FieldRecordViewSet,
)
from mobile_api.surveys.serializers import ReasonSerializer

OPTIONAL_IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional on actions: the record\'s ETag (e.g. "3"); a stale one → 412 version_mismatch.',
)
_CONFLICT = {
    (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="illegal_transition, record_locked")
}


class MeetingFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(method="filter_case", label="Meetings of the case (convening or further).")
    finding = django_filters.UUIDFilter(method="filter_finding", label="Meetings that took the finding up.")
    status = django_filters.MultipleChoiceFilter(choices=MeetingStatus.choices)
    kind = django_filters.MultipleChoiceFilter(choices=MeetingKind.choices)

    class Meta:
        model = Meeting
        fields = ["case", "finding", "status", "kind"]

    def filter_case(self, queryset, name, value):
        return queryset.of_case(value)

    def filter_finding(self, queryset, name, value):
        return queryset.filter(findings__contains=[value])


class MeetingParticipantFilter(django_filters.FilterSet):
    meeting = django_filters.UUIDFilter(field_name="meeting_id")
    department = django_filters.UUIDFilter(field_name="department_id")

    class Meta:
        model = MeetingParticipant
        fields = ["meeting", "department"]


class MeetingDecisionFilter(django_filters.FilterSet):
    meeting = django_filters.UUIDFilter(field_name="meeting_id")
    case = django_filters.UUIDFilter(field_name="case_id")
    finding = django_filters.UUIDFilter(field_name="finding_id")

    class Meta:
        model = MeetingDecision
        fields = ["meeting", "case", "finding"]


class MeetingViewSet(FieldRecordViewSet):
    """Coordination meetings (协调会 / 联席会议) of one or more cases.

    Lifecycle: scheduled → held (`hold`) → closed (`close`, needs minutes); scheduled → cancelled
    (`cancel`, with a reason; lets the findings go). Filters: `?case=` (convening or further),
    `?finding=`, `?status=`, `?kind=`.
    """

    serializer_class = MeetingSerializer
    selector = staticmethod(meetings_visible_to)
    record_type = "meeting"
    filterset_class = MeetingFilter

    @extend_schema(
        request=MeetingHoldSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
        responses={200: MeetingSerializer, **_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def hold(self, request: Request, pk: str | None = None) -> Response:
        """scheduled → held: the meeting took place; its decisions may now be recorded."""
        return self.run_action(request, MeetingHoldSerializer, services.meeting_hold, keyword="meeting")

    @extend_schema(
        request=None, parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH], responses={200: MeetingSerializer, **_CONFLICT}
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def close(self, request: Request, pk: str | None = None) -> Response:
        """held → closed (archived); 400 `minutes_required` without minutes."""
        return self.run_action(request, None, services.meeting_close, keyword="meeting")

    @extend_schema(
        request=ReasonSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
        responses={200: MeetingSerializer, **_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """scheduled → cancelled; `reason` required (400 `reason_required`)."""
        return self.run_action(request, ReasonSerializer, services.meeting_cancel, keyword="meeting")


class MeetingParticipantViewSet(FieldRecordViewSet):
    """Departments and people asked to a meeting, attended or not. Filters: `?meeting=`, `?department=`."""

    serializer_class = MeetingParticipantSerializer
    selector = staticmethod(meeting_participants_visible_to)
    record_type = "meeting_participant"
    filterset_class = MeetingParticipantFilter


class MeetingDecisionViewSet(FieldRecordViewSet):
    """Decisions (议定事项) of held meetings; `resolves_finding` resolves the finding it names.
    Filters: `?meeting=`, `?case=`, `?finding=`."""

    serializer_class = MeetingDecisionSerializer
    selector = staticmethod(meeting_decisions_visible_to)
    record_type = "meeting_decision"
    filterset_class = MeetingDecisionFilter
