import pytest
from django.test import Client, override_settings

from backend.accounts.models import DeviceToken
from backend.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
SHAPE = {"type", "title", "status", "detail", "code"}


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert SHAPE <= set(body)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_unknown_api_path_is_404_problem(api_client):
    assert_problem(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")


@override_settings(DEBUG=True)
def test_unknown_api_path_is_404_problem_in_debug_too(api_client):
    assert_problem(api_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_unknown_detail_id_is_404_problem(api_client):
    api_client.force_authenticate(UserFactory())
    assert_problem(api_client.get("/api/v1/orgs/not-a-uuid/"), 404, "not_found")
    assert_problem(api_client.get("/api/v1/orgs/00000000-0000-0000-0000-000000000000/"), 404, "not_found")


def test_wrong_method_is_405_problem_with_allow(api_client):
    response = api_client.delete("/api/v1/auth/token")
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST, OPTIONS"


def test_unsupported_media_type_is_415_problem(api_client):
    response = api_client.post("/api/v1/auth/token", "<login/>", content_type="application/xml")
    body = assert_problem(response, 415, "unsupported_media_type")
    assert "application/xml" in body["detail"]


def test_malformed_json_is_400_malformed_request(api_client):
    response = api_client.post("/api/v1/auth/token", '{"username": "a", ', content_type="application/json")
    assert_problem(response, 400, "malformed_request")
    assert DeviceToken.objects.count() == 0


def test_validation_error_carries_field_errors(api_client):
    response = api_client.post("/api/v1/auth/token", {}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert set(body["errors"]) == {"username", "password"}


def test_missing_credentials_is_401_problem(api_client):
    response = api_client.get("/api/v1/users/me/")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401_problem(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token nonsense")
    assert_problem(api_client.get("/api/v1/users/me/"), 401, "authentication_failed")


def test_forbidden_is_403_problem(api_client):
    api_client.force_authenticate(UserFactory())
    assert_problem(
        api_client.post("/api/v1/orgs/", {"name": "x", "kind": "builder"}, format="json"), 403, "permission_denied"
    )


def test_throttled_is_429_problem(api_client):
    UserFactory(username="t")
    for _ in range(10):
        api_client.post("/api/v1/auth/token", {"username": "t", "password": "no"}, format="json")
    response = api_client.post("/api/v1/auth/token", {"username": "t", "password": "no"}, format="json")
    body = assert_problem(response, 429, "throttled")
    assert response["Retry-After"] == str(body["retry_after"])


@pytest.mark.urls("mobile_api.tests.error_urls")
def test_exception_inside_an_api_view_is_500_problem_without_internals(api_client):
    response = api_client.get("/api/v1/test/explode")
    body = assert_problem(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert body["detail"] == "An unexpected error occurred; it has been logged."


@pytest.mark.urls("mobile_api.tests.error_urls")
def test_exception_inside_a_plain_django_view_on_an_api_path_is_500_problem(api_client):
    response = api_client.get("/api/v1/test/explode-plain")
    assert_problem(response, 500, "server_error")
    assert "secret" not in response.content.decode()


@pytest.mark.urls("mobile_api.tests.error_urls")
def test_html_error_from_a_plain_django_view_becomes_problem_and_keeps_allow(api_client):
    response = api_client.get("/api/v1/test/post-only")
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_endpoints_answer_other_methods_with_405_problem(path, method):
    # With CSRF checks on, as a real client meets them: not 403 from CSRF, but 405.
    response = getattr(Client(enforce_csrf_checks=True), method)(path)
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


def test_health_endpoints_answer_get(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.head("/healthz").status_code == 200


def test_non_api_paths_keep_html_errors(client):
    response = client.get("/not-an-api-path/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    admin = client.get("/admin/")
    assert admin.status_code == 302
    assert admin["Location"].startswith("/admin/login/")
