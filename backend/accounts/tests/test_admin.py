import pytest
from django.urls import reverse

from backend.accounts.models import Organization, User
from backend.accounts.services import device_token_issue
from backend.accounts.tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True, roles=[]))
    return client


def test_admin_pages_render(admin_client):
    user = UserFactory(username="someone")
    _, token = device_token_issue(user=user, device_id="tablet-3")
    for url in [
        reverse("admin:accounts_organization_changelist"),
        reverse("admin:accounts_organization_add"),
        reverse("admin:accounts_organization_change", args=[user.organization_id]),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_add"),
        reverse("admin:accounts_user_change", args=[user.pk]),
        reverse("admin:accounts_devicetoken_changelist"),
        reverse("admin:accounts_devicetoken_change", args=[token.pk]),
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert token.key_hash not in response.content.decode()


def test_device_tokens_are_read_only_in_admin(admin_client):
    assert admin_client.get(reverse("admin:accounts_devicetoken_add")).status_code == 403


def test_admin_revoke_action(admin_client):
    user = UserFactory()
    _, tablet = device_token_issue(user=user, device_id="tablet")
    _, phone = device_token_issue(user=user, device_id="phone")
    response = admin_client.post(
        reverse("admin:accounts_devicetoken_changelist"),
        {"action": "revoke", "_selected_action": [str(tablet.pk)]},
    )
    assert response.status_code == 302
    tablet.refresh_from_db()
    phone.refresh_from_db()
    assert tablet.revoked_at is not None
    assert phone.revoked_at is None


def test_admin_creates_a_user_with_roles(admin_client):
    org = OrganizationFactory(kind="survey_crew")
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "crew9",
            "password1": "field-work-2026",
            "password2": "field-work-2026",
            "usable_password": "true",
            "full_name": "王五",
            "organization": str(org.pk),
            "roles": ["surveyor", "inspector"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="crew9")
    assert (user.organization, user.roles, user.full_name) == (org, ["surveyor", "inspector"], "王五")
    assert user.check_password("field-work-2026")


def test_admin_refuses_utility_types_on_a_non_utility_organisation(admin_client):
    response = admin_client.post(
        reverse("admin:accounts_organization_add"),
        {"name": "审批局X", "kind": "approval_department", "utility_types": ["water"], "region": "370211"},
    )
    assert response.status_code == 200
    assert "Only utility companies have utility types." in response.content.decode()
    assert not Organization.objects.filter(name="审批局X").exists()
