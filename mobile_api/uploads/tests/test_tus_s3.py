"""tus uploads with the S3 store, against moto's standalone server (a real HTTP S3 endpoint)."""

import os
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.tests.factories import UserFactory
from backend.evidence.blobs import blob_presigned_url
from backend.evidence.models import Blob, Upload, UploadStatus
from mobile_api.uploads.tests.tus_helpers import (
    TUS,
    checksum_header,
    create_upload,
    files_under,
    head,
    patch_chunk,
    path_of,
    sha256_hex,
)

# Real commits: consumed pending objects are deleted on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
# Three and a bit parts of 5 MiB, sent in chunks of 3 MiB: parts and pending objects both occur.
DATA = os.urandom(16 * MIB + 12345)
CHUNK = 3 * MIB


@pytest.fixture
def client():
    api = APIClient()
    api.force_authenticate(UserFactory())
    return api


@pytest.fixture
def s3(s3_storage, settings):
    settings.UPLOAD_S3_PART_SIZE = 5 * MIB
    return s3_storage


def _start(client, data=DATA, **kwargs) -> str:
    response = create_upload(client, data, **kwargs)
    assert response.status_code == 201, response.content
    return path_of(response["Location"])


def _send(client, url, data, start, stop):
    for offset in range(start, stop, CHUNK):
        chunk = data[offset : min(offset + CHUNK, stop)]
        response = patch_chunk(client, url, chunk, offset, checksum=checksum_header("sha256", chunk))
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(offset + len(chunk))


def test_s3_upload_resumes_across_parts_and_becomes_a_private_blob(client, s3, settings):
    url = _start(client)
    upload = Upload.objects.get()
    assert upload.storage == "s3"

    _send(client, url, DATA, 0, CHUNK)
    upload.refresh_from_db()
    # 3 MiB is less than a part: it waits in a pending object, no multipart upload yet.
    assert (upload.s3_multipart_upload_id, upload.s3_parts) == ("", [])
    assert [item["size"] for item in upload.s3_pending] == [CHUNK]
    assert s3.keys() == [upload.s3_pending[0]["key"]]

    _send(client, url, DATA, CHUNK, 3 * CHUNK)
    upload.refresh_from_db()
    assert [part["size"] for part in upload.s3_parts] == [5 * MIB]
    # 6 MiB made one part and left 1 MiB; the next 3 MiB still do not fill a part.
    assert [item["size"] for item in upload.s3_pending] == [MIB, CHUNK]
    assert upload.s3_multipart_upload_id != ""
    assert len(s3.multipart_uploads()) == 1
    assert s3.keys() == [item["key"] for item in upload.s3_pending]  # the consumed pending object is gone

    # Another app server (no local state at all) continues from the offset HEAD reports.
    assert head(client, url)["Upload-Offset"] == str(3 * CHUNK)
    _send(client, url, DATA, 3 * CHUNK, len(DATA))

    upload.refresh_from_db()
    sha256 = sha256_hex(DATA)
    assert (upload.status, upload.blob_id, upload.s3_multipart_upload_id) == (UploadStatus.COMPLETE, sha256, "")
    blob = Blob.objects.get()
    assert (blob.size, blob.storage, blob.content_type) == (len(DATA), "s3", "image/jpeg")
    key = f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"
    assert s3.keys() == [key]
    assert s3.multipart_uploads() == []
    assert files_under(settings.UPLOAD_ROOT) == []
    assert files_under(settings.BLOB_ROOT) == []

    url = blob_presigned_url(blob=blob, filename="东门.jpg")
    assert "X-Amz-Expires=300" in url
    assert "X-Amz-Signature=" in url
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200
    assert sha256_hex(fetched.content) == sha256
    assert fetched.headers["Content-Type"] == "image/jpeg"


def test_s3_small_file_in_one_request_skips_multipart(client, s3):
    data = b"small evidence file"
    url = _start(client, data)
    assert patch_chunk(client, url, data, 0).status_code == 204
    sha256 = sha256_hex(data)
    assert s3.keys() == [f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"]
    assert s3.multipart_uploads() == []
    assert Blob.objects.get().storage == "s3"


def test_s3_corrupted_chunk_is_460_and_the_state_is_unchanged(client, s3):
    url = _start(client)
    _send(client, url, DATA, 0, 2 * CHUNK)
    before = Upload.objects.values("offset", "s3_parts", "s3_pending", "s3_multipart_upload_id").get()
    keys_before = s3.keys()

    chunk = DATA[2 * CHUNK : 3 * CHUNK]
    response = patch_chunk(client, url, chunk[:-1] + b"\x00", 2 * CHUNK, checksum=checksum_header("sha1", chunk))
    assert response.status_code == 460
    assert response.json()["code"] == "checksum_mismatch"
    assert Upload.objects.values("offset", "s3_parts", "s3_pending", "s3_multipart_upload_id").get() == before
    assert s3.keys() == keys_before


def test_s3_wrong_offset_is_409_and_nothing_written(client, s3):
    url = _start(client)
    _send(client, url, DATA, 0, CHUNK)
    keys_before = s3.keys()
    response = patch_chunk(client, url, DATA[:CHUNK], 0)
    assert response.status_code == 409
    assert response.json()["code"] == "offset_mismatch"
    assert Upload.objects.get().offset == CHUNK
    assert s3.keys() == keys_before


def test_s3_wrong_sha256_leaves_no_object_and_no_multipart_upload(client, s3):
    url = _start(client, sha256=sha256_hex(b"not these bytes"))
    _send(client, url, DATA, 0, 3 * CHUNK)
    last = DATA[3 * CHUNK :]
    response = patch_chunk(client, url, last, 3 * CHUNK)
    assert response.status_code == 460
    assert response.json()["code"] == "sha256_mismatch"
    assert Blob.objects.count() == 0
    assert s3.keys() == []
    assert s3.multipart_uploads() == []
    assert Upload.objects.get().status == UploadStatus.FAILED


def test_s3_termination_aborts_the_multipart_upload(client, s3):
    url = _start(client)
    _send(client, url, DATA, 0, 2 * CHUNK)
    assert len(s3.multipart_uploads()) == 1

    assert client.delete(url, headers=TUS).status_code == 204
    assert Upload.objects.count() == 0
    assert s3.keys() == []
    assert s3.multipart_uploads() == []


def test_s3_expiry_command_aborts_abandoned_uploads(client, s3):
    url = _start(client)
    _send(client, url, DATA, 0, 2 * CHUNK)
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    call_command("uploads_expire")

    assert Upload.objects.count() == 0
    assert s3.keys() == []
    assert s3.multipart_uploads() == []
    assert head(client, url).status_code == 404


def test_s3_same_bytes_twice_make_one_blob_and_one_object(client, s3):
    data = os.urandom(6 * MIB)
    for _ in range(2):
        url = _start(client, data)
        _send(client, url, data, 0, len(data))
    sha256 = sha256_hex(data)
    assert Blob.objects.count() == 1
    assert s3.keys() == [f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"]
    assert s3.multipart_uploads() == []
