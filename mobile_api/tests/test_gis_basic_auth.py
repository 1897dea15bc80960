import base64

import pytest

from backend.accounts.tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("mobile_api.tests.error_urls")]


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_basic_auth_works_on_gis_paths(api_client):
    UserFactory(username="qgis")
    response = api_client.get("/ogc/test/whoami", HTTP_AUTHORIZATION=basic("qgis", PASSWORD))
    assert response.status_code == 200
    assert response.json() == {"username": "qgis"}


def test_gis_paths_ask_for_basic_and_answer_problem_json(api_client):
    response = api_client.get("/ogc/test/whoami")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Basic realm="field-approval"'
    wrong = api_client.get("/ogc/test/whoami", HTTP_AUTHORIZATION=basic("qgis", "wrong"))
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "authentication_failed"


def test_basic_auth_is_ignored_outside_gis_paths(api_client):
    UserFactory(username="qgis2")
    response = api_client.get("/api/v1/test/whoami", HTTP_AUTHORIZATION=basic("qgis2", PASSWORD))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_token_still_works_on_gis_paths(api_client):
    UserFactory(username="tablet")
    token = api_client.post("/api/v1/auth/token", {"username": "tablet", "password": PASSWORD}, format="json").json()[
        "token"
    ]
    response = api_client.get("/ogc/test/whoami", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


def test_basic_auth_failures_share_the_login_throttle(api_client):
    UserFactory(username="brute")
    for _ in range(10):
        assert api_client.get("/ogc/test/whoami", HTTP_AUTHORIZATION=basic("brute", "guess")).status_code == 401
    response = api_client.get("/ogc/test/whoami", HTTP_AUTHORIZATION=basic("brute", PASSWORD))
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    # …and the token endpoint sees the same scope.
    login = api_client.post("/api/v1/auth/token", {"username": "brute", "password": PASSWORD}, format="json")
    assert login.status_code == 429
