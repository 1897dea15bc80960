import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_schema_is_a_valid_openapi_3_document_with_the_auth_paths(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    validate(document)  # raises OpenAPIValidationError when the document is not valid
    paths = document["paths"]
    assert set(paths["/api/v1/auth/token"]) == {"post"}
    assert set(paths["/api/v1/auth/logout"]) == {"post"}
    assert {"get", "post"} <= set(paths["/api/v1/orgs/"])
    assert {"get", "patch", "put", "delete"} <= set(paths["/api/v1/orgs/{id}/"])
    assert {"get", "post"} <= set(paths["/api/v1/users/"])
    assert set(paths["/api/v1/users/me/"]) == {"get"}
    token = paths["/api/v1/auth/token"]["post"]
    assert token["security"] == [{}]
    assert set(token["responses"]) == {"200", "400", "401", "413", "415", "429", "503"}
    assert list(token["responses"]["401"]["content"]) == ["application/problem+json"]
    login_fields = document["components"]["schemas"]["LoginRequest"]["properties"]
    assert set(login_fields) == {"username", "password", "device_id", "device_name"}
    user_fields = document["components"]["schemas"]["User"]["properties"]
    assert "password" not in user_fields


def test_docs_page_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
