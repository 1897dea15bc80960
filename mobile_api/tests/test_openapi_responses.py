"""The OpenAPI document documents every operation's problem+json answers and matches what is sent."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import spectacular_settings

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.sites.models import Site
from backend.sites.tests.factories import SiteFactory

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document(django_db_blocker):
    with django_db_blocker.unblock():
        generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
        return generator.get_schema(request=None, public=True)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def responses(document, method, path):
    return document["paths"][path][method]["responses"]


def test_the_generator_is_ours():
    assert issubclass(spectacular_settings.DEFAULT_GENERATOR_CLASS, SchemaGenerator)
    assert spectacular_settings.DEFAULT_GENERATOR_CLASS.__name__ == "ProblemSchemaGenerator"


def test_no_operation_documents_only_its_success(document):
    only_success = [
        f"{method} {path}"
        for method, path, operation in operations(document)
        if all(code < "400" for code in operation["responses"])
    ]
    assert only_success == []


def test_every_error_answer_is_a_problem_except_on_head_and_options(document):
    wrong = []
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if code < "400":
                continue
            content = response.get("content")
            if method in {"head", "options"}:
                if content is not None:
                    wrong.append(f"{method} {path} {code}: a body on {method}")
            elif content is None or PROBLEM not in content:
                wrong.append(f"{method} {path} {code}: {sorted(content or [])}")
    assert wrong == []


def test_the_problem_component(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "code", "errors"}
    assert sorted(problem["required"]) == ["code", "detail", "status", "title", "type"]


def test_authenticated_operations_document_401_403_429_and_detail_routes_404(document):
    missing = []
    for method, path, operation in operations(document):
        codes = set(operation["responses"])
        security = operation.get("security", [])
        if security and {} not in security and not {"401", "403", "429"} <= codes:
            missing.append(f"{method} {path}: {sorted(codes)}")
        if "{" in path and "404" not in codes:
            missing.append(f"{method} {path}: no 404")
    assert missing == []


def test_a_record_update_documents_exactly_its_answers(document):
    assert set(responses(document, "patch", "/api/v1/sites/{id}/")) == {
        "200", "400", "401", "403", "404", "409", "412", "413", "415", "428", "429", "503",
    }  # fmt: skip
    assert set(responses(document, "post", "/api/v1/sites/")) == {
        "200", "201", "400", "401", "403", "409", "413", "415", "429", "503",
    }  # fmt: skip
    assert set(responses(document, "get", "/api/v1/sites/{id}/")) == {"200", "401", "403", "404", "429", "503"}
    assert set(responses(document, "get", "/api/v1/sites/")) == {"200", "400", "401", "403", "429", "503"}
    # DELETE reads an optional If-Match, like every record's DELETE.
    delete = document["paths"]["/api/v1/sites/{id}/"]["delete"]
    assert set(delete["responses"]) == {"204", "400", "401", "403", "404", "409", "412", "429", "503"}
    if_match = [p for p in delete["parameters"] if p["name"] == "If-Match"]
    assert [p.get("required", False) for p in if_match] == [False]
    assert responses(document, "patch", "/api/v1/sites/{id}/")["412"]["content"][PROBLEM]["schema"] == PROBLEM_REF


def test_actions_with_an_idempotency_key_document_422(document):
    operation = document["paths"]["/api/v1/surveys/{id}/start/"]["post"]
    assert {"409", "412", "422"} <= set(operation["responses"])
    assert "428" not in operation["responses"]  # If-Match is optional on actions


def test_429_documents_retry_after(document):
    response = responses(document, "get", "/api/v1/sites/")["429"]
    assert response["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}


def test_tus_head_and_options_are_documented(document):
    detail = document["paths"]["/api/v1/uploads/{upload_id}/"]
    assert set(detail) == {"get", "head", "patch", "delete", "options"}
    assert set(detail["head"]["responses"]) == {"200", "400", "401", "403", "404", "410", "412", "429", "503"}
    assert "204" in detail["options"]["responses"]
    assert {} in detail["options"]["security"]
    assert set(detail["patch"]["responses"]) >= {"409", "410", "412", "413", "415", "460"}
    assert set(document["paths"]["/api/v1/uploads/"]) == {"post", "options"}
    assert {"412", "413"} <= set(document["paths"]["/api/v1/uploads/"]["post"]["responses"])


def test_limit_and_offset_are_bounded(document):
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/sites/"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert parameters["offset"] == {"type": "integer", "minimum": 0, "default": 0}


def test_schemas_match_what_is_sent(document):
    schemas = document["components"]["schemas"]
    for name in ("Site", "Survey", "Finding", "InspectionItem", "Photo", "Signature", "Visit", "UtilityRequest"):
        assert schemas[name]["properties"]["created_by"]["nullable"] is True, name
    assert schemas["UtilityRequest"]["properties"]["responded_by"]["nullable"] is True
    assert schemas["Item"]["properties"]["deadline_error"]["nullable"] is True
    user = schemas["User"]["properties"]
    assert (user["organization_name"]["nullable"], user["organization_kind"]["nullable"]) == (True, True)
    # An item answers `pending` until a result is recorded; a client records one of the others.
    assert schemas["InspectionItem"]["properties"]["result"] == {"$ref": "#/components/schemas/InspectionResultEnum"}
    assert schemas["InspectionResultEnum"]["enum"] == ["pending", "pass", "fail", "filed"]
    request = schemas["PatchedInspectionItemRequest"]["properties"]["result"]
    assert request == {"$ref": "#/components/schemas/RecordableInspectionResultEnum"}
    assert schemas["RecordableInspectionResultEnum"]["enum"] == ["pass", "fail", "filed"]
    receipt = schemas["Receipt"]["properties"]
    assert (receipt["op_id"]["nullable"], receipt["type"]["nullable"]) == (True, True)


def test_inspection_item_create_and_delete_are_not_documented(document):
    assert set(document["paths"]["/api/v1/inspection-items/"]) == {"get"}
    assert "delete" not in document["paths"]["/api/v1/inspection-items/{id}/"]


@pytest.mark.django_db
def test_if_match_star_changes_the_current_version(api_client):
    site = SiteFactory()
    api_client.force_authenticate(user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL]))
    response = api_client.patch(f"/api/v1/sites/{site.pk}/", {"name": "改名"}, format="json", headers={"If-Match": "*"})
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["version"], response["ETag"]) == ("改名", 2, '"2"')
    response = api_client.delete(f"/api/v1/sites/{site.pk}/", headers={"If-Match": "*"})
    assert response.status_code == 204
    assert Site.objects.filter(pk=site.pk).exists() is False


@pytest.mark.django_db
def test_if_match_that_is_not_a_version_is_still_refused(api_client):
    site = SiteFactory()
    api_client.force_authenticate(user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL]))
    response = api_client.patch(f"/api/v1/sites/{site.pk}/", {"name": "y"}, format="json", headers={"If-Match": "**"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_if_match")
    site.refresh_from_db()
    assert (site.name, site.version) != ("y", 2)
    assert site.version == 1


@pytest.mark.django_db
def test_a_partial_update_of_a_user_without_an_organisation_still_answers_its_organisation(api_client):
    admin = UserFactory(username="boss", roles=[Role.ADMINISTRATOR], organization=None)
    api_client.force_authenticate(admin)
    response = api_client.patch(f"/api/v1/users/{admin.pk}/", {"full_name": "管理员"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["full_name"], body["organization"], body["organization_name"], body["organization_kind"]) == (
        "管理员",
        None,
        None,
        None,
    )
