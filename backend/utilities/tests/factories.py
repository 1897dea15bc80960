from types import SimpleNamespace

import factory

from backend.accounts.models import Organization, OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.sites.tests.factories import SiteFactory

VALID_DEMANDS = {
    UtilityType.WATER: {
        "use_type": "industrial",
        "daily_m3": 350.5,
        "meter_diameter_mm": 100,
        "supply_mode": "municipal_direct",
        "households": 0,
        "buildings": 3,
        "floors": 5,
    },
    UtilityType.POWER: {
        "capacity_kva": 2500,
        "is_addition": False,
        "voltage_kv": 10,
        "supply": "dual",
        "load_class": 2,
        "metering": "high_side",
    },
    UtilityType.GAS: {"peak_m3h": 120, "annual_m3": 600000, "pressure": "medium"},
    UtilityType.HEATING: {"heat_load_kw": 1800, "heated_area_m2": 24000, "medium": "hot_water"},
    UtilityType.TELECOM: {"ports": 200, "fibre_pairs": 24, "operators": ["china_unicom", "china_telecom"]},
}


class UtilityCompanyFactory(OrganizationFactory):
    kind = OrganizationKind.UTILITY_COMPANY
    name = factory.Sequence(lambda n: f"公用事业公司{n}")
    utility_types = factory.LazyFunction(lambda: [UtilityType.WATER])
    region = "370211"


def utility_world() -> SimpleNamespace:
    """A case with a site in region 370211, one company per utility type there, and users of
    every kind that matters for scoping."""
    site = SiteFactory()
    case = site.case
    companies = {t: UtilityCompanyFactory(utility_types=[t], name=f"{t}公司") for t in UtilityType.values}
    company_users = {t: UserFactory(organization=companies[t], roles=[Role.UTILITY_STAFF]) for t in companies}
    official = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.OFFICIAL],
    )
    outside_official = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370100"),
        roles=[Role.OFFICIAL],
    )
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    case.assigned_organizations.add(crew)
    surveyor = UserFactory(organization=crew, roles=[Role.SURVEYOR])
    other_crew_surveyor = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.SURVEY_CREW), roles=[Role.SURVEYOR]
    )
    builder = UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])
    return SimpleNamespace(
        site=site,
        case=case,
        companies=companies,
        company_users=company_users,
        official=official,
        outside_official=outside_official,
        surveyor=surveyor,
        other_crew_surveyor=other_crew_surveyor,
        builder=builder,
    )


def company_named(name: str) -> Organization:
    return Organization.objects.get(name=name)
