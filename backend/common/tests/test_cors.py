"""Browsers on other origins (a web map) may call /api/, /ogc/ and /tiles/ with a token."""

import pytest

from backend.accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MAP_ORIGIN = "https://map.example.org"
OTHER_ORIGIN = "https://evil.example.com"
EXPOSED = (
    "ETag, Location, Retry-After, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, "
    "Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Content-Crs"
)


@pytest.fixture(autouse=True)
def _map_origin_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [MAP_ORIGIN]


def preflight(client, path: str, origin: str, method: str, headers: str):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/api/v1/surveys/", "POST", "authorization,content-type,idempotency-key,x-coord-system"),
        ("/api/v1/surveys/8f0c2d6e-1f4b-4a5e-9a43-6a3f1b7f0c11/", "PATCH", "authorization,if-match,content-type"),
        ("/api/v1/uploads/", "POST", "authorization,tus-resumable,upload-length,upload-metadata"),
        ("/api/v1/uploads/abc/", "PATCH", "authorization,tus-resumable,upload-offset,upload-checksum,content-type"),
        ("/ogc/collections/sites/items", "GET", "authorization"),
        ("/tiles/sites/3/6/3.mvt", "GET", "authorization"),
    ],
)
def test_preflight_from_an_allowed_origin_is_answered_without_authentication(client, path, method, headers):
    response = preflight(client, path, MAP_ORIGIN, method, headers)
    assert response.status_code == 200
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == MAP_ORIGIN
    assert "Access-Control-Allow-Credentials" not in response
    assert set(response["Access-Control-Allow-Methods"].split(", ")) == {
        "DELETE",
        "GET",
        "HEAD",
        "OPTIONS",
        "PATCH",
        "POST",
        "PUT",
    }
    allowed = set(response["Access-Control-Allow-Headers"].split(", "))
    assert set(headers.split(",")) <= allowed
    assert {"upload-defer-length", "upload-concat", "if-none-match"} <= allowed
    assert response["Access-Control-Max-Age"] == "86400"


def test_preflight_from_another_origin_gets_no_allow_origin(client):
    response = preflight(client, "/api/v1/surveys/", OTHER_ORIGIN, "POST", "authorization,content-type")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_no_origin_is_allowed_by_default(client, settings):
    settings.CORS_ALLOWED_ORIGINS = []
    response = preflight(client, "/ogc/collections", MAP_ORIGIN, "GET", "authorization")
    assert "Access-Control-Allow-Origin" not in response


def test_actual_request_carries_the_allow_origin_and_the_exposed_headers(client):
    response = client.get("/ogc/", HTTP_ORIGIN=MAP_ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == MAP_ORIGIN
    assert response["Access-Control-Expose-Headers"] == EXPOSED
    assert "origin" in response["Vary"].lower().split(", ")


def test_an_error_is_readable_by_the_allowed_origin(client):
    response = client.get("/api/v1/users/me/", HTTP_ORIGIN=MAP_ORIGIN)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["Access-Control-Allow-Origin"] == MAP_ORIGIN


def test_token_request_from_the_allowed_origin(client):
    UserFactory(username="mapper")
    login = client.post(
        "/api/v1/auth/token",
        {"username": "mapper", "password": "test-pass-2026", "device_id": "web-map"},
        content_type="application/json",
        HTTP_ORIGIN=MAP_ORIGIN,
    )
    assert login.status_code == 200
    assert login["Access-Control-Allow-Origin"] == MAP_ORIGIN
    me = client.get("/api/v1/users/me/", HTTP_ORIGIN=MAP_ORIGIN, HTTP_AUTHORIZATION=f"Token {login.json()['token']}")
    assert me.status_code == 200
    assert me["Access-Control-Allow-Origin"] == MAP_ORIGIN


def test_admin_and_public_pages_send_no_cors_headers(client):
    for path in ("/admin/login/", "/healthz"):
        response = client.get(path, HTTP_ORIGIN=MAP_ORIGIN)
        assert "Access-Control-Allow-Origin" not in response, path
