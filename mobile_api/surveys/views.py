"""Joint site surveys (`surveys/`), their participants (`survey-participants/`) and findings (`findings/`).

The shared record behaviour (client ids, ETag/If-Match, locks, reopen) comes from
FieldRecordViewSet; every rule lives in backend.surveys.services.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.surveys import services
from backend.surveys.selectors import findings_visible_to, survey_participants_visible_to, surveys_visible_to
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, ProblemSerializer
from mobile_api.records.idempotency import idempotent
from mobile_api.records.views import (
    IDEMPOTENCY_KEY,
    FieldRecordViewSet,
)
from mobile_api.surveys.filters import FindingFilter, SurveyFilter, SurveyParticipantFilter
from mobile_api.surveys.serializers import (
    FindingResolveSerializer,
    FindingSerializer,
    ParticipantConfirmSerializer,
    ReasonSerializer,
    SurveyIncompleteSerializer,
    SurveyParticipantSerializer,
    SurveySerializer,
    SurveyStartSerializer,
    SurveySubmitSerializer,
)

OPTIONAL_IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional on actions: the record\'s ETag (e.g. "3"); a stale one → 412 version_mismatch.',
)

_CONFLICT = {
    (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
        ProblemSerializer, description="illegal_transition, record_locked, survey_incomplete"
    )
}


class SurveyViewSet(FieldRecordViewSet):
    """Joint site surveys (联合踏勘).

    Lifecycle: scheduled → in_progress (`start`) → submitted (`submit`) → signed (by the signatures
    flow; locks the survey and its participants) → closed (`close`); scheduled or in_progress →
    cancelled (`cancel`). `reopen` puts a signed survey back to submitted and voids its signatures.
    Filters: `?case=`, `?site=`, `?status=`.
    """

    serializer_class = SurveySerializer
    selector = staticmethod(surveys_visible_to)
    record_type = "survey"
    reopen_service = staticmethod(services.survey_reopen)
    reopen_changes = staticmethod(services.survey_reopen_changes)
    filterset_class = SurveyFilter

    @extend_schema(
        request=SurveyStartSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
        responses={200: SurveySerializer, **_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def start(self, request: Request, pk: str | None = None) -> Response:
        """scheduled → in_progress: the crew is on site."""
        return self.run_action(request, SurveyStartSerializer, services.survey_start, keyword="survey")

    @extend_schema(
        request=SurveySubmitSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
        responses={
            200: SurveySerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                SurveyIncompleteSerializer, description="survey_incomplete, illegal_transition, record_locked"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """in_progress → submitted with the conclusion. Every must-attend department must have attended
        and given an opinion, or been waived with a reason; else 409 `survey_incomplete` with `missing`."""
        return self.run_action(request, SurveySubmitSerializer, services.survey_submit, keyword="survey")

    @extend_schema(
        request=ReasonSerializer, parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH], responses={200: SurveySerializer}
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """scheduled or in_progress → cancelled; `reason` required."""
        return self.run_action(request, ReasonSerializer, services.survey_cancel, keyword="survey")

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH], responses={200: SurveySerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def close(self, request: Request, pk: str | None = None) -> Response:
        """signed → closed (archived); stays locked."""
        return self.run_action(request, None, services.survey_close, keyword="survey")


class SurveyParticipantViewSet(FieldRecordViewSet):
    """Departments taking part in a survey. Changed while the survey is scheduled or in progress;
    locked with the survey when it is signed. Filters: `?survey=`, `?case=`, `?department=`."""

    serializer_class = SurveyParticipantSerializer
    selector = staticmethod(survey_participants_visible_to)
    record_type = "survey_participant"
    reopen_service = staticmethod(services.survey_participant_reopen)
    filterset_class = SurveyParticipantFilter

    @extend_schema(
        request=ParticipantConfirmSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
        responses={
            200: SurveyParticipantSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="survey_not_scheduled: the survey has started or ended"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        """Answer the survey notice before the survey: `{"attending": true}` confirms,
        `{"attending": false, "reason": …}` declines. The invited department's own users answer
        (or the case's writers, recording an answer given by phone); a new survey time asks again."""
        return self.run_action(
            request, ParticipantConfirmSerializer, services.survey_participant_confirm, keyword="participant"
        )


class FindingViewSet(FieldRecordViewSet):
    """Problems found (问题清单). Filters: `?case=`, `?survey=`, `?responsible_department=`,
    `?status=open|resolved`, `?mine=true` (my organisation's follow-up list)."""

    serializer_class = FindingSerializer
    selector = staticmethod(findings_visible_to)
    record_type = "finding"
    filterset_class = FindingFilter

    @extend_schema(
        request=FindingResolveSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
        responses={200: FindingSerializer, **_CONFLICT},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """open → resolved."""
        return self.run_action(request, FindingResolveSerializer, services.finding_resolve, keyword="finding")

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH], responses={200: FindingSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def unresolve(self, request: Request, pk: str | None = None) -> Response:
        """resolved → open again (the fix did not hold)."""
        return self.run_action(request, None, services.finding_unresolve, keyword="finding")
