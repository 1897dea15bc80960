import uuid

import pytest
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection, InspectionItem, InspectionResult, RectificationItem
from backend.acceptance.services import inspection_item_record_result, inspection_mark_signed
from backend.acceptance.tests.factories import (
    STAGE_1_CODES,
    department_user,
    departments_for,
    key_case,
    make_inspection,
)
from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _official():
    return UserFactory(roles=[Role.OFFICIAL])


def test_catalogue_is_readable_by_every_user():
    utility = user_of_kind(OrganizationKind.UTILITY_COMPANY, roles=[Role.UTILITY_STAFF])

    response = _client(utility).get("/api/v1/inspections/catalogue/?stage=2")

    assert response.status_code == 200
    assert [row["code"] for row in response.json()["results"]] == [
        "soil_water_conservation",
        "telecom_infrastructure",
        "lightning_protection",
    ]
    assert response.json()["results"][2] == {
        "code": "lightning_protection",
        "stage": 2,
        "name": "防雷装置竣工验收",
        "department": None,
        "department_name": "青岛西海岸新区气象局",
        "order": 8,
    }


def test_create_with_client_id_replays_and_conflicts():
    case = ApprovalCaseFactory()
    departments = {code: str(org.pk) for code, org in departments_for(2).items()}
    record_id = str(uuid.uuid4())
    body = {"id": record_id, "case": str(case.pk), "stage": 2, "departments": departments}
    client = _client(_official())

    first = client.post("/api/v1/inspections/", body, format="json")
    again = client.post("/api/v1/inspections/", body, format="json")
    other = client.post("/api/v1/inspections/", {**body, "remarks": "不同内容"}, format="json")

    assert first.status_code == 201
    assert first.json()["id"] == record_id
    assert (first.json()["status"], first.json()["results_complete"], first.json()["version"]) == (
        "scheduled",
        False,
        1,
    )
    assert first["ETag"] == '"1"'
    assert again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["code"] == "id_conflict"
    assert Inspection.objects.count() == 1
    assert InspectionItem.objects.count() == 3


