"""`GET projects/{id}/plan/`: the total standard time from the project's start milestone to its
construction permit, across its cases (seed 003); the completion acceptance stage not counted."""

import datetime as dt

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import Blzt, Project, Stage
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
from mobile_api.cases.tests.factories import upsert_body

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def world():
    planning = OrganizationFactory(name="市自然资源和规划局", region="370211")
    housing = OrganizationFactory(name="市住房和城乡建设局", region="370211")
    project = ProjectFactory(
        name="海晟装备基地", start_milestone="land_contract", start_milestone_on=dt.date(2026, 3, 1)
    )
    land = ApprovalCaseFactory(
        project=project, stage=Stage.LAND_USE_PLANNING, external_no="GG-LAND", opened_at=at(3, 2)
    )
    permit = ApprovalCaseFactory(
        project=project, stage=Stage.CONSTRUCTION_PERMIT, external_no="GG-PERMIT", opened_at=at(6, 1)
    )
    completion = ApprovalCaseFactory(
        project=project, stage=Stage.COMPLETION_ACCEPTANCE, external_no="GG-DONE", opened_at=at(6, 2)
    )
    # Accepted Monday 2026-03-02, 10 working days: due 2026-03-16; done 2026-03-10.
    land_item = ApprovalItemFactory(
        case=land,
        name="建设用地规划许可",
        department=planning,
        accepted_at=at(3, 2),
        promised_days=10,
        status=Blzt.APPROVED,
        completed_at=at(3, 10),
    )
    # Accepted Monday 2026-06-01, 5 working days: due 2026-06-08 (a normal week).
    permit_item = ApprovalItemFactory(
        case=permit, name="施工许可证核发", department=housing, accepted_at=at(6, 1), promised_days=5
    )
    ApprovalItemFactory(case=completion, name="竣工验收备案", department=housing, accepted_at=at(6, 2), promised_days=5)
    admin = UserFactory(username="admin", organization=None, roles=[Role.ADMINISTRATOR])
    return {
        "project": project,
        "cases": (land, permit, completion),
        "land_item": land_item,
        "permit_item": permit_item,
        "admin": admin,
        "planning": planning,
        "housing": housing,
    }


def plan(user, project, **params):
    return client_for(user).get(f"/api/v1/projects/{project.pk}/plan/", {"as_of": "2026-07-01", **params})


def test_the_plan_runs_from_the_land_contract_to_the_permit(world):
    response = plan(world["admin"], world["project"])
    assert response.status_code == 200, response.content
    body = response.json()
    # Private building project: 160 calendar days from 2026-03-01 (seed 003).
    assert body["start_milestone"] == "land_contract"
    assert body["start_milestone_label"] == "土地出让合同签订"
    assert body["standard_days"] == 160
    assert body["standard_days_unit"] == "calendar"
    assert body["standard_end"] == "2026-08-08"
    assert body["status"] == "running"
    assert body["construction_permit_on"] is None
    assert body["elapsed_days"] == 122
    assert body["remaining_days"] == 38
    assert body["is_over_standard"] is False
    stages = {row["stage"]: row for row in body["stages"]}
    assert [row["stage"] for row in body["stages"]] == [
        "land_use_planning",
        "engineering_planning",
        "construction_permit",
        "completion_acceptance",
    ]
    assert stages["completion_acceptance"]["is_counted"] is False
    assert stages["construction_permit"]["is_counted"] is True
    land = stages["land_use_planning"]
    assert land["status"] == "done"
    assert (land["actual_start"], land["actual_end"], land["standard_end"]) == (
        "2026-03-02",
        "2026-03-10",
        "2026-03-16",
    )
    assert land["elapsed_days"] == 8
    [item] = land["items"]
    assert item["name"] == "建设用地规划许可"
    assert (item["standard_start"], item["standard_end"], item["actual_end"]) == (
        "2026-03-02",
        "2026-03-16",
        "2026-03-10",
    )
    # Done on its 6th working day: 6 used, 4 left at completion.
    assert (item["elapsed_working_days"], item["remaining_working_days"]) == (6, 4)
    assert stages["engineering_planning"] == {
        **stages["engineering_planning"],
        "status": "not_started",
        "cases": [],
        "items": [],
        "actual_start": None,
    }
    permit = stages["construction_permit"]
    assert permit["status"] == "running"
    assert [case["external_no"] for case in permit["cases"]] == ["GG-PERMIT"]
    [permit_item] = permit["items"]
    assert permit_item["standard_end"] == "2026-06-08"
    assert permit_item["warning_level"] == "overdue"
    assert permit_item["first_overdue_on"] == "2026-06-09"


def test_the_permit_stops_the_clock_and_completion_acceptance_does_not_count(world):
    approval_item_change_status(item=world["permit_item"], status=Blzt.APPROVED, by=None, occurred_at=at(6, 5, 16))
    body = plan(world["admin"], world["project"]).json()
    assert body["status"] == "permit_obtained"
    assert body["construction_permit_on"] == "2026-06-05"
    # 2026-03-01 → 2026-06-05; the open completion acceptance item does not keep it running.
    assert body["elapsed_days"] == 96
    assert body["remaining_days"] == 64
    completion = next(row for row in body["stages"] if row["stage"] == "completion_acceptance")
    assert completion["status"] == "running"


