"""Hostile input on every entry point: NUL, lone surrogates, invalid UTF-8, deep JSON, impossible
UTC offsets and out-of-range integers are a 400 problem+json with a stable code, never a 500."""

import json
import re

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def site():
    return SiteFactory()


@pytest.fixture
def surveyor(site):
    """A survey crew member on the site's case, as the demo data has them."""
    user = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    site.case.assigned_organizations.add(user.organization)
    return user


@pytest.fixture
def administrator():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.ADMINISTRATOR])


@pytest.fixture(params=["surveyor", "administrator"])
def client(request, site):
    api = APIClient()
    api.force_authenticate(request.getfixturevalue(request.param))
    return api


def assert_problem(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    if field is not None:
        assert list(body["errors"]) == [field]
    return body


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"[]" + b"}" * (depth - 1)


# (label, raw JSON body, code, field the error names)
HOSTILE_BODIES = [
    ("deep array", b"[" * 5000 + b"]" * 5000, "json_too_deep", "body"),
    ("deep object", nested(1000), "json_too_deep", "body"),
    ("deep unclosed", b"[" * 100_000, "json_too_deep", "body"),
    ("nul value", json.dumps({"description": "a\u0000b"}).encode(), "invalid_text", "description"),
    ("nul key", json.dumps({"de\u0000sc": "x"}).encode(), "invalid_text", "de\ufffdsc"),
    ("escaped surrogate", b'{"description": "x\\ud800y"}', "invalid_text", "description"),
    ("escaped low surrogate", b'{"name": ["ok", "\\udfff"]}', "invalid_text", "name[1]"),
    ("surrogate key", b'{"\\ud800": 1}', "invalid_text", "\ufffd"),
    ("nested nul", json.dumps({"data": {"list": [{"x": "\u0000"}]}}).encode(), "invalid_text", "data.list[0].x"),
    ("utf-8 encoded surrogate", b'{"description": "\xed\xa0\x80"}', "invalid_text", "body"),
    ("invalid utf-8", b'{"description": "\xff"}', "invalid_text", "body"),
    ("offset +24:00", b'{"scheduled_at": "2026-01-01T00:00:00+24:00"}', "invalid_datetime", "scheduled_at"),
    ("offset +20:00", b'{"scheduled_at": "2026-01-01T00:00:00+20:00"}', "invalid_datetime", "scheduled_at"),
    ("offset -16:00", b'{"x": {"at": "2026-01-01 00:00-1600"}}', "invalid_datetime", "x.at"),
    # Offsets in another script's digits (Python's \d and int() read them): UTF-8 and escaped.
    (
        "offset +20:00 in Arabic-Indic digits",
        json.dumps({"scheduled_at": "2026-01-01T00:00:00+\u0662\u0660:00"}, ensure_ascii=False).encode(),
        "invalid_datetime",
        "scheduled_at",
    ),
    (
        "offset -24:00 in fullwidth digits, escaped",
        json.dumps(
            {"id": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "at": "2026-01-01T00:00:00-\uff12\uff14:00"}
        ).encode(),
        "invalid_datetime",
        "at",
    ),
]


def json_endpoints(site) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/sync/push"),
        ("POST", "/api/v1/findings/"),
        ("POST", "/api/v1/surveys/"),
        ("POST", "/api/v1/sites/"),
        ("PATCH", f"/api/v1/sites/{site.pk}/"),
        ("POST", "/api/v1/photos/"),
        ("POST", "/api/v1/signatures/"),
        ("POST", "/api/v1/visits/"),
        ("POST", "/api/v1/utility-requests/"),
    ]


@pytest.mark.parametrize(("label", "body", "code", "field"), HOSTILE_BODIES, ids=[b[0] for b in HOSTILE_BODIES])
def test_hostile_json_bodies_are_400_on_every_json_endpoint(client, site, label, body, code, field):
    for method, path in json_endpoints(site):
        response = client.generic(method, path, body, content_type="application/json", headers={"If-Match": '"1"'})
        assert_problem(response, 400, code, field)


@pytest.mark.parametrize(("label", "body", "code", "field"), HOSTILE_BODIES, ids=[b[0] for b in HOSTILE_BODIES])
def test_hostile_json_bodies_are_400_on_the_approval_system_upsert(administrator, label, body, code, field):
    client = APIClient()
    client.force_authenticate(administrator)

    response = client.generic("PUT", "/api/v1/cases/by-external/GG-1", body, content_type="application/json")

    assert_problem(response, 400, code, field)


@pytest.mark.parametrize(("label", "body", "code", "field"), HOSTILE_BODIES, ids=[b[0] for b in HOSTILE_BODIES])
def test_hostile_json_bodies_are_400_anonymously_at_login(label, body, code, field):
    response = APIClient().generic("POST", "/api/v1/auth/token", body, content_type="application/json")

    assert_problem(response, 400, code, field)


def test_anonymous_hostile_bodies_elsewhere_are_401_never_500(site):
    for method, path in json_endpoints(site)[1:]:
        response = APIClient().generic(method, path, nested(1000), content_type="application/json")
        assert_problem(response, 401, "not_authenticated")


