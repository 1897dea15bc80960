import pytest

from backend.acceptance.models import CatalogueItem, Inspection, InspectionItem, InspectionResult, InspectionStatus
from backend.acceptance.services import inspection_create
from backend.acceptance.tests.factories import (
    STAGE_1_CODES,
    STAGE_2_CODES,
    departments_for,
    key_case,
    make_inspection,
)
from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_catalogue_is_seeded_with_both_stages():
    rows = list(CatalogueItem.objects.order_by("stage", "order").values_list("stage", "code", "name"))
    assert rows == [
        (1, "planning_verification", "竣工规划核实"),
        (1, "fire", "消防验收或备案"),
        (1, "archives", "档案验收"),
        (1, "completion_filing", "房屋建筑和市政基础设施工程竣工验收备案"),
        (1, "civil_air_defence", "人防工程竣工验收备案"),
        (2, "soil_water_conservation", "水土保持设施验收报备"),
        (2, "telecom_infrastructure", "电信基础设施工程备案"),
        (2, "lightning_protection", "防雷装置竣工验收"),
    ]


def test_stage_1_inspection_has_exactly_the_stage_1_catalogue_items():
    inspection, departments = make_inspection(stage=1)

    items = {item.code: item for item in InspectionItem.objects.filter(inspection=inspection)}
    assert sorted(items) == sorted(STAGE_1_CODES)
    assert {code: item.department_id for code, item in items.items()} == {
        code: org.pk for code, org in departments.items()
    }
    assert items["fire"].name == "消防验收或备案"
    assert {item.result for item in items.values()} == {InspectionResult.PENDING}
    assert {item.case_id for item in items.values()} == {inspection.case_id}
    assert inspection.status == InspectionStatus.SCHEDULED
    assert inspection.version == 1


def test_stage_2_inspection_has_exactly_the_stage_2_catalogue_items():
    inspection, _ = make_inspection(stage=2)

    codes = sorted(InspectionItem.objects.filter(inspection=inspection).values_list("code", flat=True))
    assert codes == sorted(STAGE_2_CODES)


def test_an_inactive_catalogue_row_is_not_inspected():
    CatalogueItem.objects.filter(code="lightning_protection").update(is_active=False)

    inspection, _ = make_inspection(stage=2)

    codes = sorted(InspectionItem.objects.filter(inspection=inspection).values_list("code", flat=True))
    assert codes == ["soil_water_conservation", "telecom_infrastructure"]


def test_every_department_is_assigned_to_the_case():
    inspection, departments = make_inspection(stage=2)

    assigned = set(inspection.case.assigned_organizations.values_list("pk", flat=True))
    assert assigned == {org.pk for org in departments.values()}


def test_department_falls_back_to_the_catalogue_organisation_then_its_name():
    named = OrganizationFactory(name="青岛西海岸新区气象局", kind=OrganizationKind.APPROVAL_DEPARTMENT)
    linked = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT)
    CatalogueItem.objects.filter(code="telecom_infrastructure").update(default_department=linked)
    water = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT)
    case = ApprovalCaseFactory()

    inspection, _ = inspection_create(by=None, case=case, stage=2, departments={"soil_water_conservation": water.pk})

    departments = dict(InspectionItem.objects.filter(inspection=inspection).values_list("code", "department"))
    assert departments == {
        "soil_water_conservation": water.pk,
        "telecom_infrastructure": linked.pk,
        "lightning_protection": named.pk,
    }


def test_missing_department_is_refused_and_nothing_is_written():
    case = ApprovalCaseFactory()
    departments = departments_for(1)
    del departments["archives"]

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=case, stage=1, departments={c: o.pk for c, o in departments.items()})

    assert raised.value.code == "missing_department"
    assert raised.value.errors == {"departments.archives": ["No department known for this item."]}
    assert Inspection.all_objects.count() == 0
    assert InspectionItem.all_objects.count() == 0
    assert case.assigned_organizations.count() == 0


