"""An inspection's items go to departments of the case's region, never to the catalogue's
Qingdao West Coast departments for a case elsewhere; every entry point (service, REST, sync push)."""

import uuid

import pytest
from rest_framework.test import APIClient

from backend.acceptance.models import CatalogueItem, Inspection, InspectionItem
from backend.acceptance.services import inspection_create
from backend.accounts.models import Organization, OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.common.errors import ValidationFailed
from backend.demo import accounts as accounts_demo

pytestmark = pytest.mark.django_db

STAGE_2 = ["soil_water_conservation", "telecom_infrastructure", "lightning_protection"]
WEST_COAST_STAGE_2 = {
    "soil_water_conservation": "青岛西海岸新区水务局",
    "telecom_infrastructure": "青岛西海岸新区通信发展办",
    "lightning_protection": "青岛西海岸新区气象局",
}


@pytest.fixture
def west_coast_departments():
    accounts_demo.seed()  # the catalogue's default departments, by name, in region 370211


def _jinan_case():
    return ApprovalCaseFactory(project=ProjectFactory(code="2404-370102-04-01-000777"))


def _nothing_written(case) -> None:
    assert Inspection.all_objects.count() == 0
    assert InspectionItem.all_objects.count() == 0
    assert case.assigned_organizations.count() == 0
    assert AuditEntry.objects.count() == 0


def test_a_case_in_the_catalogues_region_gets_its_departments(west_coast_departments):
    case = ApprovalCaseFactory()  # region 370211

    inspection, _ = inspection_create(by=None, case=case, stage=2)

    items = dict(InspectionItem.objects.filter(inspection=inspection).values_list("code", "department__name"))
    assert items == WEST_COAST_STAGE_2


def test_a_case_elsewhere_does_not_get_the_catalogues_departments(west_coast_departments):
    case = _jinan_case()

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=case, stage=2)

    assert raised.value.code == "missing_department"
    assert raised.value.message == (
        "No department of region 370102 for: soil_water_conservation, telecom_infrastructure, "
        "lightning_protection; name one in `departments`."
    )
    assert raised.value.errors == {
        f"departments.{code}": [f"The catalogue's {name} does not serve region 370102; name one that does."]
        for code, name in WEST_COAST_STAGE_2.items()
    }
    _nothing_written(case)


def test_a_catalogue_department_linked_by_id_is_held_to_the_region_too(west_coast_departments):
    linked = Organization.objects.get(name="青岛西海岸新区气象局")
    CatalogueItem.objects.filter(code="lightning_protection").update(default_department=linked)
    jinan = {code: OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="3701") for code in STAGE_2}
    case = _jinan_case()

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=case, stage=2, departments={code: jinan[code].pk for code in STAGE_2[:2]})

    assert raised.value.errors == {
        "departments.lightning_protection": [
            "The catalogue's 青岛西海岸新区气象局 does not serve region 370102; name one that does."
        ]
    }
    _nothing_written(case)


def test_departments_of_the_cases_region_are_assigned(west_coast_departments):
    # A city-wide department (region 3701) serves a district case (370102).
    jinan = {code: OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="3701") for code in STAGE_2}
    case = _jinan_case()

    inspection, _ = inspection_create(by=None, case=case, stage=2, departments={c: o.pk for c, o in jinan.items()})

    items = dict(InspectionItem.objects.filter(inspection=inspection).values_list("code", "department"))
    assert items == {code: org.pk for code, org in jinan.items()}
    assert set(case.assigned_organizations.values_list("pk", flat=True)) == {org.pk for org in jinan.values()}


def test_a_named_department_of_another_region_is_refused(west_coast_departments):
    jinan = {code: OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370102") for code in STAGE_2}
    west_coast = Organization.objects.get(name="青岛西海岸新区水务局")
    regionless = OrganizationFactory(name="无辖区部门", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="")
    case = _jinan_case()
    departments = {**{c: o.pk for c, o in jinan.items()}, "soil_water_conservation": west_coast.pk}
    departments["telecom_infrastructure"] = regionless.pk

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=case, stage=2, departments=departments)

    assert raised.value.code == "department_outside_region"
    assert raised.value.errors == {
        "departments.soil_water_conservation": ["青岛西海岸新区水务局 does not serve region 370102."],
        "departments.telecom_infrastructure": ["无辖区部门 does not serve region 370102."],
    }
    _nothing_written(case)


def _jinan_official():
    bureau = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370102")
    client = APIClient()
    client.force_authenticate(UserFactory(organization=bureau, roles=[Role.OFFICIAL]))
    return client


def test_rest_and_sync_push_refuse_the_catalogues_departments_for_a_case_elsewhere(west_coast_departments):
    case = _jinan_case()
    client = _jinan_official()

    response = client.post("/api/v1/inspections/", {"case": str(case.pk), "stage": 2}, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "missing_department"
    assert response.json()["errors"] == {
        f"departments.{code}": [f"The catalogue's {name} does not serve region 370102; name one that does."]
        for code, name in WEST_COAST_STAGE_2.items()
    }

    operation = {
        "op_id": str(uuid.uuid4()),
        "type": "inspection",
        "action": "upsert",
        "id": str(uuid.uuid4()),
        "base_version": None,
        "data": {"case": str(case.pk), "stage": 2},
    }
    pushed = client.post("/api/v1/sync/push", {"device_id": "tablet-1", "operations": [operation]}, format="json")

    assert pushed.status_code == 200
    (receipt,) = pushed.json()["receipts"]
    assert receipt["status"] == "rejected"
    assert sorted(receipt["errors"]) == [f"departments.{code}" for code in sorted(STAGE_2)]
    _nothing_written(case)
