import pytest
from django.test import override_settings

from backend.accounts.models import DeviceToken
from backend.accounts.tests.factories import PASSWORD, UserFactory

TOKEN_URL = "/api/v1/auth/token"

pytestmark = pytest.mark.django_db


def attempt(api_client, username: str, password: str, address: str = "10.0.0.1"):
    return api_client.post(TOKEN_URL, {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


def test_eleventh_failure_within_a_minute_is_429_problem_json(api_client):
    UserFactory(username="target")
    for _ in range(10):
        assert attempt(api_client, "target", "guess").status_code == 401
    response = attempt(api_client, "target", "guess")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    body = response.json()
    assert body == {
        "type": "/problems/throttled",
        "title": "Too Many Requests",
        "status": 429,
        "detail": f"Too many requests; retry in {retry_after} seconds.",
        "code": "throttled",
        "retry_after": retry_after,
    }


def test_throttled_scope_refuses_even_the_right_password(api_client):
    UserFactory(username="locked")
    for _ in range(10):
        attempt(api_client, "locked", "guess")
    assert attempt(api_client, "locked", PASSWORD).status_code == 429
    assert DeviceToken.objects.count() == 0


def test_scope_is_username_and_address(api_client):
    UserFactory(username="alice")
    UserFactory(username="bob")
    for _ in range(10):
        attempt(api_client, "alice", "guess", "10.0.0.1")
    assert attempt(api_client, "alice", "guess", "10.0.0.1").status_code == 429
    # Usernames compare case-insensitively, so changing case does not open a new scope.
    assert attempt(api_client, "ALICE", "guess", "10.0.0.1").status_code == 429
    assert attempt(api_client, "alice", PASSWORD, "10.0.0.2").status_code == 200
    assert attempt(api_client, "bob", PASSWORD, "10.0.0.1").status_code == 200


def test_successful_logins_do_not_count(api_client):
    UserFactory(username="frequent")
    for _ in range(12):
        assert attempt(api_client, "frequent", PASSWORD).status_code == 200


@override_settings(
    REST_FRAMEWORK={
        "DEFAULT_THROTTLE_RATES": {"user": "6000/min", "login": "2/hour"},
        "EXCEPTION_HANDLER": "mobile_api.exceptions.problem_exception_handler",
        "DEFAULT_AUTHENTICATION_CLASSES": ["mobile_api.authentication.DeviceTokenAuthentication"],
        "DEFAULT_THROTTLE_CLASSES": ["mobile_api.throttling.UserWindowRateThrottle"],
    }
)
def test_rate_comes_from_the_login_setting(api_client):
    UserFactory(username="slow")
    assert attempt(api_client, "slow", "guess").status_code == 401
    assert attempt(api_client, "slow", "guess").status_code == 401
    response = attempt(api_client, "slow", "guess")
    assert response.status_code == 429
    assert 3500 <= int(response["Retry-After"]) <= 3600
