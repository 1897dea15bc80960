"""Hostile input, path by path: sync push and pull, tus, multipart photos, pagination, OGC, and the
JSON depth scan itself. Every refusal leaves nothing behind."""

import base64
import json
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.materials import MaterialScan
from backend.evidence.models import Blob, Photo, Upload
from backend.evidence.tests.imaging import jpeg_bytes
from backend.sites.tests.factories import SiteFactory
from backend.sync.models import SyncReceipt
from mobile_api.parsers import json_depth_exceeds
from mobile_api.sync.tests.factories import case_with_item, scan_op, vehicle_user_on
from mobile_api.uploads.tests.tus_helpers import TUS, create_upload, encode_metadata, head, patch_chunk, path_of

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert (body["code"], body["status"]) == (code, status)
    if field is not None:
        assert list(body["errors"]) == [field]
    return body


def authenticated(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def administrator():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.ADMINISTRATOR])


# --- sync push ---------------------------------------------------------------------------


def push(client, *ops, device_id="tablet-1"):
    """As a device's JSON library sends it: non-ASCII (and lone surrogates) as \\u escapes."""
    body = json.dumps({"device_id": device_id, "operations": list(ops)})
    return client.generic("POST", "/api/v1/sync/push", body, content_type="application/json")


@pytest.fixture
def pusher():
    case, item, _material = case_with_item()
    return item, authenticated(vehicle_user_on(case))


def _nothing_written() -> tuple[int, int, int]:
    return MaterialScan.objects.count(), SyncReceipt.objects.count(), AuditEntry.objects.count()


def test_a_push_with_a_lone_surrogate_in_one_op_is_refused_whole_before_anything_is_written(pusher):
    item, client = pusher
    good = scan_op(item=item)
    bad = scan_op(item=item)
    bad["data"]["note"] = "坏\ud800"
    audit_before = AuditEntry.objects.count()

    response = push(client, good, bad)

    assert_problem(response, 400, "invalid_text", "operations[1].data.note")
    assert _nothing_written() == (0, 0, audit_before)


def test_a_push_with_a_lone_surrogate_in_an_op_type_is_400(pusher):
    item, client = pusher
    op = scan_op(item=item)
    op["type"] = "material_scan\ud800"

    assert_problem(push(client, op), 400, "invalid_text", "operations[0].type")
    assert MaterialScan.objects.count() == 0


def test_a_push_with_nul_in_the_device_id_is_400(pusher):
    item, client = pusher

    response = push(client, scan_op(item=item), device_id="tablet\x00-1")

    assert_problem(response, 400, "invalid_text", "device_id")
    assert MaterialScan.objects.count() == 0


def test_a_push_nested_too_deep_is_400_and_the_good_push_still_applies(pusher):
    item, client = pusher
    op = scan_op(item=item)
    deep = scan_op(item=item)
    body = json.dumps({"device_id": "t", "operations": [op, deep]}).replace(
        '"note": ""', '"note": ' + "[" * 2000 + "]" * 2000
    )

    response = client.generic("POST", "/api/v1/sync/push", body, content_type="application/json")

    body = assert_problem(response, 400, "json_too_deep", "body")
    assert body["max_depth"] == settings.JSON_MAX_DEPTH
    assert MaterialScan.objects.count() == 0
    assert push(client, op).json()["receipts"][0]["status"] == "applied"


def test_a_push_with_an_impossible_offset_is_400(pusher):
    item, client = pusher
    op = scan_op(item=item)
    op["data"]["note"] = "2026-01-01T00:00:00+24:00"

    assert_problem(push(client, op), 400, "invalid_datetime", "operations[0].data.note")


# --- sync pull ---------------------------------------------------------------------------


# A cursor is `<txid>.<entry id>` (or a bare entry id from before the feed order), each a bigint.
@pytest.mark.parametrize(
    "cursor",
    [
        "9223372036854775808",
        "99999999999999999999",
        "²",
        "1_0",
        "-1",
        "1.-1",
        "1.2.3",
        ".5",
        "1.",
        "1.9223372036854775808",
    ],
)
def test_a_pull_cursor_that_is_not_a_bigint_is_400(administrator, cursor):
    response = authenticated(administrator).get("/api/v1/sync/pull", {"cursor": cursor})

    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["²", "0", "-1", "abc", "1_0"])
def test_a_pull_limit_that_is_not_a_positive_integer_is_400(administrator, limit):
    response = authenticated(administrator).get("/api/v1/sync/pull", {"limit": limit})

    assert_problem(response, 400, "invalid_limit", "limit")


def test_a_pull_limit_beyond_bigint_is_clamped(administrator):
    response = authenticated(administrator).get("/api/v1/sync/pull", {"limit": "9" * 5000})

    assert response.status_code == 200
    assert response.json()["has_more"] is False


# --- tus -----------------------------------------------------------------------------------


@pytest.fixture
def uploader():
    return authenticated(UserFactory())


