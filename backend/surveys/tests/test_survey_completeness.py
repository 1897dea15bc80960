"""A survey is submitted only when every must-attend department attended and gave an opinion,
or was waived with a reason."""

import pytest

from backend.audit.models import AuditEntry
from backend.common.errors import Conflict, ValidationFailed
from backend.surveys import services
from backend.surveys.models import Survey, SurveyConclusion, SurveyStatus
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory


@pytest.fixture
def survey(case):
    return SurveyFactory(case=case, status=SurveyStatus.IN_PROGRESS)


def _submit_refused(survey, official, code="survey_incomplete"):
    audit_before = AuditEntry.objects.count()
    with pytest.raises((Conflict, ValidationFailed)) as raised:
        services.survey_submit(survey=survey, by=official, conclusion=SurveyConclusion.AGREE)
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.status, stored.version, stored.conclusion) == (SurveyStatus.IN_PROGRESS, 1, "")
    assert AuditEntry.objects.count() == audit_before
    assert raised.value.code == code
    return raised.value


@pytest.mark.django_db
def test_all_attended_with_opinions_submits(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意选址")
    SurveyParticipantFactory(survey=survey, attended=True, opinion="满足消防车道要求后同意")
    submitted = services.survey_submit(
        survey=survey, by=official, conclusion=SurveyConclusion.AGREE, minutes="会议纪要：各部门同意。"
    )
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.status, stored.conclusion, stored.minutes, stored.version) == (
        "submitted",
        "agree",
        "会议纪要：各部门同意。",
        2,
    )
    assert submitted.ended_at is not None


@pytest.mark.django_db
def test_missing_opinion_is_refused_and_named(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    silent = SurveyParticipantFactory(survey=survey, attended=True, opinion="   ")
    error = _submit_refused(survey, official)
    assert error.extra["departments"] == [str(silent.department_id)]
    assert error.extra["missing"] == [
        {
            "participant": str(silent.pk),
            "department": str(silent.department_id),
            "department_name": silent.department.name,
            "reason": "no_opinion",
        }
    ]


@pytest.mark.django_db
def test_not_attended_is_refused_even_with_an_opinion(survey, official):
    absent = SurveyParticipantFactory(survey=survey, attended=False, opinion="书面意见：同意")
    error = _submit_refused(survey, official)
    assert [(m["department"], m["reason"]) for m in error.extra["missing"]] == [
        (str(absent.department_id), "not_attended")
    ]


@pytest.mark.django_db
def test_waived_with_a_reason_counts_as_complete(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    SurveyParticipantFactory(survey=survey, attended=False, is_waived=True, waived_reason="本项目不涉及人防工程")
    # A reason alone (as API.md clients send it) is a waiver too.
    SurveyParticipantFactory(survey=survey, attended=False, waived_reason="已出具书面意见，经审批局同意免于到场")
    assert services.survey_submit(survey=survey, by=official, conclusion=SurveyConclusion.AGREE).status == "submitted"


@pytest.mark.django_db
def test_waived_without_a_reason_is_refused(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    waived = SurveyParticipantFactory(survey=survey, attended=False, is_waived=True, waived_reason=" ")
    error = _submit_refused(survey, official)
    assert [(m["department"], m["reason"]) for m in error.extra["missing"]] == [
        (str(waived.department_id), "waived_without_reason")
    ]


@pytest.mark.django_db
def test_optional_participants_do_not_block(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    SurveyParticipantFactory(survey=survey, must_attend=False, attended=False)
    assert services.survey_submit(survey=survey, by=official, conclusion=SurveyConclusion.AGREE).status == "submitted"


@pytest.mark.django_db
def test_deleted_participants_do_not_count(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    gone = SurveyParticipantFactory(survey=survey, attended=False)
    services.survey_participant_delete(instance=gone, by=official)
    assert services.survey_submit(survey=survey, by=official, conclusion=SurveyConclusion.AGREE).status == "submitted"


@pytest.mark.django_db
def test_all_missing_departments_are_listed(survey, official):
    first = SurveyParticipantFactory(survey=survey, attended=False)
    second = SurveyParticipantFactory(survey=survey, attended=True)
    error = _submit_refused(survey, official)
    assert sorted(error.extra["departments"]) == sorted([str(first.department_id), str(second.department_id)])


@pytest.mark.django_db
def test_a_survey_without_participants_is_incomplete(survey, official):
    error = _submit_refused(survey, official)
    assert error.extra == {"missing": [], "departments": []}


@pytest.mark.django_db
def test_conclusion_is_required(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    with pytest.raises(ValidationFailed) as raised:
        services.survey_submit(survey=survey, by=official)
    assert raised.value.code == "conclusion_required"
    assert Survey.objects.get(pk=survey.pk).status == "in_progress"


@pytest.mark.django_db
def test_conditional_agreement_needs_conditions(survey, official):
    SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    with pytest.raises(ValidationFailed) as raised:
        services.survey_submit(survey=survey, by=official, conclusion=SurveyConclusion.AGREE_WITH_CONDITIONS)
    assert raised.value.code == "conditions_required"
    submitted = services.survey_submit(
        survey=survey,
        by=official,
        conclusion=SurveyConclusion.AGREE_WITH_CONDITIONS,
        conditions="东侧退让道路红线不少于10米",
    )
    assert (submitted.status, submitted.conditions) == ("submitted", "东侧退让道路红线不少于10米")


@pytest.mark.django_db
def test_participants_of_a_submitted_survey_are_frozen(case, official):
    survey = SurveyFactory(case=case, status=SurveyStatus.SUBMITTED, conclusion="agree")
    participant = SurveyParticipantFactory(survey=survey, attended=True, opinion="同意")
    with pytest.raises(Conflict) as raised:
        services.survey_participant_update(instance=participant, changes={"opinion": ""}, by=official)
    assert raised.value.code == "survey_not_editable"
    assert participant.__class__.objects.get(pk=participant.pk).opinion == "同意"
