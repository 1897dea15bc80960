"""A material scan's file: judged like a photo's on every path, and `complete` as the asker sees it.

A scan names its file by SHA-256; the bytes come by upload (tus), before or after the scan.
- JPEG bytes whose metadata hides another file are refused with 422 `image_rejected` when the
  scan is made and its author already has them (REST and sync push), writing nothing; when they
  arrive later, the scan keeps them as missing (for everyone) and says why.
- `complete` follows the rule of `missing_attachments`: bytes another organisation stored count
  as missing, like bytes nobody has.
"""

import hashlib
import io
import uuid

import pytest
from rest_framework.test import APIClient

from backend.audit.models import AuditEntry
from backend.cases.materials import MaterialScan
from backend.evidence.tests.imaging import jpeg_bytes, jpeg_with_segment, zip_bytes
from backend.evidence.uploads import upload_append, upload_create
from backend.sync.models import SyncAttachment
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, vehicle_user_on

pytestmark = pytest.mark.django_db

URL = "/api/v1/material-scans/"
POLYGLOT = jpeg_with_segment(0xFE, zip_bytes())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _upload(owner, data: bytes) -> None:
    upload = upload_create(owner=owner, length=len(data), expected_sha256=_sha(data))
    upload_append(upload_id=upload.id, by=owner, offset=0, body=io.BytesIO(data), content_length=len(data))


def _scan_body(item, data: bytes, content_type: str = "image/jpeg") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "case": str(item.case_id),
        "item": str(item.pk),
        "sha256": _sha(data),
        "content_type": content_type,
        "filename": "scan.jpg",
    }


def _counts() -> tuple[int, int, int]:
    return (
        MaterialScan.all_objects.count(),
        SyncAttachment.objects.count(),
        AuditEntry.objects.filter(record_type="material_scan").count(),
    )


def _sync_op(item, data: bytes, content_type: str = "image/jpeg") -> dict:
    body = _scan_body(item, data, content_type)
    op = scan_op(item=item, record_id=body.pop("id"), data=body)
    op["attachments"] = [{"sha256": body["sha256"], "kind": "scan"}]
    return op


# --- the image check ---------------------------------------------------------------------------


def test_a_rest_scan_of_a_polyglot_the_author_uploaded_is_refused_and_nothing_is_written():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    _upload(user, POLYGLOT)
    before = _counts()

    response = _client(user).post(URL, _scan_body(item, POLYGLOT), format="json")

    body = response.json()
    assert (response.status_code, response["Content-Type"]) == (422, "application/problem+json")
    assert (body["code"], body["reason"], body["segment"]) == ("image_rejected", "archive_in_metadata", "COM")
    assert _counts() == before == (0, 0, 0)


def test_a_scan_declared_pdf_whose_bytes_are_a_polyglot_jpeg_is_refused_too():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    _upload(user, POLYGLOT)

    response = _client(user).post(URL, _scan_body(item, POLYGLOT, "application/pdf"), format="json")

    assert (response.status_code, response.json()["code"]) == (422, "image_rejected")
    assert _counts() == (0, 0, 0)


def test_a_sync_scan_of_a_polyglot_is_rejected_and_the_good_one_applied():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    good = jpeg_bytes()
    _upload(user, POLYGLOT)
    _upload(user, good)
    bad_op, good_op = _sync_op(item, POLYGLOT), _sync_op(item, good)

    rejected, applied = push(_client(user), bad_op, good_op).json()["receipts"]

    assert (rejected["status"], rejected["code"]) == ("rejected", "image_rejected")
    assert (applied["status"], applied["missing_attachments"]) == ("applied", [])
    assert list(MaterialScan.all_objects.values_list("pk", flat=True)) == [uuid.UUID(good_op["id"])]
    assert not SyncAttachment.objects.filter(record_id=bad_op["id"]).exists()


def test_a_jpeg_scan_of_a_pdf_file_is_refused_as_no_jpeg():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    pdf = b"%PDF-1.4\n% a scanned form\n%%EOF\n"
    _upload(user, pdf)

    as_jpeg = _client(user).post(URL, _scan_body(item, pdf), format="json")
    as_pdf = _client(user).post(URL, _scan_body(item, pdf, "application/pdf"), format="json")

    assert (as_jpeg.status_code, as_jpeg.json()["code"]) == (415, "unsupported_media_type")
    assert (as_pdf.status_code, as_pdf.json()["complete"]) == (201, True)
    assert MaterialScan.objects.count() == 1


def test_a_polyglot_arriving_after_its_scan_leaves_the_scan_incomplete_and_says_why():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    client = _client(user)
    receipt = push(client, _sync_op(item, POLYGLOT)).json()["receipts"][0]
    assert (receipt["status"], receipt["missing_attachments"]) == ("applied", [_sha(POLYGLOT)])

    _upload(user, POLYGLOT)

    assert client.get(f"{URL}{receipt['id']}/").json()["complete"] is False
    pulled = client.get("/api/v1/sync/pull", {"types": "material_scan"}).json()["changes"]
    assert [(c["id"], c["complete"], c["missing_attachments"], c["data"]["complete"]) for c in pulled] == [
        (receipt["id"], False, [_sha(POLYGLOT)], False)
    ]
    row = SyncAttachment.objects.get(record_id=receipt["id"])
    assert (row.rejected_reason, row.is_arrived) == ("archive_in_metadata", True)
    actions = list(AuditEntry.objects.filter(record_id=receipt["id"]).order_by("id").values_list("action", flat=True))
    assert actions == ["create", "attachment_rejected"]


