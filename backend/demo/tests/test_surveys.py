import pytest

from backend.audit.models import AuditEntry
from backend.demo import accounts as accounts_demo
from backend.demo import cases as cases_demo
from backend.demo import sites as sites_demo
from backend.demo import surveys as demo
from backend.surveys.models import Finding, Survey, SurveyParticipant
from backend.surveys.selectors import survey_missing_participants


@pytest.mark.django_db
def test_demo_without_cases_does_nothing():
    demo.seed()
    assert not Survey.all_objects.exists()


@pytest.mark.django_db
def test_demo_seeds_a_submitted_and_a_scheduled_survey_and_is_idempotent():
    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()
    demo.seed()
    audit_after_first = AuditEntry.objects.count()
    demo.seed()
    assert AuditEntry.objects.count() == audit_after_first
    surveys = {s.case.external_no: s for s in Survey.objects.select_related("case")}
    submitted = surveys["GG-370211-2026-000101"]
    assert (submitted.status, submitted.conclusion, submitted.site is not None) == (
        "submitted",
        "agree_with_conditions",
        True,
    )
    assert survey_missing_participants(survey=submitted) == []
    assert SurveyParticipant.objects.filter(survey=submitted).count() == 5
    assert surveys["GG-370211-2026-000245"].status == "scheduled"
    assert sorted(Finding.objects.values_list("status", flat=True)) == ["open", "open", "resolved"]