def test_a_department_that_is_not_an_approval_department_is_refused():
    departments = {code: org.pk for code, org in departments_for(2).items()}
    departments["telecom_infrastructure"] = OrganizationFactory(kind=OrganizationKind.UTILITY_COMPANY).pk

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=ApprovalCaseFactory(), stage=2, departments=departments)

    assert raised.value.code == "invalid_department"
    assert Inspection.all_objects.count() == 0


def test_key_project_cannot_inspect_part_of_stage_1():
    case = key_case()
    departments = {code: org.pk for code, org in departments_for(1).items()}

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(
            by=None, case=case, stage=1, departments=departments, item_codes=["planning_verification", "fire"]
        )

    assert raised.value.code == "key_project_requires_full_stage"
    assert Inspection.all_objects.count() == 0
    assert InspectionItem.all_objects.count() == 0


def test_key_project_may_list_all_of_stage_1_explicitly():
    case = key_case()
    departments = {code: org.pk for code, org in departments_for(1).items()}

    inspection, created = inspection_create(
        by=None, case=case, stage=1, departments=departments, item_codes=list(reversed(STAGE_1_CODES))
    )

    assert created is True
    assert InspectionItem.objects.filter(inspection=inspection).count() == 5


def test_other_projects_may_inspect_part_of_stage_1_and_the_rest_later():
    case = ApprovalCaseFactory()
    departments = departments_for(1)

    first, _ = inspection_create(
        by=None, case=case, stage=1, departments={"fire": departments["fire"].pk}, item_codes=["fire"]
    )
    with pytest.raises(Conflict) as raised:
        inspection_create(by=None, case=case, stage=1, departments={c: o.pk for c, o in departments.items()})
    rest = [code for code in STAGE_1_CODES if code != "fire"]
    second, _ = inspection_create(
        by=None, case=case, stage=1, departments={c: departments[c].pk for c in rest}, item_codes=rest
    )

    assert raised.value.code == "item_already_inspected"
    assert list(first.items.values_list("code", flat=True)) == ["fire"]
    assert sorted(second.items.values_list("code", flat=True)) == sorted(rest)


def test_unknown_item_code_is_refused():
    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=ApprovalCaseFactory(), stage=2, item_codes=["fire"])

    assert raised.value.code == "unknown_item_code"
    assert Inspection.all_objects.count() == 0


def test_site_of_another_project_is_refused():
    site = SiteFactory()
    departments = {code: org.pk for code, org in departments_for(2).items()}

    with pytest.raises(ValidationFailed) as raised:
        inspection_create(by=None, case=ApprovalCaseFactory(), site=site, stage=2, departments=departments)

    assert raised.value.code == "case_site_mismatch"
    assert Inspection.all_objects.count() == 0


def test_who_may_schedule_an_inspection():
    case = ApprovalCaseFactory()
    departments = {code: org.pk for code, org in departments_for(2).items()}
    crew = user_of_kind(OrganizationKind.SURVEY_CREW)
    case.assigned_organizations.add(crew.organization)
    outsider = user_of_kind(OrganizationKind.SURVEY_CREW)
    team = user_of_kind(OrganizationKind.ACCEPTANCE_TEAM)
    case.assigned_organizations.add(team.organization)

    with pytest.raises(PermissionDenied):
        inspection_create(by=crew, case=case, stage=2, departments=departments)
    with pytest.raises(NotFound):
        inspection_create(by=outsider, case=case, stage=2, departments=departments)
    assert Inspection.all_objects.count() == 0

    inspection, _ = inspection_create(by=team, case=case, stage=2, departments=departments)
    assert inspection.created_by == team


def test_creation_is_audited_for_the_inspection_and_each_item():
    official = UserFactory()
    inspection, _ = inspection_create(
        by=official,
        case=ApprovalCaseFactory(),
        stage=2,
        departments={code: org.pk for code, org in departments_for(2).items()},
    )

    entries = AuditEntry.objects.filter(action="create").values_list("record_type", flat=True)
    assert sorted(entries) == ["inspection", "inspection_item", "inspection_item", "inspection_item"]
    assert inspection.created_by == official
