"""Reads of surveys, participants and findings, scoped to what the user may see (the case)."""

from django.db.models import QuerySet

from backend.accounts.models import Role, User
from backend.cases.selectors import on_cases_visible_to
from backend.surveys.models import Finding, Survey, SurveyParticipant


def surveys_visible_to(*, user: User) -> QuerySet[Survey]:
    return on_cases_visible_to(Survey.objects.all(), user=user).select_related("case", "site")


def survey_participants_visible_to(*, user: User) -> QuerySet[SurveyParticipant]:
    return on_cases_visible_to(SurveyParticipant.objects.all(), user=user).select_related("survey", "department")


def findings_visible_to(*, user: User) -> QuerySet[Finding]:
    return on_cases_visible_to(Finding.objects.all(), user=user).select_related("responsible_department")


def findings_for_department(*, user: User, department_id) -> QuerySet[Finding]:
    """A department's follow-up list (整改跟踪): the visible findings it is responsible for."""
    return findings_visible_to(user=user).filter(responsible_department_id=department_id)


def survey_missing_participants(*, survey: Survey) -> list[dict]:
    """The must-attend departments that keep the survey from being complete, and why.

    Complete: attended and gave an opinion, or waived with a (non-blank) reason.
    """
    missing = []
    participants = SurveyParticipant.objects.filter(survey=survey, must_attend=True).select_related("department")
    for participant in participants.order_by("department__name", "id"):
        if participant.waiver_requested:
            if participant.waived_reason.strip():
                continue
            reason = "waived_without_reason"
        elif not participant.attended:
            reason = "not_attended"
        elif not participant.opinion.strip():
            reason = "no_opinion"
        else:
            continue
        missing.append(
            {
                "participant": str(participant.pk),
                "department": str(participant.department_id),
                "department_name": participant.department.name,
                "reason": reason,
            }
        )
    return missing


def findings_overdue(queryset: QuerySet[Finding], *, as_of=None) -> QuerySet[Finding]:
    """Open findings whose due date has passed (the day after it, local time)."""
    from django.utils import timezone

    from backend.surveys.models import FindingStatus

    return queryset.filter(status=FindingStatus.OPEN, due_date__lt=as_of or timezone.localdate())


def department_notice_recipients(*, department_id) -> list[User]:
    """Whom a notice to a department (of a survey, a meeting) reaches: its heads (部门负责人), or,
    for a department without one, every active user of it. Ordered, bounded by the department."""
    users = User.objects.filter(organization_id=department_id, is_active=True).order_by("username")
    heads = list(users.filter(roles__contains=[Role.DEPARTMENT_HEAD]))
    return heads or list(users)


def survey_participant_recipients(*, participant: SurveyParticipant) -> list[User]:
    return department_notice_recipients(department_id=participant.department_id)
