"""Photos through sync push and pull: the same serializer and services as REST."""

import hashlib
import io
import uuid

import pytest
from rest_framework.test import APIClient

from backend.evidence.models import Photo
from backend.evidence.tests.factories import official
from backend.evidence.tests.imaging import jpeg_bytes, make_exif
from backend.evidence.uploads import upload_append, upload_create
from backend.sites.tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_a_photo_pushed_after_its_file_was_uploaded(django_capture_on_commit_callbacks):
    user = official()
    client = APIClient()
    client.force_authenticate(user)
    site = SiteFactory()
    data = jpeg_bytes(exif=make_exif(lon=120.1711, lat=35.9607))
    sha256 = hashlib.sha256(data).hexdigest()
    upload = upload_create(owner=user, length=len(data), expected_sha256=sha256)
    upload_append(upload_id=upload.id, by=user, offset=0, body=io.BytesIO(data), content_length=len(data))
    photo_id, missing_id = str(uuid.uuid4()), str(uuid.uuid4())
    operations = [
        {
            "op_id": str(uuid.uuid4()),
            "type": "photo",
            "action": "upsert",
            "id": photo_id,
            "base_version": None,
            "data": {"record_type": "site", "record_id": str(site.pk), "sha256": sha256, "heading": 12.5},
            "attachments": [{"sha256": sha256, "kind": "photo"}],
        },
        {
            "op_id": str(uuid.uuid4()),
            "type": "photo",
            "action": "upsert",
            "id": missing_id,
            "base_version": None,
            "data": {"record_type": "site", "record_id": str(site.pk), "sha256": "ab" * 32},
        },
    ]

    response = client.post("/api/v1/sync/push", {"device_id": "tablet-1", "operations": operations}, format="json")

    assert response.status_code == 200, response.json()
    applied, rejected = response.json()["receipts"]
    assert (applied["status"], applied["id"], applied["version"], applied["missing_attachments"]) == (
        "applied",
        photo_id,
        1,
        [],
    )
    assert (rejected["status"], rejected.get("code"), rejected["errors"]) == (
        "rejected",
        "file_missing",
        {"sha256": ["No such file."]},
    )
    photo = Photo.objects.get()
    assert (str(photo.pk), photo.sha256, photo.heading, photo.location_source, photo.device_id) == (
        photo_id,
        sha256,
        12.5,
        "exif",
        "tablet-1",
    )

    pulled = client.get("/api/v1/sync/pull", {"types": "photo"}).json()
    assert [(change["type"], change["id"], change["data"]["sha256"]) for change in pulled["changes"]] == [
        ("photo", photo_id, sha256)
    ]
