"""Who may write surveys, participants and findings: officials, assigned crews and vehicle teams,
administrators. Builders and utility companies read (403 on writes); the invisible get 404."""

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind
from backend.audit.models import AuditEntry
from backend.surveys.models import Finding, Survey, SurveyParticipant
from backend.surveys.tests.factories import FindingFactory, SurveyFactory, SurveyParticipantFactory


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _survey_payload(case):
    return {"case": str(case.pk), "scheduled_at": "2026-03-12T14:00:00+08:00", "summary": "踏勘"}


@pytest.mark.django_db
@pytest.mark.parametrize("reader", ["builder", "utility_staff"])
def test_read_only_organisations_see_but_cannot_write(reader, request, case):
    user = request.getfixturevalue(reader)
    client = _client(user)
    survey = SurveyFactory(case=case)
    participant = SurveyParticipantFactory(survey=survey)
    finding = FindingFactory(case=case)
    audit_before = AuditEntry.objects.count()

    assert client.get(f"/api/v1/surveys/{survey.pk}/").status_code == 200
    assert client.get("/api/v1/findings/").json()["count"] == 1
    responses = [
        client.post("/api/v1/surveys/", _survey_payload(case), format="json"),
        client.patch(f"/api/v1/surveys/{survey.pk}/", {"summary": "改"}, format="json", HTTP_IF_MATCH='"1"'),
        client.delete(f"/api/v1/surveys/{survey.pk}/"),
        client.post(f"/api/v1/surveys/{survey.pk}/start", {}, format="json"),
        client.post(f"/api/v1/surveys/{survey.pk}/cancel", {"reason": "x"}, format="json"),
        client.patch(
            f"/api/v1/survey-participants/{participant.pk}/", {"opinion": "改"}, format="json", HTTP_IF_MATCH='"1"'
        ),
        client.post(
            "/api/v1/findings/",
            {"case": str(case.pk), "description": "x", "responsible_department": str(user.organization_id)},
            format="json",
        ),
        client.post(f"/api/v1/findings/{finding.pk}/resolve", {}, format="json"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(403, "permission_denied")] * len(responses)
    assert Survey.all_objects.count() == 1
    stored = Survey.objects.get(pk=survey.pk)
    assert (stored.status, stored.summary, stored.version, stored.deleted_at) == (
        "scheduled",
        survey.summary,
        1,
        None,
    )
    assert SurveyParticipant.objects.get(pk=participant.pk).opinion == ""
    assert Finding.objects.get(pk=finding.pk).status == "open"
    assert Finding.all_objects.count() == 1
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "roles"),
    [
        (OrganizationKind.SURVEY_CREW, [Role.SURVEYOR]),
        (OrganizationKind.VEHICLE_TEAM, [Role.VEHICLE_AGENT]),
    ],
)
def test_assigned_crews_and_vehicle_teams_write(kind, roles, case):
    user = user_of_kind(kind, roles=roles)
    case.assigned_organizations.add(user.organization)
    response = _client(user).post("/api/v1/surveys/", _survey_payload(case), format="json")
    assert response.status_code == 201, response.json()
    assert Survey.objects.get(pk=response.json()["id"]).created_by_id == user.pk


@pytest.mark.django_db
def test_unassigned_crew_does_not_even_see_the_case(case):
    crew = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    survey = SurveyFactory(case=case)
    client = _client(crew)
    assert client.get(f"/api/v1/surveys/{survey.pk}/").status_code == 404
    response = client.post("/api/v1/surveys/", _survey_payload(case), format="json")
    assert response.status_code == 400
    assert "case" in response.json()["errors"]
    assert Survey.objects.count() == 1


@pytest.mark.django_db
def test_approval_department_staff_without_an_official_role_read_only(case):
    clerk = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.INSPECTOR],
    )
    response = _client(clerk).post("/api/v1/surveys/", _survey_payload(case), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert not Survey.objects.exists()


@pytest.mark.django_db
def test_administrators_write(case):
    admin = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    response = _client(admin).post("/api/v1/surveys/", _survey_payload(case), format="json")
    assert response.status_code == 201


@pytest.mark.django_db
def test_acceptance_team_assigned_to_the_case_reads_only(case):
    inspector = user_of_kind(OrganizationKind.ACCEPTANCE_TEAM, roles=[Role.INSPECTOR])
    case.assigned_organizations.add(inspector.organization)
    response = _client(inspector).post("/api/v1/surveys/", _survey_payload(case), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
