"""Findings (问题清单): per case, per responsible department, "my follow-up list", by status."""

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.surveys.models import Finding
from backend.surveys.tests.factories import FindingFactory, SurveyFactory

URL = "/api/v1/findings/"


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def departments():
    return (
        OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, name="自然资源局"),
        OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, name="消防救援大队"),
    )


@pytest.fixture
def findings(case, departments):
    planning, fire = departments
    other_case = ApprovalCaseFactory()
    return {
        "planning_open": FindingFactory(case=case, responsible_department=planning),
        "fire_open": FindingFactory(case=case, responsible_department=fire),
        "fire_resolved": FindingFactory(case=case, responsible_department=fire, status="resolved"),
        "other_case_planning": FindingFactory(case=other_case, responsible_department=planning),
    }


@pytest.mark.django_db
def test_findings_per_case(api, case, findings):
    assert _ids(api.get(URL, {"case": str(case.pk)})) == {
        str(findings[k].pk) for k in ("planning_open", "fire_open", "fire_resolved")
    }


@pytest.mark.django_db
def test_findings_per_department_and_status(api, departments, findings):
    _, fire = departments
    assert _ids(api.get(URL, {"responsible_department": str(fire.pk)})) == {
        str(findings["fire_open"].pk),
        str(findings["fire_resolved"].pk),
    }
    assert _ids(api.get(URL, {"responsible_department": str(fire.pk), "status": "open"})) == {
        str(findings["fire_open"].pk)
    }
    assert _ids(api.get(URL, {"status": "resolved"})) == {str(findings["fire_resolved"].pk)}


@pytest.mark.django_db
def test_my_follow_up_list(departments, findings):
    planning, _ = departments
    planner = UserFactory(organization=planning, roles=[Role.OFFICIAL])
    client = APIClient()
    client.force_authenticate(planner)
    # The planning bureau is responsible for a finding of each case, so it sees both cases' findings
    # (the service assigns it; here the factory rows stand in, so assign by hand).
    for finding in (findings["planning_open"], findings["other_case_planning"]):
        finding.case.assigned_organizations.add(planning)
    assert _ids(client.get(URL, {"mine": "true"})) == {
        str(findings["planning_open"].pk),
        str(findings["other_case_planning"].pk),
    }


@pytest.mark.django_db
def test_bad_filter_value_is_a_400_not_a_500(api):
    response = api.get(URL, {"case": "not-a-uuid"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


@pytest.mark.django_db
def test_create_assigns_the_responsible_department_to_the_case(api, case):
    department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="", name="水务局")
    response = api.post(
        URL,
        {
            "case": str(case.pk),
            "description": "场地西侧现状供水管线需迁改",
            "responsible_department": str(department.pk),
            "due_date": "2026-04-30",
            "location": {"type": "Point", "coordinates": [120.1711, 35.9607]},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["version"], body["location"]["coordinates"]) == ("open", 1, [120.1711, 35.9607])
    assert case.assigned_organizations.filter(pk=department.pk).exists()
    staff = UserFactory(organization=department, roles=[Role.OFFICIAL])
    client = APIClient()
    client.force_authenticate(staff)
    assert _ids(client.get(URL, {"mine": "1"})) == {body["id"]}


@pytest.mark.django_db
def test_finding_survey_must_be_of_the_same_case(api, case, departments):
    other_survey = SurveyFactory(case=ApprovalCaseFactory())
    response = api.post(
        URL,
        {
            "case": str(case.pk),
            "survey": str(other_survey.pk),
            "description": "问题",
            "responsible_department": str(departments[0].pk),
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "case_mismatch"
    assert not Finding.objects.exists()


@pytest.mark.django_db
def test_resolve_and_back_to_open(api, findings):
    finding = findings["planning_open"]
    resolved = api.post(f"{URL}{finding.pk}/resolve/", {"resolution": "已迁改"}, format="json")
    assert resolved.status_code == 200, resolved.json()
    assert (resolved.json()["status"], resolved.json()["resolution"], resolved["ETag"]) == ("resolved", "已迁改", '"2"')
    again = api.post(f"{URL}{finding.pk}/resolve/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    reopened = api.post(f"{URL}{finding.pk}/unresolve/", {}, format="json")
    assert (reopened.json()["status"], reopened.json()["resolved_at"], reopened.json()["version"]) == ("open", None, 3)
    stored = Finding.objects.get(pk=finding.pk)
    assert (stored.status, stored.resolution, stored.version) == ("open", "", 3)


@pytest.mark.django_db
def test_overdue_lists_open_findings_past_their_due_date(api, case, departments):
    import datetime as dt

    from django.utils import timezone

    planning, _ = departments
    today = timezone.localdate()
    late = FindingFactory(case=case, responsible_department=planning, due_date=today - dt.timedelta(days=1))
    due_today = FindingFactory(case=case, responsible_department=planning, due_date=today)
    FindingFactory(case=case, responsible_department=planning, due_date=today - dt.timedelta(days=3), status="resolved")
    undated = FindingFactory(case=case, responsible_department=planning, due_date=None)
    assert _ids(api.get(URL, {"overdue": "true"})) == {str(late.pk)}
    assert {str(due_today.pk), str(undated.pk)} <= _ids(api.get(URL, {"overdue": "false"}))
    assert str(late.pk) not in _ids(api.get(URL, {"overdue": "false"}))
    response = api.get(URL, {"overdue": "sometimes"})
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
