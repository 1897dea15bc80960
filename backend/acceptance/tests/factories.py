"""Helpers for acceptance tests: departments for catalogue codes and inspections made by the services."""

from backend.acceptance.models import CatalogueItem, Inspection
from backend.acceptance.services import inspection_create
from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import ApprovalCase, Priority
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory

STAGE_1_CODES = ["planning_verification", "fire", "archives", "completion_filing", "civil_air_defence"]
STAGE_2_CODES = ["soil_water_conservation", "telecom_infrastructure", "lightning_protection"]


def stage_codes(stage: int) -> list[str]:
    return list(CatalogueItem.objects.filter(stage=stage, is_active=True).values_list("code", flat=True))


def departments_for(stage: int) -> dict[str, Organization]:
    """A fresh approval department for every catalogue code of the stage."""
    return {code: OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT) for code in stage_codes(stage)}


def department_user(organization: Organization) -> User:
    return UserFactory(organization=organization, roles=[Role.OFFICIAL, Role.INSPECTOR])


def key_case(**kwargs) -> ApprovalCase:
    return ApprovalCaseFactory(project=ProjectFactory(priority=Priority.CITY), **kwargs)


def make_inspection(
    *, case: ApprovalCase | None = None, stage: int = 1, departments: dict[str, Organization] | None = None, **kwargs
) -> tuple[Inspection, dict[str, Organization]]:
    """An inspection created by the service (as the system), with one new department per item."""
    case = case or ApprovalCaseFactory()
    departments = departments or departments_for(stage)
    inspection, _created = inspection_create(
        by=None, case=case, stage=stage, departments={code: org.pk for code, org in departments.items()}, **kwargs
    )
    return inspection, departments
