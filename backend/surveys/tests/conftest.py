import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory, user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def case():
    return ApprovalCaseFactory()


@pytest.fixture
def official():
    """An official of the approval department whose jurisdiction (370211) covers the factory cases."""
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
        roles=[Role.OFFICIAL],
    )


@pytest.fixture
def outsider():
    """An official of another district: sees none of the factory cases."""
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370202"),
        roles=[Role.OFFICIAL],
    )


@pytest.fixture
def builder(case):
    return UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])


@pytest.fixture
def utility_staff(case):
    user = user_of_kind(OrganizationKind.UTILITY_COMPANY, roles=[Role.UTILITY_STAFF], utility_types=["water"])
    case.assigned_organizations.add(user.organization)
    return user


@pytest.fixture
def crew_member(case):
    user = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    case.assigned_organizations.add(user.organization)
    return user


@pytest.fixture
def api(official):
    client = APIClient()
    client.force_authenticate(official)
    return client