# (label, query string, code, parameter the error names)
HOSTILE_QUERIES = [
    ("nul value", "external_no=%00", "invalid_text", "external_no"),
    ("nul name", "a%00b=1", "invalid_text", "a\ufffdb"),
    ("encoded surrogate", "external_no=%ED%A0%80", "invalid_text", "external_no"),
    ("invalid utf-8", "q=%FF", "invalid_text", "q"),
    ("offset +20:00", "updated_after=2026-01-01T00:00:00%2B20:00", "invalid_datetime", "updated_after"),
    ("unencoded offset 24:00", "datetime=2026-01-01T00:00:00+24:00", "invalid_datetime", "datetime"),
    ("interval end", "datetime=2026-01-01T00:00:00Z/2026-01-02T00:00:00-18:30", "invalid_datetime", "datetime"),
    # An offset in another script's digits (+٢٠:00, percent-encoded UTF-8), as in JSON bodies.
    (
        "offset in Arabic-Indic digits",
        "updated_after=2026-01-01T00:00:00%2B%D9%A2%D9%A0:00",
        "invalid_datetime",
        "updated_after",
    ),
]
QUERY_PATHS = [
    "/api/v1/cases/",
    "/api/v1/findings/",
    "/api/v1/sites/",
    "/api/v1/visits/",
    "/api/v1/utility-points/nearby/",
    "/api/v1/sync/pull",
    "/api/v1/users/me/",
    "/ogc/collections",
    "/ogc/collections/sites/items",
    "/tiles/sites.json",
    "/tiles/sites/0/0/0.mvt",
]


@pytest.mark.parametrize(("label", "query", "code", "field"), HOSTILE_QUERIES, ids=[q[0] for q in HOSTILE_QUERIES])
def test_hostile_query_strings_are_400_everywhere(client, label, query, code, field):
    for path in QUERY_PATHS:
        assert_problem(client.get(f"{path}?{query}"), 400, code, field)


@pytest.mark.parametrize(("label", "query", "code", "field"), HOSTILE_QUERIES, ids=[q[0] for q in HOSTILE_QUERIES])
def test_hostile_query_strings_are_400_anonymously(label, query, code, field):
    for path in ("/api/v1/cases/", "/ogc/collections", "/healthz"):
        assert_problem(APIClient().get(f"{path}?{query}"), 400, code, field)


# Headers the server reads: device ids, idempotency keys, coordinate systems, preconditions, tus.
HOSTILE_HEADERS = ["X-Device-Id", "Idempotency-Key", "X-Coord-System", "If-Match", "Upload-Metadata", "Cookie"]


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"], ids=["nul", "surrogate"])
def test_hostile_headers_are_400(client, site, header, text):
    for method, path in [
        ("GET", "/api/v1/findings/"),
        ("PATCH", f"/api/v1/sites/{site.pk}/"),
        ("POST", "/api/v1/uploads/"),
    ]:
        response = client.generic(method, path, b"{}", content_type="application/json", headers={header: text})
        assert_problem(response, 400, "invalid_text", header)


def test_nul_in_the_path_is_400():
    assert_problem(APIClient().get("/api/v1/cases/by-external/GG%00-1"), 400, "invalid_text", "path")


@pytest.mark.parametrize("length", ["²", "١٢", "1_0", " 12", "-1"])
def test_content_length_that_is_not_ascii_digits_is_400(client, length):
    response = client.generic(
        "POST", "/api/v1/sync/push", b"{}", content_type="application/json", CONTENT_LENGTH=length
    )

    assert_problem(response, 400, "invalid_header", "Content-Length")


def test_the_admin_refuses_a_nul_in_its_search_box(administrator):
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    client = APIClient()
    client.force_login(administrator)

    response = client.get("/admin/accounts/user/?q=%00")

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_sane_input_still_passes(client, site):
    """The checks refuse only what cannot be stored: ordinary text, offsets and depth get through."""
    response = client.get(
        "/api/v1/visits/", {"scheduled_after": "2026-01-01T00:00:00+08:00", "q": "2026-01-01 12:30 审批"}
    )
    assert response.status_code == 200
    body = json.dumps({"username": "nobody", "password": "x", "device_name": "平板 ☃ \ufffd", "x": [[[[1]]]]})
    response = APIClient().post("/api/v1/auth/token", body, content_type="application/json")
    assert_problem(response, 401, "invalid_credentials")


SWEEP_VALUES = ["99999999999999999999", "-99999999999999999999", "²", "1e999"]


def test_every_documented_query_parameter_refuses_out_of_range_numbers_without_a_500(administrator, site):
    """Every GET operation in the OpenAPI document, every query parameter it documents."""
    client = APIClient()
    client.force_authenticate(administrator)
    document = client.get("/api/schema/", {"format": "json"}).json()
    known = {"{z}": "0", "{x}": "0", "{y}": "0", "{collection_id}": "sites", "{layer_name}": "sites"}
    known["{case_id}"] = str(site.case_id)
    server_errors = []
    requests = 0
    for path, operations in document["paths"].items():
        if "get" not in operations:
            continue
        url = re.sub(r"\{[^}]+\}", lambda m: known.get(m[0], str(site.pk)), path)
        for parameter in operations["get"].get("parameters", []):
            if parameter["in"] != "query":
                continue
            for value in SWEEP_VALUES:
                response = client.get(url, {parameter["name"]: value})
                requests += 1
                if response.status_code >= 500 or (response.status_code >= 400 and response["Content-Type"] != PROBLEM):
                    server_errors.append((path, parameter["name"], value, response.status_code))
    assert requests > 300
    assert server_errors == []