@pytest.mark.parametrize("length", ["²", "١٢", "1_0", "9223372036854775808", "-1", ""])
def test_an_upload_length_that_is_not_ascii_digits_in_range_is_400(uploader, length):
    response = uploader.post(
        "/api/v1/uploads/",
        headers={**TUS, "Upload-Length": length, "Upload-Metadata": encode_metadata(sha256="0" * 64)},
    )

    assert_problem(response, 400, "validation_error", "Upload-Length")
    assert response["Tus-Resumable"] == "1.0.0"
    assert Upload.objects.count() == 0


def test_an_upload_offset_that_is_not_ascii_digits_is_400_and_the_offset_stays(uploader):
    data = b"x" * 100
    url = path_of(create_upload(uploader, data)["Location"])

    response = uploader.generic(
        "PATCH", url, data=data, content_type="application/offset+octet-stream", headers={**TUS, "Upload-Offset": "²"}
    )

    assert_problem(response, 400, "validation_error", "Upload-Offset")
    assert head(uploader, url)["Upload-Offset"] == "0"
    assert patch_chunk(uploader, url, data, 0).status_code == 204


@pytest.mark.parametrize(("key", "text"), [("filename", "a\x00.jpg"), ("content_type", "image/jpeg\x00")])
def test_upload_metadata_with_nul_in_a_value_is_400(uploader, key, text):
    metadata = {"filename": "a.jpg", "content_type": "image/jpeg", key: text}

    response = create_upload(uploader, b"x" * 10, **metadata)

    assert_problem(response, 400, "invalid_text", f"Upload-Metadata.{key}")
    assert Upload.objects.count() == 0


def test_upload_metadata_with_an_encoded_surrogate_is_400(uploader):
    value = base64.b64encode(b"\xed\xa0\x80.jpg").decode()
    metadata = f"filename {value},sha256 {base64.b64encode(b'0' * 64).decode()}"

    response = uploader.post("/api/v1/uploads/", headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata})

    assert_problem(response, 400, "validation_error", "Upload-Metadata")
    assert Upload.objects.count() == 0


# --- multipart photos ------------------------------------------------------------------------


def _stored_files() -> list[str]:
    root = settings.BLOB_ROOT
    from pathlib import Path

    return sorted(str(p) for p in Path(root).rglob("*") if p.is_file() and "tmp" not in p.parts)


@pytest.mark.parametrize(
    ("fields", "name", "field"),
    [
        ({"record_type": "site\x00"}, "photo.jpg", "record_type"),
        ({"taken_at": "2026-03-10T09:30:00+20:00"}, "photo.jpg", "taken_at"),
        ({"taken_at": "2026-03-10T09:30:00+\u0662\u0660:00"}, "photo.jpg", "taken_at"),
        ({"x\x00": "1"}, "photo.jpg", "x\ufffd"),
    ],
    ids=["nul field", "impossible offset", "offset in Arabic-Indic digits", "nul field name"],
)
def test_a_multipart_photo_with_hostile_text_is_400_and_stores_nothing(administrator, fields, name, field):
    site = SiteFactory()
    body = {"record_type": "site", "record_id": str(site.pk), **fields}
    body["file"] = SimpleUploadedFile(name, jpeg_bytes(), "image/jpeg")

    response = authenticated(administrator).post("/api/v1/photos/", body, format="multipart")

    code = "invalid_datetime" if "taken_at" in fields else "invalid_text"
    assert_problem(response, 400, code, field)
    assert (Photo.all_objects.count(), Blob.objects.count(), _stored_files()) == (0, 0, [])


def test_a_multipart_filename_with_nul_or_a_surrogate_reference_is_stored_without_it(administrator):
    """Django drops non-printable characters from multipart file names (and `&#xd800;` unescapes to
    U+FFFD), so such a name is cleaned, not refused."""
    site = SiteFactory()
    body = {"record_type": "site", "record_id": str(site.pk)}
    body["file"] = SimpleUploadedFile("pho\x00to&#xd800;.jpg", jpeg_bytes(), "image/jpeg")

    response = authenticated(administrator).post("/api/v1/photos/", body, format="multipart")

    assert response.status_code == 201, response.content[:300]
    assert Photo.objects.count() == 1


def test_a_form_encoded_body_with_nul_is_400(administrator):
    response = authenticated(administrator).post(
        "/api/v1/findings/", "description=a%00b", content_type="application/x-www-form-urlencoded"
    )

    assert_problem(response, 400, "invalid_text", "description")


# --- REST pagination ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["-1", "0", "abc", "²", "1.5", "1_0", " 5", "5\n", "000"])
def test_a_limit_that_is_not_a_positive_integer_is_400(administrator, limit):
    response = authenticated(administrator).get("/api/v1/sites/", {"limit": limit})

    assert_problem(response, 400, "invalid_limit", "limit")


