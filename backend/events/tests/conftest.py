import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.events.tests.receiver import start_receiver


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


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
def approval_system():
    """A user of the external approval system (no region: it sees every case)."""
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.EXTERNAL_SYSTEM, region=""), roles=[Role.INTEGRATION]
    )


@pytest.fixture
def other_district_admin():
    """The administrator of a department of another district: its organisation sees none of the factory cases."""
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370202"),
        roles=[Role.ADMINISTRATOR],
    )


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client
