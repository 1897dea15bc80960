"""Reads of meetings, their participants and decisions: a meeting is visible to whoever sees any
of its cases (the convening one or a further one); its children are visible with it."""

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Q, QuerySet

from backend.accounts.models import User
from backend.cases.selectors import cases_visible_to
from backend.meetings.models import Meeting, MeetingDecision, MeetingParticipant


def meetings_visible_to(*, user: User) -> QuerySet[Meeting]:
    if user.is_authenticated and user.is_active and user.is_administrator:
        return Meeting.objects.select_related("case")
    visible = cases_visible_to(user=user)
    # `further_cases && ARRAY(visible case ids)`: the visible ids are computed once for the query
    # (an InitPlan) and the overlap can use the GIN index on further_cases.
    in_further_case = Q(further_cases__overlap=ArraySubquery(visible.values("pk")))
    return Meeting.objects.filter(Q(case__in=visible) | in_further_case).select_related("case")


def meeting_participants_visible_to(*, user: User) -> QuerySet[MeetingParticipant]:
    return MeetingParticipant.objects.filter(meeting__in=meetings_visible_to(user=user).values("pk")).select_related(
        "meeting", "department"
    )


def meeting_decisions_visible_to(*, user: User) -> QuerySet[MeetingDecision]:
    return MeetingDecision.objects.filter(meeting__in=meetings_visible_to(user=user).values("pk")).select_related(
        "meeting", "responsible_department", "finding"
    )


def meetings_of_finding(*, user: User, finding_id) -> QuerySet[Meeting]:
    """The visible meetings that took a finding up (latest first)."""
    return meetings_visible_to(user=user).filter(findings__contains=[finding_id]).order_by("-scheduled_at", "id")
