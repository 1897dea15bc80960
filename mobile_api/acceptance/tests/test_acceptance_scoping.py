"""Who sees which acceptance records over HTTP: departments see their own items only; outsiders nothing."""

import pytest
from rest_framework.test import APIClient

from backend.acceptance.models import InspectionItem
from backend.acceptance.services import inspection_item_record_result, rectification_create
from backend.acceptance.tests.factories import department_user, make_inspection
from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world():
    inspection, departments = make_inspection(stage=2)
    items = {item.code: item for item in InspectionItem.objects.filter(inspection=inspection)}
    lightning = department_user(departments["lightning_protection"])
    inspection_item_record_result(item=items["lightning_protection"], result="fail", by=lightning)
    rectification, _ = rectification_create(
        by=lightning, inspection_item=items["lightning_protection"], description="接地电阻超标"
    )
    team = user_of_kind(OrganizationKind.ACCEPTANCE_TEAM, roles=[Role.INSPECTOR])
    inspection.case.assigned_organizations.add(team.organization)
    return {
        "inspection": inspection,
        "items": items,
        "rectification": rectification,
        "departments": departments,
        "lightning": lightning,
        "telecom": department_user(departments["telecom_infrastructure"]),
        "team": team,
    }


def _ids(response) -> list[str]:
    assert response.status_code == 200
    return sorted(row["id"] for row in response.json()["results"])


def test_a_department_sees_only_its_own_items_and_their_inspection(world):
    lightning, telecom = _client(world["lightning"]), _client(world["telecom"])
    items = world["items"]

    assert _ids(lightning.get("/api/v1/inspection-items/")) == [str(items["lightning_protection"].pk)]
    assert _ids(telecom.get("/api/v1/inspection-items/")) == [str(items["telecom_infrastructure"].pk)]
    assert _ids(lightning.get("/api/v1/inspections/")) == [str(world["inspection"].pk)]
    assert _ids(lightning.get("/api/v1/rectifications/")) == [str(world["rectification"].pk)]
    assert _ids(telecom.get("/api/v1/rectifications/")) == []
    assert lightning.get(f"/api/v1/inspection-items/{items['telecom_infrastructure'].pk}/").status_code == 404
    assert telecom.get(f"/api/v1/rectifications/{world['rectification'].pk}/").status_code == 404
    assert (
        telecom.post(f"/api/v1/rectifications/{world['rectification'].pk}/fix/", {}, format="json").status_code == 404
    )


def test_the_assigned_acceptance_team_and_the_coordinating_bureau_see_every_item(world):
    bureau = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"))
    all_items = sorted(str(item.pk) for item in world["items"].values())

    for user in (world["team"], bureau):
        client = _client(user)
        assert _ids(client.get("/api/v1/inspection-items/")) == all_items
        assert _ids(client.get("/api/v1/inspections/")) == [str(world["inspection"].pk)]
        assert _ids(client.get("/api/v1/rectifications/")) == [str(world["rectification"].pk)]


def test_unrelated_organisations_get_no_success_anywhere(world):
    inspection, rectification = world["inspection"], world["rectification"]
    item = world["items"]["lightning_protection"]
    outsiders = [
        user_of_kind(OrganizationKind.UTILITY_COMPANY, roles=[Role.UTILITY_STAFF]),
        user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR]),
        user_of_kind(OrganizationKind.ACCEPTANCE_TEAM, roles=[Role.INSPECTOR]),
        user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_LEAD]),
        user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE]),
        user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370102"),
    ]
    # The utility company is even assigned to the case (it answers a connection request there).
    inspection.case.assigned_organizations.add(outsiders[0].organization)
    requests = [
        ("get", f"/api/v1/inspections/{inspection.pk}/", None),
        ("patch", f"/api/v1/inspections/{inspection.pk}/", {"remarks": "x"}),
        ("delete", f"/api/v1/inspections/{inspection.pk}/", None),
        ("post", f"/api/v1/inspections/{inspection.pk}/reinspect/", {}),
        ("post", f"/api/v1/inspections/{inspection.pk}/reopen/", {"reason": "x"}),
        ("post", "/api/v1/inspections/", {"case": str(inspection.case_id), "stage": 1}),
        ("get", f"/api/v1/inspection-items/{item.pk}/", None),
        ("patch", f"/api/v1/inspection-items/{item.pk}/", {"remarks": "x"}),
        ("post", f"/api/v1/inspection-items/{item.pk}/record/", {"result": "pass"}),
        ("get", f"/api/v1/rectifications/{rectification.pk}/", None),
        ("patch", f"/api/v1/rectifications/{rectification.pk}/", {"description": "x"}),
        ("delete", f"/api/v1/rectifications/{rectification.pk}/", None),
        ("post", "/api/v1/rectifications/", {"inspection_item": str(item.pk), "description": "x"}),
        ("post", f"/api/v1/rectifications/{rectification.pk}/fix/", {}),
        ("post", f"/api/v1/rectifications/{rectification.pk}/verify/", {}),
    ]
    unexpected = []
    for user in outsiders:
        client = _client(user)
        for path in ("/api/v1/inspections/", "/api/v1/inspection-items/", "/api/v1/rectifications/"):
            if _ids(client.get(path)) != []:
                unexpected.append((user.organization.kind, "list", path))
        for method, path, body in requests:
            response = getattr(client, method)(path, body, format="json", HTTP_IF_MATCH='"1"')
            if 200 <= response.status_code < 300:
                unexpected.append((user.organization.kind, method, path, response.status_code))

    assert unexpected == []
    item.refresh_from_db()
    rectification.refresh_from_db()
    assert (item.result, item.version, rectification.status, rectification.version) == ("fail", 2, "open", 1)
