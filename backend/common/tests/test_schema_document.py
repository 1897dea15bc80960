"""The OpenAPI document: built once per process, served with one exact content type."""

import time

import pytest
from drf_spectacular.generators import SchemaGenerator

from backend.api_schema import OPENAPI_JSON_CONTENT_TYPE, OPENAPI_YAML_CONTENT_TYPE, CachedSchemaView

pytestmark = pytest.mark.django_db

# What GDAL's OAPIF driver sends when it fetches the service-desc document.
GDAL_ACCEPT = "application/vnd.oai.openapi+json;version=3.0, application/openapi+json;version=3.0, application/json"


@pytest.fixture
def built_count(monkeypatch):
    """Counts schema builds; the real generator still runs."""
    CachedSchemaView.forget()
    calls = []
    original = SchemaGenerator.get_schema

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("request"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting)
    yield calls
    CachedSchemaView.forget()


def test_json_content_type_is_the_constant_whatever_the_client_accepts(client):
    assert OPENAPI_JSON_CONTENT_TYPE == "application/vnd.oai.openapi+json;version=3.0"
    for query, accept in [
        ({"format": "json"}, "*/*"),
        ({}, GDAL_ACCEPT),
        ({}, "application/json"),
        ({}, "application/vnd.oai.openapi+json"),
        ({"format": "json"}, "application/vnd.oai.openapi+json;version=3.0"),
    ]:
        response = client.get("/api/schema/", query, HTTP_ACCEPT=accept)
        assert response.status_code == 200, (query, accept)
        assert response["Content-Type"] == OPENAPI_JSON_CONTENT_TYPE, (query, accept)
        assert response.json()["openapi"] == "3.0.3"


def test_yaml_is_the_default_with_its_own_constant(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"] == OPENAPI_YAML_CONTENT_TYPE == "application/vnd.oai.openapi"
    assert response.content.startswith(b"openapi: 3.0.3\n")
    assert response["Content-Disposition"] == 'inline; filename="Field approval backend API.yaml"'


def test_the_ogc_service_desc_link_announces_exactly_what_is_served(client):
    landing = client.get("/ogc/")
    (link,) = [link for link in landing.json()["links"] if link["rel"] == "service-desc"]
    assert link["type"] == OPENAPI_JSON_CONTENT_TYPE
    document = client.get(link["href"], HTTP_ACCEPT=GDAL_ACCEPT)
    assert document.status_code == 200
    assert document["Content-Type"] == link["type"]


def test_the_document_is_built_once_per_format(client, built_count):
    started = time.perf_counter()
    first = client.get("/api/schema/", {"format": "json"})
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for query in ({"format": "json"}, {"format": "json", "version": "9", "lang": "en"}, {"lang": "xx-evil"}):
        again = client.get("/api/schema/", {**query, "format": "json"})
        assert again.content == first.content
    cached_seconds = (time.perf_counter() - started) / 3
    assert built_count == [None]  # built without the caller's request: the same for everyone
    assert client.get("/api/schema/").status_code == 200
    assert built_count == [None, None]
    assert sorted(CachedSchemaView._rendered) == ["json", "yaml"]
    print(f"schema: first {first_seconds:.3f} s, cached {cached_seconds * 1000:.1f} ms, {len(first.content)} bytes")
    assert cached_seconds < first_seconds / 5


def test_the_document_does_not_depend_on_who_asks(client, admin_user):
    anonymous = client.get("/api/schema/", {"format": "json"}).content
    client.force_login(admin_user)
    CachedSchemaView.forget()
    assert client.get("/api/schema/", {"format": "json"}).content == anonymous
