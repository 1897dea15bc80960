"""The admin login form counts failures with the API login's limiter (LOGIN_THROTTLE_RATE)."""

import pytest
from django.contrib.auth import SESSION_KEY

from backend.accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/"


def admin_login(client, username: str, password: str, address: str = "10.0.0.7"):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def test_twenty_five_wrong_passwords_then_the_right_one_does_not_log_in(client):
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    statuses = [admin_login(client, "boss", f"guess{n}").status_code for n in range(25)]
    assert statuses == [200] * 10 + [429] * 15

    response = admin_login(client, "boss", PASSWORD)
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert f"Too many failed logins for this username from your address. Try again in {retry_after} seconds." in page
    assert SESSION_KEY not in client.session
    assert client.get("/api/v1/users/me/").status_code == 401
    assert client.get("/admin/").status_code == 302


def test_failures_count_across_the_admin_form_and_the_api_login(client):
    UserFactory(username="shared", is_staff=True)
    for n in range(5):
        assert admin_login(client, "shared", f"guess{n}").status_code == 200
    for n in range(5):
        api = client.post(
            "/api/v1/auth/token",
            {"username": "shared", "password": f"other{n}"},
            content_type="application/json",
            REMOTE_ADDR="10.0.0.7",
        )
        assert api.status_code == 401
    assert admin_login(client, "SHARED", PASSWORD).status_code == 429
    api = client.post(
        "/api/v1/auth/token",
        {"username": "shared", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.7",
    )
    assert api.status_code == 429


def test_the_limit_is_per_username_and_address(client):
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    for n in range(10):
        admin_login(client, "boss", f"guess{n}")
    assert admin_login(client, "boss", PASSWORD).status_code == 429
    response = admin_login(client, "boss", PASSWORD, address="10.0.0.8")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_non_staff_login_counts_as_a_failure(client):
    UserFactory(username="crew")
    for _ in range(10):
        response = admin_login(client, "crew", PASSWORD)
        assert response.status_code == 200
        assert SESSION_KEY not in client.session
    assert admin_login(client, "crew", PASSWORD).status_code == 429


def test_successful_admin_logins_do_not_count(client):
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    for _ in range(12):
        assert admin_login(client, "boss", PASSWORD).status_code == 302
        client.logout()
