import pytest

from backend.accounts.tests.factories import UserFactory
from backend.audit.models import AuditEntry
from backend.surveys.models import Survey
from backend.surveys.tests.factories import FindingFactory, SurveyFactory, SurveyParticipantFactory


@pytest.fixture
def admin_client(client):
    admin = UserFactory(organization=None, roles=[], is_superuser=True, is_staff=True)
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_admin_pages_render(admin_client):
    participant = SurveyParticipantFactory()
    finding = FindingFactory()
    for url in (
        "/admin/surveys/survey/",
        f"/admin/surveys/survey/{participant.survey_id}/change/",
        "/admin/surveys/surveyparticipant/",
        f"/admin/surveys/surveyparticipant/{participant.pk}/change/",
        "/admin/surveys/finding/",
        f"/admin/surveys/finding/{finding.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_admin_edits_go_through_the_service(admin_client):
    survey = SurveyFactory()
    page = admin_client.get(f"/admin/surveys/survey/{survey.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(
        {
            "scheduled_at_0": "2026-03-10",
            "scheduled_at_1": "09:30:00",
            "summary": "后台修改",
            "participants-TOTAL_FORMS": "0",
            "participants-INITIAL_FORMS": "0",
        }
    )
    data = {k: v for k, v in data.items() if v is not None}
    admin_client.post(f"/admin/surveys/survey/{survey.pk}/change/", data)
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.summary, stored.version) == ("后台修改", 2)
    assert AuditEntry.objects.filter(record_id=survey.pk, action="update").count() == 1
