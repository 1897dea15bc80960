import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind
from backend.cases.models import ApprovalCase, ApprovalItem, Blzt, ItemStatusEvent, Material, Project
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
from mobile_api.cases.tests.factories import upsert_body

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370211")


@pytest.fixture
def integration():
    return user_of_kind(OrganizationKind.EXTERNAL_SYSTEM, roles=[Role.INTEGRATION], region="37")


@pytest.fixture
def planning_department():
    return OrganizationFactory(name="自然资源局", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")


# --- projects -------------------------------------------------------------------------------


def project_body(builder, **changes):
    body = {
        "code": "2404-370211-04-01-123456",
        "name": "海晟新能源装备制造基地",
        "builder": str(builder.pk),
        "investment_type": "private",
        "category": "industrial_four_upgrades",
        "priority": "city",
        "location": {"type": "Point", "coordinates": [120.17, 35.96]},
    }
    body.update(changes)
    return body


def test_official_registers_a_project_in_their_jurisdiction(official):
    builder = OrganizationFactory(kind=OrganizationKind.BUILDER)
    response = client_for(official).post("/api/v1/projects/", project_body(builder), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"] == "2404-370211-04-01-123456"
    assert body["region_code"] == "370211"
    assert body["location"] == {"type": "Point", "coordinates": [120.17, 35.96]}
    assert body["is_simple_low_risk"] is False
    assert Project.objects.get().region_code == "370211"


def test_bad_project_code_is_a_problem_json_validation_error(official):
    builder = OrganizationFactory(kind=OrganizationKind.BUILDER)
    response = client_for(official).post(
        "/api/v1/projects/", project_body(builder, code="2413-370211-04-01-123456"), format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/invalid_project_code",
        "title": "Bad Request",
        "status": 400,
        "detail": "The month in a project code is 01 to 12; got 13.",
        "code": "invalid_project_code",
        "errors": {"code": ["The month in a project code is 01 to 12; got 13."]},
    }
    assert Project.objects.count() == 0


def test_serializer_errors_are_problem_json_too(official):
    builder = OrganizationFactory(kind=OrganizationKind.BUILDER)
    response = client_for(official).post(
        "/api/v1/projects/", project_body(builder, investment_type="charity", name=""), format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert sorted(body["errors"]) == ["investment_type", "name"]
    assert Project.objects.count() == 0


def test_official_of_another_region_may_not_register_a_project_there():
    other = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370102")
    builder = OrganizationFactory(kind=OrganizationKind.BUILDER)
    response = client_for(other).post("/api/v1/projects/", project_body(builder), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "outside_jurisdiction"
    assert Project.objects.count() == 0


def test_builder_sees_only_their_own_projects_and_cannot_change_them():
    builder_user = user_of_kind(OrganizationKind.BUILDER)
    own = ProjectFactory(builder=builder_user.organization)
    ProjectFactory()
    client = client_for(builder_user)
    response = client.get("/api/v1/projects/")
    assert [p["id"] for p in response.json()["results"]] == [str(own.pk)]
    response = client.patch(f"/api/v1/projects/{own.pk}/", {"name": "改名"}, format="json")
    assert response.status_code == 403
    own.refresh_from_db()
    assert own.name != "改名"


def test_changing_the_code_moves_the_region(official):
    project = ProjectFactory()
    response = client_for(official).patch(
        f"/api/v1/projects/{project.pk}/", {"code": "2405-370211-04-01-000077"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["code"] == "2405-370211-04-01-000077"
    taken = ProjectFactory()
    response = client_for(official).patch(f"/api/v1/projects/{project.pk}/", {"code": taken.code}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_project_code"


# --- scoping --------------------------------------------------------------------------------


def test_department_of_another_region_gets_404_on_a_case():
    case = ApprovalCaseFactory()
    item = ApprovalItemFactory(case=case)
    stranger = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370102")
    client = client_for(stranger)
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 404
    assert client.get(f"/api/v1/cases/{case.pk}/items/").status_code == 404
    assert client.get(f"/api/v1/cases/{case.pk}/items/{item.pk}/").status_code == 404
    response = client.post(f"/api/v1/cases/{case.pk}/items/{item.pk}/status", {"status": 11}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert client.get("/api/v1/cases/").json()["count"] == 0
    item.refresh_from_db()
    assert item.status == Blzt.ACCEPTED


def test_assigned_crew_sees_the_case_but_cannot_reassign_it(official):
    case = ApprovalCaseFactory()
    crew = user_of_kind(OrganizationKind.SURVEY_CREW)
    vehicle = OrganizationFactory(kind=OrganizationKind.VEHICLE_TEAM)
    response = client_for(official).patch(
        f"/api/v1/cases/{case.pk}/",
        {"assigned_organizations": [str(crew.organization.pk), str(vehicle.pk)]},
        format="json",
    )
    assert response.status_code == 200
    assert sorted(response.json()["assigned_organizations"]) == sorted([str(crew.organization.pk), str(vehicle.pk)])
    client = client_for(crew)
    assert client.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    response = client.patch(f"/api/v1/cases/{case.pk}/", {"assigned_organizations": []}, format="json")
    assert response.status_code == 403
    assert case.assigned_organizations.count() == 2


# --- case detail and items ------------------------------------------------------------------


def test_case_detail_has_standard_time_and_deadline_summary(official):
    case = ApprovalCaseFactory(opened_at=dt.datetime(2026, 3, 2, 9, tzinfo=SHANGHAI))
    ApprovalItemFactory(case=case, accepted_at=dt.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI), promised_days=10)
    ApprovalItemFactory(case=case, accepted_at=dt.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI), promised_days=5)
    response = client_for(official).get(f"/api/v1/cases/{case.pk}/?as_of=2026-03-10")
    assert response.status_code == 200
    body = response.json()
    assert body["standard_days"] == 160
    assert body["deadline"] == {
        "as_of": "2026-03-10",
        "standard_days": 160,
        "elapsed_days": 8,
        "remaining_days": 152,
        "is_over_standard": False,
        "item_levels": {"ok": 0, "warn7": 0, "remind5": 1, "supervise3": 0, "overdue": 1},
        "next_due_at": "2026-03-09T23:59:59+08:00",
        "items_with_errors": 0,
        "items_level_unknown": 0,
    }


def test_items_list_with_computed_deadlines_and_filters(official):
    case = ApprovalCaseFactory()
    accepted = dt.datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)
    warn = ApprovalItemFactory(case=case, name="A", accepted_at=accepted, promised_days=17)
    overdue = ApprovalItemFactory(case=case, name="B", accepted_at=accepted, promised_days=5, modes=["tolerance"])
    Material.objects.create(item=overdue, name="土地出让合同", is_waivable=True, promised_by=dt.date(2026, 3, 6))
    ApprovalItemFactory(case=case, name="C", accepted_at=None, status=Blzt.RECEIVED)
    client = client_for(official)
    response = client.get(f"/api/v1/cases/{case.pk}/items/?as_of=2026-03-16")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    assert {k: rows["A"][k] for k in ("due_at", "due_date", "warning_level", "remaining_working_days", "clock")} == {
        "due_at": "2026-03-25T23:59:59+08:00",
        "due_date": "2026-03-25",
        "warning_level": "warn7",
        "remaining_working_days": 7,
        "clock": "running",
    }
    assert rows["B"]["warning_level"] == "overdue"
    assert rows["B"]["first_overdue_on"] == "2026-03-10"
    assert rows["B"]["modes"] == ["tolerance"]
    assert rows["B"]["materials"][0]["promise_state"] == "overdue"
    assert (rows["C"]["due_at"], rows["C"]["warning_level"], rows["C"]["clock"]) == (None, None, "not_started")
    only_overdue = client.get(f"/api/v1/cases/{case.pk}/items/?as_of=2026-03-16&warning_level=overdue").json()
    assert [r["id"] for r in only_overdue["results"]] == [str(overdue.pk)]
    assert only_overdue["count"] == 1
    by_status = client.get(f"/api/v1/cases/{case.pk}/items/?status=1").json()
    assert [r["name"] for r in by_status["results"]] == ["C"]
    assert client.get(f"/api/v1/cases/{case.pk}/items/?stage=completion_acceptance").json()["count"] == 0
    assert warn.pk


def test_item_past_the_calendar_horizon_does_not_break_the_list(official):
    case = ApprovalCaseFactory()
    late = ApprovalItemFactory(case=case, accepted_at=dt.datetime(2026, 12, 20, 10, tzinfo=SHANGHAI), promised_days=10)
    response = client_for(official).get(f"/api/v1/cases/{case.pk}/items/?as_of=2026-12-21")
    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["id"] == str(late.pk)
    # The due date needs 2027; the remaining days (10 − Mon 21 Dec) and so the level do not.
    assert (row["due_at"], row["due_date"], row["remaining_working_days"]) == (None, None, 9)
    assert (row["warning_level"], row["clock"]) == ("ok", "running")
    assert row["deadline_error"]["code"] == "calendar_horizon"
    assert row["deadline_error"]["horizon"] == "2026-12-31"
    assert row["deadline_error"]["unknown"] == ["due_date"]
    assert "ends on 2026-12-31" in row["deadline_error"]["detail"]
    detail = client_for(official).get(f"/api/v1/cases/{case.pk}/?as_of=2026-12-21").json()
    assert (detail["deadline"]["items_with_errors"], detail["deadline"]["items_level_unknown"]) == (1, 0)
    assert detail["deadline"]["item_levels"]["ok"] == 1


def test_bad_as_of_is_a_validation_problem(official):
    case = ApprovalCaseFactory()
    response = client_for(official).get(f"/api/v1/cases/{case.pk}/items/?as_of=yesterday")
    assert response.status_code == 400
    assert response.json()["errors"] == {"as_of": ["Expected YYYY-MM-DD."]}


def test_department_moves_its_item_and_terminal_is_final():
    department_user = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    item = ApprovalItemFactory(
        department=department_user.organization, accepted_at=dt.datetime(2026, 3, 2, tzinfo=SHANGHAI)
    )
    client = client_for(department_user)
    url = f"/api/v1/cases/{item.case_id}/items/{item.pk}/status"
    response = client.post(url, {"status": 11, "occurred_at": "2026-03-10T15:00:00+08:00"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["clock"]) == (11, "stopped")
    response = client.post(url, {"status": 6}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert list(ItemStatusEvent.objects.filter(item=item).values_list("status", flat=True)) == [11]
    item.refresh_from_db()
    assert item.status == 11


def test_other_department_may_not_move_an_item(official):
    item = ApprovalItemFactory()
    response = client_for(official).post(
        f"/api/v1/cases/{item.case_id}/items/{item.pk}/status", {"status": 11}, format="json"
    )
    assert response.status_code == 403
    assert ItemStatusEvent.objects.count() == 0


def test_pause_end_without_a_start_is_refused(integration):
    item = ApprovalItemFactory()
    response = client_for(integration).post(
        f"/api/v1/cases/{item.case_id}/items/{item.pk}/status", {"status": 7}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert ItemStatusEvent.objects.count() == 0


# --- the approval system's upsert -----------------------------------------------------------


def test_upsert_creates_then_updates_idempotently(integration, planning_department):
    client = client_for(integration)
    url = "/api/v1/cases/by-external/GG-2026-0001"
    first = client.put(url, upsert_body(), format="json")
    assert first.status_code == 201, first.json()
    case = ApprovalCase.objects.get(external_no="GG-2026-0001")
    assert first.json()["id"] == str(case.pk)
    assert case.project.code == "2404-370211-04-01-123456"
    assert case.project.builder.credit_code == "91370211MA3C8H4K1P"
    item = case.items.get()
    assert (item.external_id, item.department, item.status) == ("SX-001", planning_department, 3)
    counts = (
        Project.objects.count(),
        ApprovalItem.objects.count(),
        ItemStatusEvent.objects.count(),
        Material.objects.count(),
    )
    assert counts == (1, 1, 1, 2)

    again = client.put(url, upsert_body(), format="json")
    assert again.status_code == 200
    assert again.json()["id"] == str(case.pk)
    assert (
        Project.objects.count(),
        ApprovalItem.objects.count(),
        ItemStatusEvent.objects.count(),
        Material.objects.count(),
    ) == counts

    body = upsert_body()
    body["items"][0]["name"] = "建设工程规划许可证核发（变更）"
    body["items"][0]["status"] = 6
    body["items"][0]["status_events"].append({"status": 6, "occurred_at": "2026-03-04T16:00:00+08:00"})
    updated = client.put(url, body, format="json")
    assert updated.status_code == 200
    item.refresh_from_db()
    assert (item.name, item.status) == ("建设工程规划许可证核发（变更）", 6)
    assert list(item.status_events.values_list("status", flat=True)) == [3, 6]
    assert ApprovalItem.objects.count() == 1


def test_upsert_is_refused_for_a_non_integration_user(official):
    response = client_for(official).put("/api/v1/cases/by-external/GG-2026-0001", upsert_body(), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert (ApprovalCase.objects.count(), Project.objects.count()) == (0, 0)


def test_upsert_with_a_bad_credit_code_writes_nothing(integration, planning_department):
    body = upsert_body()
    body["project"]["builder"]["credit_code"] = "91370211MA3C8H4K1A"
    response = client_for(integration).put("/api/v1/cases/by-external/GG-2026-0002", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credit_code"
    assert response.json()["errors"] == {
        "project.builder.credit_code": ["The check character of this unified social credit code should be P, not A."]
    }
    assert (ApprovalCase.objects.count(), Project.objects.count()) == (0, 0)


def test_upsert_cannot_reopen_a_closed_item(integration, planning_department):
    client = client_for(integration)
    url = "/api/v1/cases/by-external/GG-2026-0003"
    body = upsert_body()
    body["items"][0]["status"] = 11
    body["items"][0]["completed_at"] = "2026-03-10T10:00:00+08:00"
    assert client.put(url, body, format="json").status_code == 201
    body["items"][0]["status"] = 3
    response = client.put(url, body, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "illegal_transition"
    assert ApprovalItem.objects.get().status == 11


def test_unknown_department_is_a_field_error(integration):
    response = client_for(integration).put("/api/v1/cases/by-external/GG-2026-0004", upsert_body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_department"
    assert list(response.json()["errors"]) == ["items[0].department"]
    assert ApprovalCase.objects.count() == 0


def test_administrator_may_upsert_too(planning_department):
    admin = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    response = client_for(admin).put("/api/v1/cases/by-external/GG-2026-0005/", upsert_body(), format="json")
    assert response.status_code == 201