def test_a_good_jpeg_arriving_after_its_scan_completes_it():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    client = _client(user)
    good = jpeg_bytes()
    receipt = push(client, _sync_op(item, good)).json()["receipts"][0]

    _upload(user, good)

    assert client.get(f"{URL}{receipt['id']}/").json()["complete"] is True
    assert SyncAttachment.objects.get(record_id=receipt["id"]).rejected_reason == ""
    assert AuditEntry.objects.filter(record_id=receipt["id"], action="attachments_complete").count() == 1


def test_a_polyglot_another_organisation_stored_is_judged_only_when_the_author_uploads_it():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    other_case, _other_item, _other_material = case_with_item()
    outsider = vehicle_user_on(other_case)
    _upload(outsider, POLYGLOT)
    client = _client(user)

    # Refusing now would tell the author what another organisation stored: the scan is made and
    # waits for the file, exactly as for a hash nobody has.
    created = client.post(URL, _scan_body(item, POLYGLOT), format="json")
    assert (created.status_code, created.json()["complete"]) == (201, False)
    receipt = push(client, _sync_op(item, POLYGLOT)).json()["receipts"][0]
    assert (receipt["status"], receipt["missing_attachments"]) == ("applied", [_sha(POLYGLOT)])
    scan_ids = [created.json()["id"], receipt["id"]]
    assert list(SyncAttachment.objects.filter(record_id__in=scan_ids).values_list("rejected_reason", flat=True)) == [
        "",
        "",
    ]

    _upload(user, POLYGLOT)

    assert sorted(SyncAttachment.objects.filter(record_id__in=scan_ids).values_list("rejected_reason", flat=True)) == [
        "archive_in_metadata",
        "archive_in_metadata",
    ]
    assert [client.get(f"{URL}{scan_id}/").json()["complete"] for scan_id in scan_ids] == [False, False]


# --- complete as the asker sees it -------------------------------------------------------------


def test_complete_counts_another_organisations_file_as_missing():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    other_case, _other_item, _other_material = case_with_item()
    outsider = vehicle_user_on(other_case)
    theirs, nobodys = jpeg_bytes(color=(1, 2, 3)), jpeg_bytes(color=(4, 5, 6))
    _upload(outsider, theirs)
    client = _client(user)

    stored_elsewhere = push(client, _sync_op(item, theirs)).json()["receipts"][0]
    missing = push(client, _sync_op(item, nobodys)).json()["receipts"][0]

    listed = {scan["id"]: scan["complete"] for scan in client.get(URL).json()["results"]}
    assert listed == {stored_elsewhere["id"]: False, missing["id"]: False}
    assert client.get(f"{URL}{stored_elsewhere['id']}/").json()["complete"] is False


def test_complete_counts_the_authors_upload_for_a_colleague_and_the_outsider_upload_for_nobody():
    case, item, _material = case_with_item()
    author, colleague = vehicle_user_on(case), vehicle_user_on(case)
    data = jpeg_bytes(color=(7, 8, 9))
    receipt = push(_client(author), _sync_op(item, data)).json()["receipts"][0]
    assert _client(colleague).get(f"{URL}{receipt['id']}/").json()["complete"] is False

    _upload(author, data)

    assert _client(author).get(f"{URL}{receipt['id']}/").json()["complete"] is True
    assert _client(colleague).get(f"{URL}{receipt['id']}/").json()["complete"] is True
    listed = _client(colleague).get(URL).json()["results"]
    assert [(scan["id"], scan["complete"]) for scan in listed] == [(receipt["id"], True)]


# --- the same on S3 ----------------------------------------------------------------------------


def test_on_s3_a_polyglot_is_refused_at_the_scan_and_judged_on_arrival_and_a_pdf_passes(s3_storage):
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    client = _client(user)
    pdf = b"%PDF-1.4\n" + b"% page\n" * 2000 + b"%%EOF\n"
    _upload(user, POLYGLOT)
    _upload(user, pdf)
    assert sorted(key.rsplit("/", 1)[-1] for key in s3_storage.keys()) == sorted([_sha(POLYGLOT), _sha(pdf)])

    refused = client.post(URL, _scan_body(item, POLYGLOT), format="json")
    accepted = client.post(URL, _scan_body(item, pdf, "application/pdf"), format="json")
    late = push(client, _sync_op(item, good := jpeg_bytes(color=(9, 9, 9)))).json()["receipts"][0]
    _upload(user, good)

    assert (refused.status_code, refused.json()["code"]) == (422, "image_rejected")
    assert (accepted.status_code, accepted.json()["complete"]) == (201, True)
    assert client.get(f"{URL}{late['id']}/").json()["complete"] is True
    assert MaterialScan.objects.count() == 2
