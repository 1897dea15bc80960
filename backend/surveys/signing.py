"""How a survey is signed (registered with the signatures app in SurveysConfig.ready).

The departments that attended sign, and the builder may; once every attending department has
signed, the submitted survey becomes signed and locks. The signed content includes the
participants (with their photos) and the findings made during the survey: the problem as found
(description, place, responsible department), not its follow-up (due date, meeting, status,
resolution), which the findings' owners keep working on after the survey is signed.
"""

from __future__ import annotations

from typing import Any

from backend.common.errors import Conflict
from backend.signatures.content import content_rows
from backend.signatures.signable import Signable, Slots
from backend.surveys.models import Finding, Survey, SurveyParticipant, SurveyStatus


def _signers(survey: Survey) -> Slots:
    required = set(
        SurveyParticipant.objects.filter(survey_id=survey.pk, attended=True).values_list("department_id", flat=True)
    )
    allowed = set(required)
    builder_id = survey.case.project.builder_id
    if builder_id is not None:
        allowed.add(builder_id)
    return allowed, required


def _check_ready(survey: Survey) -> None:
    if survey.status not in (SurveyStatus.SUBMITTED, SurveyStatus.SIGNED):
        raise Conflict(
            f"A survey is signed once it is submitted; this one is {survey.status}.",
            code="not_ready_for_signing",
            extra={"status": survey.status},
        )


def _on_signed(*, record: Survey, by: Any, device_id: str, required: set, signed: set) -> None:
    from backend.surveys.services import survey_mark_signed

    if record.status == SurveyStatus.SUBMITTED and (required or signed):
        survey_mark_signed(survey=record, by=by, device_id=device_id)


def _children(survey: Survey) -> dict[str, Any]:
    return {
        "participants": content_rows(
            SurveyParticipant.all_objects.filter(survey=survey), record_type="survey_participant", with_photos=True
        ),
        "findings": content_rows(Finding.all_objects.filter(survey=survey), record_type="finding", with_photos=False),
    }


SURVEY_SIGNABLE = Signable(
    signers=_signers,
    check_ready=_check_ready,
    on_signed=_on_signed,
    children=_children,
    excluded_fields=frozenset({"status"}),
)
# A finding taken up by a meeting later (`meeting_id`) keeps the signed survey's signatures valid.
FINDING_CHILD_EXCLUDED = frozenset({"status", "resolved_at", "resolution", "due_date", "meeting_ref", "meeting_id"})