def test_key_project_partial_stage_1_is_refused_over_http():
    case = key_case()
    departments = {code: str(org.pk) for code, org in departments_for(1).items()}

    response = _client(_official()).post(
        "/api/v1/inspections/",
        {"case": str(case.pk), "stage": 1, "departments": departments, "item_codes": STAGE_1_CODES[:3]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "key_project_requires_full_stage"
    assert Inspection.all_objects.count() == 0


def test_missing_department_is_a_400():
    response = _client(_official()).post(
        "/api/v1/inspections/", {"case": str(ApprovalCaseFactory().pk), "stage": 2}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "missing_department"
    assert sorted(response.json()["errors"]) == [
        "departments.lightning_protection",
        "departments.soil_water_conservation",
        "departments.telecom_infrastructure",
    ]


def test_status_cannot_be_written():
    inspection, _ = make_inspection(stage=2)

    response = _client(_official()).patch(
        f"/api/v1/inspections/{inspection.pk}/", {"status": "signed"}, format="json", HTTP_IF_MATCH='"1"'
    )

    assert response.status_code == 200
    assert response.json()["status"] == "scheduled"
    inspection.refresh_from_db()
    assert (inspection.status, inspection.version) == ("scheduled", 1)


def test_the_department_records_by_action_and_others_cannot():
    inspection, departments = make_inspection(stage=2)
    item = InspectionItem.objects.get(inspection=inspection, code="lightning_protection")
    url = f"/api/v1/inspection-items/{item.pk}/record/"
    team = user_of_kind(OrganizationKind.ACCEPTANCE_TEAM, roles=[Role.INSPECTOR])
    inspection.case.assigned_organizations.add(team.organization)

    other_department = _client(department_user(departments["telecom_infrastructure"])).post(
        url, {"result": "pass"}, format="json"
    )
    acceptance_team = _client(team).post(url, {"result": "pass"}, format="json")
    item.refresh_from_db()
    assert (other_department.status_code, acceptance_team.status_code) == (404, 403)
    assert (item.result, item.version) == ("pending", 1)

    client = _client(department_user(departments["lightning_protection"]))
    response = client.post(url, {"result": "fail", "remarks": "引下线锈蚀"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = client.post(url, {"result": "fail", "remarks": "引下线锈蚀"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    reuse = client.post(url, {"result": "pass"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 200
    assert (response.json()["result"], response.json()["remarks"], response.json()["is_final"]) == (
        "fail",
        "引下线锈蚀",
        False,
    )
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == response.json()
    assert reuse.status_code == 422
    assert reuse.json()["code"] == "idempotency_key_reuse"
    item.refresh_from_db()
    assert (item.result, item.version) == ("fail", 2)


def test_patch_result_needs_a_current_if_match():
    inspection, departments = make_inspection(stage=2)
    item = InspectionItem.objects.get(inspection=inspection, code="lightning_protection")
    client = _client(department_user(departments["lightning_protection"]))
    url = f"/api/v1/inspection-items/{item.pk}/"

    missing = client.patch(url, {"result": "pass"}, format="json")
    stale = client.patch(url, {"result": "pass"}, format="json", HTTP_IF_MATCH='"4"')
    stale_action = client.post(f"{url}record/", {"result": "pass"}, format="json", HTTP_IF_MATCH='"4"')
    item.refresh_from_db()
    assert (missing.status_code, missing.json()["code"]) == (428, "precondition_required")
    assert (stale.status_code, stale.json()["code"]) == (412, "version_mismatch")
    assert stale.json()["current"]["version"] == 1
    assert (stale_action.status_code, stale_action.json()["code"]) == (412, "version_mismatch")
    assert (item.result, item.version) == ("pending", 1)

    current = client.patch(url, {"result": "pass"}, format="json", HTTP_IF_MATCH='"1"')
    assert current.status_code == 200
    assert (current.json()["result"], current.json()["is_final"], current["ETag"]) == ("pass", True, '"3"')


def test_items_cannot_be_created_or_deleted_alone():
    inspection, _ = make_inspection(stage=2)
    item = InspectionItem.objects.get(inspection=inspection, code="lightning_protection")
    client = _client(UserFactory(organization=None, is_superuser=True))

    created = client.post("/api/v1/inspection-items/", {"inspection": str(inspection.pk)}, format="json")
    deleted = client.delete(f"/api/v1/inspection-items/{item.pk}/")

    assert (created.status_code, deleted.status_code) == (405, 405)
    assert InspectionItem.objects.filter(inspection=inspection).count() == 3


def test_rectification_flow_and_reinspection_over_http():
    inspection, departments = make_inspection(stage=2)
    item = InspectionItem.objects.get(inspection=inspection, code="lightning_protection")
    department = _client(department_user(departments["lightning_protection"]))
    department.post(f"/api/v1/inspection-items/{item.pk}/record/", {"result": "fail"}, format="json")

    created = department.post(
        "/api/v1/rectifications/",
        {"inspection_item": str(item.pk), "description": "避雷带未闭合", "due_date": "2026-04-30"},
        format="json",
    )
    assert created.status_code == 201
    rectification = created.json()
    assert (rectification["status"], rectification["case"], rectification["due_date"]) == (
        "open",
        str(inspection.case_id),
        "2026-04-30",
    )
    url = f"/api/v1/rectifications/{rectification['id']}/"

    illegal = department.post(f"{url}verify/")
    assert (illegal.status_code, illegal.json()["code"]) == (409, "illegal_transition")
    fixed = department.post(f"{url}fix/")
    assert fixed.json()["status"] == "fixed"

    official = _client(_official())
    reinspection = official.post(f"/api/v1/inspections/{inspection.pk}/reinspect/", {}, format="json")
    assert reinspection.status_code == 201
    assert reinspection.json()["reinspection_of"] == str(inspection.pk)
    new_items = department.get(f"/api/v1/inspection-items/?inspection={reinspection.json()['id']}").json()
    assert [(i["code"], i["reinspection_of"]) for i in new_items["results"]] == [("lightning_protection", str(item.pk))]

    department.post(
        f"/api/v1/inspection-items/{new_items['results'][0]['id']}/record/", {"result": "pass"}, format="json"
    )
    verified = department.post(f"{url}verify/")
    assert verified.json()["status"] == "verified"
    detail = official.get(f"/api/v1/inspection-items/{item.pk}/").json()
    assert (detail["result"], detail["is_final"]) == ("fail", True)


def test_signed_inspection_refuses_changes_with_record_locked():
    inspection, departments = make_inspection(stage=2)
    for code, organization in departments.items():
        inspection_item_record_result(
            item=InspectionItem.objects.get(inspection=inspection, code=code),
            result=InspectionResult.FILED,
            by=department_user(organization),
        )
    signed = inspection_mark_signed(inspection=inspection, by=None)
    item = InspectionItem.objects.get(inspection=inspection, code="lightning_protection")
    official = _client(_official())
    department = _client(department_user(departments["lightning_protection"]))

    patch_inspection = official.patch(
        f"/api/v1/inspections/{inspection.pk}/", {"remarks": "改"}, format="json", HTTP_IF_MATCH=f'"{signed.version}"'
    )
    record = department.post(f"/api/v1/inspection-items/{item.pk}/record/", {"result": "fail"}, format="json")
    patch_item = department.patch(
        f"/api/v1/inspection-items/{item.pk}/", {"remarks": "改"}, format="json", HTTP_IF_MATCH=f'"{item.version}"'
    )
    delete = official.delete(f"/api/v1/inspections/{inspection.pk}/")

    assert [r.status_code for r in (patch_inspection, record, patch_item, delete)] == [409, 409, 409, 409]
    assert {r.json()["code"] for r in (patch_inspection, record, patch_item, delete)} == {"record_locked"}
    item.refresh_from_db()
    assert (item.result, item.remarks) == ("filed", "")
    assert official.get(f"/api/v1/inspections/{inspection.pk}/").json()["status"] == "signed"

    reopened = official.post(f"/api/v1/inspections/{inspection.pk}/reopen/", {"reason": "补充签字"}, format="json")
    assert reopened.status_code == 200
    assert (reopened.json()["status"], reopened.json()["is_locked"]) == ("results_complete", False)
    assert RectificationItem.objects.count() == 0


def test_inspections_appear_on_the_case_timeline_scoped_per_department():
    inspection, departments = make_inspection(stage=2)
    admin = UserFactory(organization=None, is_superuser=True)
    department = department_user(departments["lightning_protection"])

    everything = _client(admin).get(f"/api/v1/cases/{inspection.case_id}/timeline/")
    own = _client(department).get(f"/api/v1/cases/{inspection.case_id}/timeline/")

    assert everything.status_code == 200
    assert sorted(row["type"] for row in everything.json()["results"]) == [
        "inspection",
        "inspection_item",
        "inspection_item",
        "inspection_item",
    ]
    assert sorted(row["type"] for row in own.json()["results"]) == ["inspection", "inspection_item"]