@pytest.mark.parametrize("limit", ["1000000000", "99999999999999999999", "9" * 5000])
def test_a_limit_above_the_maximum_is_clamped_to_1000(administrator, limit):
    SiteFactory()

    response = authenticated(administrator).get("/api/v1/sites/", {"limit": limit, "offset": "1"})

    assert response.status_code == 200
    assert response.json()["previous"] == "http://testserver/api/v1/sites/?limit=1000"


@pytest.mark.parametrize("offset", ["-1", "abc", "²", "1\n", "99999999999999999999", "9223372036854775807"])
def test_an_offset_out_of_range_is_400(administrator, offset):
    SiteFactory()

    response = authenticated(administrator).get("/api/v1/sites/", {"offset": offset})

    assert_problem(response, 400, "invalid_offset", "offset")


def test_a_large_offset_in_range_is_an_empty_page(administrator):
    SiteFactory()

    response = authenticated(administrator).get("/api/v1/sites/", {"offset": str(10**18)})

    assert response.status_code == 200
    assert (response.json()["count"], response.json()["results"]) == (1, [])


def test_the_openapi_document_says_how_limit_and_offset_are_read(client):
    document = client.get("/api/schema/", {"format": "json"}).json()

    parameters = {p["name"]: p for p in document["paths"]["/api/v1/sites/"]["get"]["parameters"]}
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert parameters["limit"]["description"] == (
        "Items per page: an integer from 1; above 1000 is clamped to 1000. Anything else → 400 `invalid_limit`."
    )
    assert parameters["offset"]["schema"] == {"type": "integer", "minimum": 0, "default": 0}


# --- OGC ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"offset": "99999999999999999999"}, "invalid_offset"),
        ({"offset": "²"}, "invalid_offset"),
        ({"offset": "1_0"}, "invalid_offset"),
        ({"limit": "²"}, "invalid_limit"),
        ({"datetime": "2026-01-01T00:00:00+20:00"}, "invalid_datetime"),
        ({"datetime": "../2026-01-01T00:00:00-23:59"}, "invalid_datetime"),
    ],
)
def test_ogc_items_with_out_of_range_parameters_are_400(administrator, query, code):
    SiteFactory()

    response = authenticated(administrator).get("/ogc/collections/sites/items", query)

    assert_problem(response, 400, code)


# --- the depth scan ------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_is_counted_exactly_at_the_limit():
    assert json_depth_exceeds(_nested(64), 64) is False
    assert json_depth_exceeds(_nested(65), 64) is True
    assert json_depth_exceeds(b'{"a": [{"b": [1, 2]}], "c": {}}', 4) is False
    assert json_depth_exceeds(b'{"a": [{"b": [1, 2]}], "c": {}}', 3) is True


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"a": "[" * 500 + '\\"{{{' + "\\" + "]", "b": ['"[[[["']}).encode()

    assert json_depth_exceeds(text, 2) is False


def test_a_body_at_the_limit_is_parsed_and_one_beyond_is_refused(administrator):
    client = authenticated(administrator)
    at_limit = json.dumps({"username": "x", "password": "y", "extra": json.loads(_nested(63))})
    beyond = json.dumps({"username": "x", "password": "y", "extra": json.loads(_nested(64))})

    assert_problem(
        APIClient().post("/api/v1/auth/token", at_limit, content_type="application/json"), 401, "invalid_credentials"
    )
    assert_problem(client.post("/api/v1/auth/token", beyond, content_type="application/json"), 400, "json_too_deep")


def test_the_scan_of_a_large_push_body_costs_a_fraction_of_parsing_it():
    """5 MB of coordinate arrays, the bracket-heaviest real payload (the scan's worst case)."""
    point = b'{"type": "Point", "coordinates": [120.123456, 36.123456]}, '
    body = b'{"operations": [' + point * (5 * 1024 * 1024 // len(point)) + b"{}]}"
    started = time.perf_counter()

    assert json_depth_exceeds(body, settings.JSON_MAX_DEPTH) is False
    scan = time.perf_counter() - started
    started = time.perf_counter()
    json.loads(body)
    parse = time.perf_counter() - started
    assert scan < parse, (scan, parse)


# --- headers read as numbers -------------------------------------------------------------------


@pytest.mark.parametrize("etag", ['"' + "9" * 5000 + '"', '"99999999999999999999"', '"²"', '"1_0"'])
def test_an_if_match_that_is_not_a_version_is_400_and_changes_nothing(administrator, etag):
    site = SiteFactory(name="原名")

    response = authenticated(administrator).patch(
        f"/api/v1/sites/{site.pk}/", {"name": "新名"}, format="json", headers={"If-Match": etag}
    )

    assert_problem(response, 400, "invalid_if_match")
    site.refresh_from_db()
    assert (site.name, site.version) == ("原名", 1)


def test_basic_credentials_hiding_a_nul_are_400_on_the_gis_paths():
    credentials = base64.b64encode(b"user\x00:password").decode()

    response = APIClient().get("/ogc/collections", headers={"Authorization": f"Basic {credentials}"})

    assert_problem(response, 400, "invalid_text", "Authorization")
