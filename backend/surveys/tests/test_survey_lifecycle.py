"""Every legal and illegal move of a survey's status, through the one transition table."""

import pytest

from backend.audit.models import AuditEntry
from backend.common.errors import IllegalTransition, RecordLocked, ValidationFailed
from backend.surveys import services
from backend.surveys.models import Survey, SurveyConclusion, SurveyStatus
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory

ALL = [s.value for s in SurveyStatus]
LEGAL = {
    ("scheduled", "in_progress"),
    ("scheduled", "cancelled"),
    ("in_progress", "submitted"),
    ("in_progress", "cancelled"),
    ("submitted", "signed"),
    ("signed", "closed"),
}


def _survey_in(status: str, case) -> Survey:
    """A survey in `status`, shaped as the services leave it (signed/closed ones are locked)."""
    survey = SurveyFactory(case=case, status=status, is_locked=status in ("signed", "closed"))
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    if status not in ("scheduled", "in_progress", "cancelled"):
        Survey.objects.filter(pk=survey.pk).update(conclusion=SurveyConclusion.AGREE)
        survey.refresh_from_db()
    return survey


def _move(survey: Survey, to: str, by) -> Survey:
    if to == "in_progress":
        return services.survey_start(survey=survey, by=by)
    if to == "submitted":
        return services.survey_submit(survey=survey, by=by, conclusion=SurveyConclusion.AGREE)
    if to == "signed":
        return services.survey_mark_signed(survey=survey, by=by)
    if to == "closed":
        return services.survey_close(survey=survey, by=by)
    if to == "cancelled":
        return services.survey_cancel(survey=survey, by=by, reason="建设单位申请延期")
    raise AssertionError(to)


def test_the_transition_table_is_the_documented_lifecycle():
    table = {(source, target) for source, targets in services.SURVEY_TRANSITIONS.items() for target in targets}
    assert table == LEGAL


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transition(source, target, case, official):
    survey = _survey_in(source, case)
    moved = _move(survey, target, official)
    stored = Survey.objects.get(pk=survey.pk)
    assert stored.status == target
    assert stored.version == 2
    assert moved.version == 2
    entry = AuditEntry.objects.filter(record_type="survey", record_id=survey.pk).last()
    assert entry.before["status"] == source
    assert entry.after["status"] == target
    assert entry.actor_id == official.pk


ILLEGAL = sorted((s, t) for s in ALL for t in ALL if (s, t) not in LEGAL and t != "scheduled" and s != t)


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition_is_refused_and_changes_nothing(source, target, case, official):
    survey = _survey_in(source, case)
    audit_before = AuditEntry.objects.count()
    with pytest.raises((IllegalTransition, RecordLocked)) as raised:
        _move(survey, target, official)
    # A signed (locked) survey refuses as locked before the table is consulted.
    expected = "record_locked" if source in ("signed", "closed") else "illegal_transition"
    assert raised.value.code == expected
    stored = Survey.objects.get(pk=survey.pk)
    assert stored.status == source
    assert stored.version == 1
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
def test_nothing_goes_back_to_scheduled(case, official):
    assert all("scheduled" not in targets for targets in services.SURVEY_TRANSITIONS.values())


@pytest.mark.django_db
def test_start_stamps_started_at_and_keeps_a_device_time(case, official):
    survey = SurveyFactory(case=case)
    started = services.survey_start(survey=survey, by=official)
    assert started.started_at is not None
    other = SurveyFactory(case=case)
    at = other.scheduled_at
    assert services.survey_start(survey=other, by=official, started_at=at).started_at == at


@pytest.mark.django_db
def test_cancel_needs_a_reason(case, official):
    survey = SurveyFactory(case=case)
    with pytest.raises(ValidationFailed) as raised:
        services.survey_cancel(survey=survey, by=official, reason="  ")
    assert raised.value.code == "reason_required"
    assert Survey.objects.get(pk=survey.pk).status == SurveyStatus.SCHEDULED
    cancelled = services.survey_cancel(survey=survey, by=official, reason="天气原因")
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "天气原因")


@pytest.mark.django_db
def test_a_stale_instance_cannot_slip_through_an_illegal_transition(case, official):
    """Submit and cancel raced: the second sees the committed status under the row lock."""
    survey = _survey_in("in_progress", case)
    stale = Survey.objects.get(pk=survey.pk)
    services.survey_submit(survey=survey, by=official, conclusion=SurveyConclusion.AGREE)
    with pytest.raises(IllegalTransition):
        services.survey_cancel(survey=stale, by=official, reason="重复操作")
    assert Survey.objects.get(pk=survey.pk).status == SurveyStatus.SUBMITTED


@pytest.mark.django_db
def test_cancelled_survey_refuses_edits(case, official):
    survey = SurveyFactory(case=case, status=SurveyStatus.CANCELLED)
    with pytest.raises(Exception) as raised:
        services.survey_update(instance=survey, changes={"summary": "x"}, by=official)
    assert raised.value.code == "survey_not_editable"
    assert Survey.objects.get(pk=survey.pk).summary == survey.summary