def test_the_standard_days_follow_the_type_and_an_override(world):
    project = world["project"]
    client = client_for(world["admin"])
    Project.objects.filter(pk=project.pk).update(is_simple_low_risk=True)
    assert plan(world["admin"], project).json()["standard_days"] == 60
    Project.objects.filter(pk=project.pk).update(is_simple_low_risk=False, investment_type="state_owned")
    assert plan(world["admin"], project).json()["standard_days"] == 210
    response = client.patch(f"/api/v1/projects/{project.pk}/", {"standard_days_override": 100}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["standard_days_override"] == 100
    body = plan(world["admin"], project).json()
    assert (body["standard_days"], body["is_standard_days_overridden"]) == (100, True)
    assert (body["remaining_days"], body["is_over_standard"]) == (-22, True)


def test_working_days_when_configured(world, settings):
    settings.STANDARD_DAYS_UNIT = "working"
    body = plan(world["admin"], world["project"]).json()
    assert body["standard_days_unit"] == "working"
    # Working days after Sunday 2026-03-01 up to 2026-07-01 (Qingming 04-04..06, Labour Day
    # 05-01..05, Dragon Boat 06-19..21; make-up days 05-09): counted from the calendar.
    from backend.cases.deadlines import calendar_load, working_days_between

    expected = working_days_between(calendar_load(), dt.date(2026, 3, 1), dt.date(2026, 7, 1))
    assert body["elapsed_days"] == expected
    assert body["remaining_days"] == 160 - expected
    assert 80 < expected < 90


def test_without_a_milestone_the_plan_lists_the_stages_only(world):
    Project.objects.filter(pk=world["project"].pk).update(start_milestone="", start_milestone_on=None)
    body = plan(world["admin"], world["project"]).json()
    assert body["status"] == "no_start_milestone"
    assert (body["elapsed_days"], body["remaining_days"], body["standard_end"]) == (None, None, None)
    assert len(body["stages"][0]["items"]) == 1


def test_scoping_a_department_sees_only_its_cases_and_others_get_404(world):
    far = OrganizationFactory(name="淄博市自然资源局", region="370300")
    # Only the permit case (its own item), outside its region.
    world["permit_item"].department = far
    world["permit_item"].save(update_fields=["department"])
    far_user = UserFactory(organization=far)
    body = plan(far_user, world["project"]).json()
    stages = {row["stage"]: row for row in body["stages"]}
    assert [case["external_no"] for case in stages["construction_permit"]["cases"]] == ["GG-PERMIT"]
    assert stages["land_use_planning"]["items"] == []
    stranger = UserFactory(organization=OrganizationFactory(name="烟台市住建局", region="370600"))
    response = plan(stranger, world["project"])
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    builder = UserFactory(organization=world["project"].builder, roles=[Role.BUILDER_REPRESENTATIVE])
    assert plan(builder, world["project"]).status_code == 200


def test_bad_input_is_a_problem_and_writes_nothing(world):
    client = client_for(world["admin"])
    project = world["project"]
    url = f"/api/v1/projects/{project.pk}/"
    for body, field in [
        ({"start_milestone": "ground_breaking", "start_milestone_on": "2026-03-01"}, "start_milestone"),
        ({"start_milestone": "", "start_milestone_on": "2026-03-01"}, "start_milestone"),
        ({"start_milestone": "project_approval", "start_milestone_on": None}, "start_milestone_on"),
        ({"start_milestone_on": "2099-01-01"}, "start_milestone_on"),
        ({"standard_days_override": 0}, "standard_days_override"),
    ]:
        response = client.patch(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert field in response.json()["errors"], (body, response.json())
    project.refresh_from_db()
    assert (project.start_milestone, project.start_milestone_on) == ("land_contract", dt.date(2026, 3, 1))
    assert project.standard_days_override is None
    assert plan(world["admin"], project, as_of="01-07-2026").json()["code"] == "validation_error"
    assert client.get("/api/v1/projects/not-a-uuid/plan/").status_code == 404


def test_the_approval_system_sets_the_milestone_by_upsert():
    OrganizationFactory(name="自然资源局", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    integration = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.EXTERNAL_SYSTEM, region="37"), roles=[Role.INTEGRATION]
    )
    body = upsert_body()
    body["project"].update(start_milestone="project_approval", start_milestone_on="2026-02-20")
    client = client_for(integration)
    response = client.put("/api/v1/cases/by-external/GG-2026-0100", body, format="json")
    assert response.status_code in (200, 201), response.content
    project = Project.objects.get(code="2404-370211-04-01-123456")
    assert (project.start_milestone, project.start_milestone_on) == ("project_approval", dt.date(2026, 2, 20))
    # Omitted later: kept.
    response = client.put("/api/v1/cases/by-external/GG-2026-0100", upsert_body(), format="json")
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.start_milestone_on == dt.date(2026, 2, 20)
    plan_body = client.get(f"/api/v1/projects/{project.pk}/plan/", {"as_of": "2026-03-02"}).json()
    assert (plan_body["start_milestone"], plan_body["elapsed_days"]) == ("project_approval", 10)
    # A date without its milestone is refused and changes nothing.
    bad = upsert_body()
    bad["project"].update(start_milestone="", start_milestone_on="2026-01-01")
    response = client.put("/api/v1/cases/by-external/GG-2026-0100", bad, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_start_milestone"
    project.refresh_from_db()
    assert project.start_milestone_on == dt.date(2026, 2, 20)
