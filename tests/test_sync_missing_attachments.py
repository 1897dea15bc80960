"""`missing_attachments` counts only bytes the pushing user may use.

Two organisations: organisation B has stored a file; a user of organisation A declares the same
SHA-256 on a record of their own. The answer must be the one A gets for a hash nobody has.
"""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backend.evidence.models import StorageBackend, Upload, UploadStatus
from backend.evidence.tests.factories import BlobFactory
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, sha, vehicle_user_on

pytestmark = pytest.mark.django_db


def _uploaded_by(user, sha256: str) -> None:
    blob = BlobFactory(sha256=sha256)
    Upload.objects.create(
        owner=user,
        length=blob.size,
        offset=blob.size,
        expected_sha256=sha256,
        status=UploadStatus.COMPLETE,
        storage=StorageBackend.FILESYSTEM,
        expires_at=timezone.now() + dt.timedelta(days=1),
        blob=blob,
    )


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _receipt(user, item, sha256: str) -> dict:
    op = scan_op(item=item, attachments=[{"sha256": sha256, "kind": "photo"}])
    op["data"]["sha256"] = sha256
    return push(_client(user), op).json()["receipts"][0]


def test_a_file_stored_by_another_organisation_reads_as_missing_like_a_random_one():
    case_a, item_a, _material = case_with_item()
    user_a = vehicle_user_on(case_a)
    case_b, _item_b, _material_b = case_with_item()
    user_b = vehicle_user_on(case_b)
    assert user_a.organization_id != user_b.organization_id
    elsewhere, nowhere = sha("organisation B's photo"), sha("nobody's photo")
    _uploaded_by(user_b, elsewhere)

    stored_elsewhere = _receipt(user_a, item_a, elsewhere)
    random = _receipt(user_a, item_a, nowhere)

    assert (stored_elsewhere["status"], stored_elsewhere["missing_attachments"]) == ("applied", [elsewhere])
    assert (random["status"], random["missing_attachments"]) == ("applied", [nowhere])
    # The same on pull: the record A made still waits for the file.
    pulled = _client(user_a).get("/api/v1/sync/pull", {"types": "material_scan"}).json()["changes"]
    assert {change["id"]: change["missing_attachments"] for change in pulled} == {
        stored_elsewhere["id"]: [elsewhere],
        random["id"]: [nowhere],
    }


def test_a_file_the_user_uploaded_is_not_missing():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    own = sha("my own scan")
    _uploaded_by(user, own)

    receipt = _receipt(user, item, own)

    assert (receipt["status"], receipt["missing_attachments"]) == ("applied", [])


def test_a_colleague_sees_the_file_the_records_author_uploaded():
    case, item, _material = case_with_item()
    author = vehicle_user_on(case)
    colleague = vehicle_user_on(case)
    scan = sha("the author's scan")
    _uploaded_by(author, scan)
    receipt = _receipt(author, item, scan)

    pulled = _client(colleague).get("/api/v1/sync/pull", {"types": "material_scan"}).json()["changes"]

    assert receipt["missing_attachments"] == []
    assert [(change["id"], change["missing_attachments"]) for change in pulled] == [(receipt["id"], [])]
