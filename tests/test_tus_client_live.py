"""A real tus client (tuspy) uploads to a live server over HTTP, with filesystem and S3 storage."""

import base64
import hashlib
import io
import os

import pytest
from tusclient import client as tus_client

from backend.accounts.services import device_token_issue
from backend.accounts.tests.factories import UserFactory
from backend.evidence.models import Blob, Upload, UploadStatus

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


def _upload_with_tuspy(live_server, data: bytes, *, chunk_size: int) -> str:
    raw, _ = device_token_issue(user=UserFactory(), device_id="tablet-live")
    tus = tus_client.TusClient(f"{live_server.url}/api/v1/uploads/", headers={"Authorization": f"Token {raw}"})
    uploader = tus.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=chunk_size,
        upload_checksum=True,
        metadata={
            "filename": "现场照片.jpg",
            "content_type": "image/jpeg",
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    uploader.upload()
    assert uploader.offset == len(data)
    return uploader.url


def test_tuspy_uploads_a_file_to_completion_on_the_filesystem(live_server, settings):
    data = os.urandom(3 * MIB + 17)
    url = _upload_with_tuspy(live_server, data, chunk_size=MIB)

    upload = Upload.objects.get()
    assert url == f"{live_server.url}/api/v1/uploads/{upload.id}/"
    sha256 = hashlib.sha256(data).hexdigest()
    assert (upload.status, upload.offset, upload.blob_id, upload.filename) == (
        UploadStatus.COMPLETE,
        len(data),
        sha256,
        "现场照片.jpg",
    )
    blob = Blob.objects.get()
    assert (blob.size, blob.storage) == (len(data), "filesystem")
    assert (settings.BLOB_ROOT / "blobs" / sha256[:2] / sha256[2:4] / sha256).read_bytes() == data


def test_tuspy_uploads_a_file_to_completion_on_s3(live_server, s3_storage, settings):
    settings.UPLOAD_S3_PART_SIZE = 5 * MIB
    data = os.urandom(11 * MIB + 5)
    _upload_with_tuspy(live_server, data, chunk_size=2 * MIB)

    sha256 = hashlib.sha256(data).hexdigest()
    assert Upload.objects.get().blob_id == sha256
    assert Blob.objects.get().storage == "s3"
    assert s3_storage.keys() == [f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"]
    assert s3_storage.multipart_uploads() == []


def test_concurrent_patches_on_one_upload_are_serialized(live_server, settings):
    import threading

    import requests

    raw, _ = device_token_issue(user=UserFactory(), device_id="tablet-race")
    headers = {"Authorization": f"Token {raw}", "Tus-Resumable": "1.0.0"}
    first, second = os.urandom(8 * MIB), os.urandom(8 * MIB)
    metadata = "sha256 " + base64.b64encode(hashlib.sha256(first).hexdigest().encode()).decode()
    created = requests.post(
        f"{live_server.url}/api/v1/uploads/",
        headers={**headers, "Upload-Length": str(16 * MIB), "Upload-Metadata": metadata},
        timeout=30,
    )
    assert created.status_code == 201
    statuses = {}

    def send(name, data):
        response = requests.patch(
            created.headers["Location"],
            data=data,
            headers={**headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            timeout=60,
        )
        statuses[name] = response.status_code

    threads = [threading.Thread(target=send, args=item) for item in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses.values()) == [204, 409]
    upload = Upload.objects.get()
    assert upload.offset == 8 * MIB
    winner = first if statuses["first"] == 204 else second
    assert (settings.UPLOAD_ROOT / f"{upload.id}.part").read_bytes() == winner
