from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backend.accounts.models import DeviceToken
from backend.accounts.services import token_hash
from backend.accounts.tests.factories import PASSWORD, UserFactory

TOKEN_URL = "/api/v1/auth/token"
LOGOUT_URL = "/api/v1/auth/logout"
ME_URL = "/api/v1/users/me/"

pytestmark = pytest.mark.django_db


def login(api_client, username: str, password: str = PASSWORD, **extra):
    return api_client.post(TOKEN_URL, {"username": username, "password": password, **extra}, format="json")


def me_with(api_client, token: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api_client.get(ME_URL)


def test_login_issues_a_token_for_the_device(api_client):
    user = UserFactory(username="surveyor1", roles=["surveyor"])
    response = login(api_client, "surveyor1", device_id="tablet-7", device_name="Huawei MatePad")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at", "device_id", "user"}
    assert body["device_id"] == "tablet-7"
    assert body["user"] == {
        "id": str(user.pk),
        "username": "surveyor1",
        "organization": str(user.organization_id),
        "organization_name": user.organization.name,
        "organization_kind": "approval_department",
        "roles": ["surveyor"],
        "full_name": "",
        "is_administrator": False,
    }
    token = DeviceToken.objects.get(user=user)
    assert token.device_id == "tablet-7"
    assert token.device_name == "Huawei MatePad"
    assert token.revoked_at is None
    assert body["expires_at"] == timezone.localtime(token.expires_at).isoformat()
    assert body["expires_at"].endswith("+08:00")
    assert round((token.expires_at - token.created_at).total_seconds()) == 30 * 86400

    me = me_with(api_client, body["token"])
    assert me.status_code == 200
    assert me.json()["username"] == "surveyor1"


def test_login_without_device_id_uses_the_default_device(api_client):
    user = UserFactory(username="official1")
    response = login(api_client, "official1")
    assert response.status_code == 200
    assert response.json()["device_id"] == "default"
    assert DeviceToken.objects.get(user=user).device_id == "default"


def test_token_is_stored_hashed_never_raw(api_client):
    UserFactory(username="hashme")
    raw = login(api_client, "hashme", device_id="t1").json()["token"]
    token = DeviceToken.objects.get(user__username="hashme")
    assert token.key_hash == token_hash(raw)
    assert token.key_hash != raw
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM accounts_devicetoken WHERE key_hash = %s OR device_id = %s OR device_name = %s",
            [raw, raw, raw],
        )
        assert cursor.fetchone()[0] == 0


def test_wrong_password_is_401_invalid_credentials_and_issues_nothing(api_client):
    UserFactory(username="someone")
    response = login(api_client, "someone", "wrong-password")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/invalid_credentials",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Username or password is wrong.",
        "code": "invalid_credentials",
    }
    assert DeviceToken.objects.count() == 0


def test_unknown_user_and_inactive_user_cannot_log_in(api_client):
    UserFactory(username="gone", is_active=False)
    assert login(api_client, "nobody").json()["code"] == "invalid_credentials"
    assert login(api_client, "gone").json()["code"] == "invalid_credentials"
    assert DeviceToken.objects.count() == 0


def test_login_with_missing_fields_is_400_validation_error(api_client):
    response = api_client.post(TOKEN_URL, {"username": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {"password": ["该字段是必填项。"]}


def test_second_login_on_the_same_device_revokes_the_first_token(api_client):
    user = UserFactory(username="twice")
    first = login(api_client, "twice", device_id="tablet-1").json()["token"]
    second = login(api_client, "twice", device_id="tablet-1").json()["token"]
    assert first != second

    stale = me_with(api_client, first)
    assert stale.status_code == 401
    assert stale.json()["code"] == "authentication_failed"
    assert me_with(api_client, second).status_code == 200
    assert DeviceToken.objects.filter(user=user, revoked_at__isnull=True).count() == 1
    assert DeviceToken.objects.filter(user=user).count() == 2


def test_tokens_of_different_devices_live_side_by_side(api_client):
    UserFactory(username="two-devices")
    tablet = login(api_client, "two-devices", device_id="tablet").json()["token"]
    vehicle = login(api_client, "two-devices", device_id="vehicle-pc").json()["token"]
    assert me_with(api_client, tablet).status_code == 200
    assert me_with(api_client, vehicle).status_code == 200


def test_logout_revokes_the_current_token_only(api_client):
    user = UserFactory(username="leaving")
    tablet = login(api_client, "leaving", device_id="tablet").json()["token"]
    other = login(api_client, "leaving", device_id="phone").json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {tablet}")
    response = api_client.post(LOGOUT_URL)
    assert response.status_code == 204
    assert DeviceToken.objects.get(user=user, device_id="tablet").revoked_at is not None
    assert DeviceToken.objects.get(user=user, device_id="phone").revoked_at is None

    after = me_with(api_client, tablet)
    assert after.status_code == 401
    assert after.json()["code"] == "authentication_failed"
    assert me_with(api_client, other).status_code == 200


def test_logout_without_a_token_is_401(api_client):
    response = api_client.post(LOGOUT_URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_expired_token_is_401_authentication_failed(api_client):
    UserFactory(username="old")
    raw = login(api_client, "old").json()["token"]
    DeviceToken.objects.filter(user__username="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = me_with(api_client, raw)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "authentication_failed"
    assert response.json()["detail"] == "Token is invalid, expired or revoked."


def test_revoked_token_is_401_authentication_failed(api_client):
    UserFactory(username="revoked")
    raw = login(api_client, "revoked").json()["token"]
    DeviceToken.objects.filter(user__username="revoked").update(revoked_at=timezone.now())
    response = me_with(api_client, raw)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_token_of_a_deactivated_user_is_401(api_client):
    user = UserFactory(username="deactivated")
    raw = login(api_client, "deactivated").json()["token"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert me_with(api_client, raw).json()["code"] == "authentication_failed"


def test_unknown_and_malformed_tokens_are_401(api_client):
    assert me_with(api_client, "not-a-token").json()["code"] == "authentication_failed"
    api_client.credentials(HTTP_AUTHORIZATION="Token a b")
    response = api_client.get(ME_URL)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_using_a_token_records_last_use(api_client):
    UserFactory(username="busy")
    raw = login(api_client, "busy").json()["token"]
    assert DeviceToken.objects.get(user__username="busy").last_used_at is None
    me_with(api_client, raw)
    assert DeviceToken.objects.get(user__username="busy").last_used_at is not None
