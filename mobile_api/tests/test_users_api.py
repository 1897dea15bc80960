import pytest

from backend.accounts.models import DeviceToken, Role, User
from backend.accounts.services import device_token_issue
from backend.accounts.tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS_URL = "/api/v1/users/"


@pytest.fixture
def admin(api_client):
    user = UserFactory(username="boss", roles=[Role.ADMINISTRATOR])
    api_client.force_authenticate(user)
    return user


def test_me_returns_the_signed_in_user(api_client):
    user = UserFactory(username="me1", roles=[Role.INSPECTOR], full_name="张三")
    api_client.force_authenticate(user)
    response = api_client.get(f"{USERS_URL}me/")
    assert response.status_code == 200
    body = response.json()
    assert "password" not in body
    assert {k: body[k] for k in ("id", "username", "organization", "roles", "full_name", "is_active")} == {
        "id": str(user.pk),
        "username": "me1",
        "organization": str(user.organization_id),
        "roles": ["inspector"],
        "full_name": "张三",
        "is_active": True,
    }
    assert body["is_administrator"] is False


def test_non_administrator_sees_only_themselves(api_client):
    user = UserFactory(username="plain")
    other = UserFactory(username="other")
    api_client.force_authenticate(user)
    body = api_client.get(USERS_URL).json()
    assert body["count"] == 1
    assert [u["username"] for u in body["results"]] == ["plain"]
    response = api_client.get(f"{USERS_URL}{other.pk}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_administrator_lists_every_user(api_client, admin):
    UserFactory(username="zed")
    body = api_client.get(USERS_URL).json()
    assert [u["username"] for u in body["results"]] == ["boss", "zed"]


def test_non_administrator_cannot_create_or_change_users(api_client):
    user = UserFactory(username="plain2")
    api_client.force_authenticate(user)
    response = api_client.post(USERS_URL, {"username": "new", "password": "long-enough-pass-1"}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert not User.objects.filter(username="new").exists()
    # Not even their own roles.
    response = api_client.patch(f"{USERS_URL}{user.pk}/", {"roles": ["administrator"]}, format="json")
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.roles == ["official"]


def test_administrator_creates_a_user_with_a_hashed_password(api_client, admin):
    org = OrganizationFactory(kind="survey_crew")
    response = api_client.post(
        USERS_URL,
        {
            "username": "crew1",
            "password": "field-work-2026",
            "organization": str(org.pk),
            "roles": ["surveyor"],
            "full_name": "李四",
        },
        format="json",
    )
    assert response.status_code == 201
    assert "password" not in response.json()
    user = User.objects.get(username="crew1")
    assert user.organization == org
    assert user.roles == ["surveyor"]
    assert user.password != "field-work-2026"
    assert user.check_password("field-work-2026")
    assert user.is_superuser is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "nopass"}, "password"),
        ({"username": "weak", "password": "123"}, "password"),
        ({"username": "bad name!", "password": "field-work-2026"}, "username"),
        ({"username": "boss", "password": "field-work-2026"}, "username"),
        ({"username": "r", "password": "field-work-2026", "roles": ["king"]}, "roles.0"),
    ],
)
def test_invalid_user_is_400_and_saves_nothing(api_client, admin, payload, field):
    before = User.objects.count()
    response = api_client.post(USERS_URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]
    assert User.objects.count() == before


def test_new_password_revokes_the_users_tokens(api_client, admin):
    user = UserFactory(username="rotate")
    device_token_issue(user=user, device_id="tablet")
    response = api_client.patch(f"{USERS_URL}{user.pk}/", {"password": "another-pass-2026"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password("another-pass-2026")
    assert DeviceToken.objects.get(user=user).revoked_at is not None


def test_deactivation_revokes_tokens(api_client, admin):
    user = UserFactory(username="quit")
    device_token_issue(user=user, device_id="tablet")
    response = api_client.patch(f"{USERS_URL}{user.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert DeviceToken.objects.get(user=user).revoked_at is not None


def test_administrator_deletes_a_user_without_records(api_client, admin):
    user = UserFactory(username="temp")
    device_token_issue(user=user, device_id="tablet")
    assert api_client.delete(f"{USERS_URL}{user.pk}/").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert DeviceToken.objects.filter(user_id=user.pk).count() == 0


def test_administrator_cannot_delete_themselves(api_client, admin):
    response = api_client.delete(f"{USERS_URL}{admin.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "cannot_delete_self"
    assert User.objects.filter(pk=admin.pk).exists()
