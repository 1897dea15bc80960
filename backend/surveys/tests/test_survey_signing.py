"""`survey_mark_signed` (called by the signatures flow) locks the survey and its participants;
`survey_reopen` unlocks them, back to submitted, audited with the reason."""

import pytest

from backend.audit.models import AuditEntry
from backend.common.errors import IllegalTransition, RecordLocked, ValidationFailed
from backend.surveys import services
from backend.surveys.models import Finding, Survey, SurveyParticipant, SurveyStatus
from backend.surveys.tests.factories import FindingFactory, SurveyFactory, SurveyParticipantFactory


@pytest.fixture
def submitted(case):
    survey = SurveyFactory(case=case, status=SurveyStatus.SUBMITTED, conclusion="agree")
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意，注意保护现状管线")
    return survey


@pytest.mark.django_db
def test_mark_signed_locks_survey_and_participants(submitted, official):
    signed = services.survey_mark_signed(survey=submitted, by=official)
    stored = Survey.objects.get(pk=submitted.pk)
    assert (stored.status, stored.is_locked, stored.version) == ("signed", True, 2)
    assert stored.locked_at is not None
    assert signed.version == 2
    participants = SurveyParticipant.objects.filter(survey=submitted)
    assert [(p.is_locked, p.version) for p in participants] == [(True, 2), (True, 2)]
    lock_entry = AuditEntry.objects.filter(record_type="survey", record_id=submitted.pk).last()
    assert (lock_entry.action, lock_entry.reason, lock_entry.before["status"], lock_entry.after["status"]) == (
        "lock",
        "signed",
        "submitted",
        "signed",
    )


@pytest.mark.django_db
def test_mark_signed_needs_a_submitted_survey(case, official):
    survey = SurveyFactory(case=case, status=SurveyStatus.IN_PROGRESS)
    with pytest.raises(IllegalTransition):
        services.survey_mark_signed(survey=survey, by=official)
    assert Survey.objects.get(pk=survey.pk).is_locked is False


@pytest.mark.django_db
def test_mark_signed_twice_is_refused(submitted, official):
    services.survey_mark_signed(survey=submitted, by=official)
    with pytest.raises(RecordLocked):
        services.survey_mark_signed(survey=submitted, by=official)
    assert Survey.objects.get(pk=submitted.pk).version == 2


@pytest.mark.django_db
def test_signed_survey_refuses_every_change(submitted, official):
    services.survey_mark_signed(survey=submitted, by=official)
    participant = SurveyParticipant.objects.filter(survey=submitted).first()
    attempts = [
        lambda: services.survey_update(instance=submitted, changes={"minutes": "改"}, by=official),
        lambda: services.survey_delete(instance=submitted, by=official),
        lambda: services.survey_participant_update(instance=participant, changes={"opinion": "改"}, by=official),
        lambda: services.survey_participant_delete(instance=participant, by=official),
        lambda: services.survey_participant_create(by=official, survey=submitted, department=official.organization),
        lambda: services.finding_create(
            by=official,
            case=submitted.case,
            survey=submitted,
            description="新问题",
            responsible_department=official.organization,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(RecordLocked):
            attempt()
    assert Survey.objects.get(pk=submitted.pk).version == 2
    assert SurveyParticipant.objects.filter(survey=submitted).count() == 2
    assert not Finding.objects.exists()


@pytest.mark.django_db
def test_reopen_needs_a_reason(submitted, official):
    services.survey_mark_signed(survey=submitted, by=official)
    with pytest.raises(ValidationFailed) as raised:
        services.survey_reopen(instance=submitted, by=official, reason=" ")
    assert raised.value.code == "reason_required"
    assert Survey.objects.get(pk=submitted.pk).is_locked is True


@pytest.mark.django_db
def test_reopen_unlocks_survey_and_participants_back_to_submitted(submitted, official):
    services.survey_mark_signed(survey=submitted, by=official)
    voided = []
    reopened = services.survey_reopen(
        instance=submitted, by=official, reason="建设单位更正用地面积", on_reopen=voided.append
    )
    assert (reopened.status, reopened.is_locked, reopened.version) == ("submitted", False, 3)
    assert voided == [reopened]
    assert [p.is_locked for p in SurveyParticipant.objects.filter(survey=submitted)] == [False, False]
    entry = AuditEntry.objects.filter(record_type="survey", record_id=submitted.pk).last()
    assert (entry.action, entry.reason, entry.before["status"], entry.after["status"]) == (
        "reopen",
        "建设单位更正用地面积",
        "signed",
        "submitted",
    )
    participant_entries = AuditEntry.objects.filter(record_type="survey_participant", action="reopen")
    assert participant_entries.count() == 2
    # And it can be signed again.
    assert services.survey_mark_signed(survey=reopened, by=official).status == "signed"


@pytest.mark.django_db
def test_closed_survey_stays_locked_and_reopens_to_submitted(submitted, official):
    signed = services.survey_mark_signed(survey=submitted, by=official)
    closed = services.survey_close(survey=signed, by=official)
    assert (closed.status, closed.is_locked) == ("closed", True)
    assert services.survey_reopen_changes(closed) == {"status": "submitted"}
    reopened = services.survey_reopen(instance=closed, by=official, reason="补充签字")
    assert (reopened.status, reopened.is_locked) == ("submitted", False)


@pytest.mark.django_db
def test_a_participant_of_a_signed_survey_cannot_be_reopened_alone(submitted, official):
    services.survey_mark_signed(survey=submitted, by=official)
    participant = SurveyParticipant.objects.filter(survey=submitted).first()
    with pytest.raises(RecordLocked):
        services.survey_participant_reopen(instance=participant, by=official, reason="改意见")
    assert SurveyParticipant.objects.get(pk=participant.pk).is_locked is True


@pytest.mark.django_db
def test_findings_of_a_signed_survey_keep_their_content_but_follow_up_goes_on(submitted, official):
    finding = FindingFactory(case=submitted.case, survey=submitted)
    services.survey_mark_signed(survey=submitted, by=official)
    with pytest.raises(RecordLocked):
        services.finding_update(instance=finding, changes={"description": "改写"}, by=official)
    with pytest.raises(RecordLocked):
        services.finding_delete(instance=finding, by=official)
    updated = services.finding_update(instance=finding, changes={"meeting_ref": "协调会纪要〔2026〕3号"}, by=official)
    resolved = services.finding_resolve(finding=updated, by=official, resolution="已改移排水沟")
    stored = Finding.objects.get(pk=finding.pk)
    assert (stored.description, stored.meeting_ref, stored.status, stored.version) == (
        finding.description,
        "协调会纪要〔2026〕3号",
        "resolved",
        3,
    )
    assert resolved.resolved_at is not None
