"""device_token_get_active: the same rows the ORM would load, and no memory between calls."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.accounts.models import DeviceToken, OrganizationKind, UtilityType
from backend.accounts.selectors import device_token_get_active
from backend.accounts.services import device_token_issue, device_token_revoke
from backend.accounts.tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def field_values(instance) -> dict:
    return {field.attname: field.value_from_object(instance) for field in type(instance)._meta.concrete_fields}


def test_loads_token_user_and_organisation_whole_in_one_query():
    company = OrganizationFactory(kind=OrganizationKind.UTILITY_COMPANY, utility_types=[UtilityType.WATER])
    user = UserFactory(organization=company, roles=["surveyor"], full_name="张三")
    raw, issued = device_token_issue(user=user, device_id="phone-1")
    expected = DeviceToken.objects.select_related("user", "user__organization").get(pk=issued.pk)

    with CaptureQueriesContext(connection) as queries:
        token = device_token_get_active(raw=raw)
        assert field_values(token) == field_values(expected)
        assert field_values(token.user) == field_values(expected.user)
        assert field_values(token.user.organization) == field_values(expected.user.organization)
        assert token.user.organization.utility_types == [UtilityType.WATER]
        assert token.user.roles == ["surveyor"]
    assert len(queries) == 1
    # Ordinary instances: saving one is an UPDATE of the loaded row.
    token.device_name = "renamed"
    token.save(update_fields=["device_name"])
    assert DeviceToken.objects.get(pk=issued.pk).device_name == "renamed"


def test_a_user_without_an_organisation():
    raw, _ = device_token_issue(user=UserFactory(organization=None), device_id="laptop")
    with CaptureQueriesContext(connection) as queries:
        assert device_token_get_active(raw=raw).user.organization is None
    assert len(queries) == 1


def test_revocation_and_expiry_apply_to_the_very_next_call():
    raw, token = device_token_issue(user=UserFactory(), device_id="phone-2")
    assert device_token_get_active(raw=raw) is not None
    device_token_revoke(token=token)
    assert device_token_get_active(raw=raw) is None

    raw, token = device_token_issue(user=UserFactory(), device_id="phone-3")
    assert device_token_get_active(raw=raw) is not None
    DeviceToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert device_token_get_active(raw=raw) is None


def test_an_unknown_token_is_none():
    device_token_issue(user=UserFactory(), device_id="phone-4")
    assert device_token_get_active(raw="not-a-token") is None
