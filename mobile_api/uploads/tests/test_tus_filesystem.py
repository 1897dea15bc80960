"""tus uploads with the filesystem store (the default)."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.tests.factories import UserFactory
from backend.evidence.models import Blob, Upload, UploadStatus
from mobile_api.uploads.tests.tus_helpers import (
    OFFSET_STREAM,
    TUS,
    checksum_header,
    create_upload,
    files_under,
    head,
    patch_chunk,
    path_of,
    sha256_hex,
)

pytestmark = pytest.mark.django_db

DATA = os.urandom(300_000)


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def _start(client, data=DATA, **kwargs) -> str:
    response = create_upload(client, data, **kwargs)
    assert response.status_code == 201, response.content
    return path_of(response["Location"])


def test_options_advertises_the_supported_protocol(client):
    response = APIClient().options("/api/v1/uploads/")
    assert response.status_code == 204
    assert response["Tus-Resumable"] == "1.0.0"
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Extension"] == "creation,checksum,termination,expiration"
    assert response["Tus-Max-Size"] == str(512 * 1024 * 1024)
    assert response["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_creation_answers_location_and_expiry_and_stores_the_metadata(client, user, settings):
    response = create_upload(client, DATA, filename="东门.jpg")
    assert response.status_code == 201
    assert response["Tus-Resumable"] == "1.0.0"
    assert response["Upload-Expires"].endswith(" GMT")
    upload = Upload.objects.get()
    assert response["Location"] == f"http://testserver/api/v1/uploads/{upload.id}/"
    assert upload.owner == user
    assert (upload.length, upload.offset, upload.status) == (300_000, 0, UploadStatus.IN_PROGRESS)
    assert (upload.filename, upload.content_type, upload.expected_sha256) == (
        "东门.jpg",
        "image/jpeg",
        sha256_hex(DATA),
    )
    assert upload.storage == "filesystem"
    assert files_under(settings.UPLOAD_ROOT) == [f"{upload.id}.part"]


def test_truncated_upload_resumes_from_the_offset_head_reports(client, settings):
    url = _start(client)
    # The connection broke after 100 000 bytes: the server kept what it received.
    assert patch_chunk(client, url, DATA[:100_000], 0).status_code == 204

    response = head(client, url)
    assert response.status_code == 200
    assert response["Upload-Offset"] == "100000"
    assert response["Upload-Length"] == "300000"
    assert response["Cache-Control"] == "no-store"
    assert response["Tus-Resumable"] == "1.0.0"

    response = patch_chunk(client, url, DATA[100_000:], 100_000)
    assert response.status_code == 204
    assert response["Upload-Offset"] == "300000"
    assert "Upload-Expires" not in response

    upload = Upload.objects.get()
    sha256 = sha256_hex(DATA)
    assert (upload.status, upload.offset, upload.sha256) == (UploadStatus.COMPLETE, 300_000, sha256)
    blob = Blob.objects.get()
    assert (blob.sha256, blob.size, blob.content_type, blob.storage) == (sha256, 300_000, "image/jpeg", "filesystem")
    stored = settings.BLOB_ROOT / "blobs" / sha256[:2] / sha256[2:4] / sha256
    assert stored.read_bytes() == DATA
    assert files_under(settings.BLOB_ROOT) == [f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"]
    assert files_under(settings.UPLOAD_ROOT) == []
    assert client.get(url).json()["sha256"] == sha256


def test_wrong_offset_is_409_and_the_file_is_unchanged(client, settings):
    url = _start(client)
    patch_chunk(client, url, DATA[:1000], 0)

    response = patch_chunk(client, url, DATA[:5000], 0)
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response["Tus-Resumable"] == "1.0.0"
    assert response.json()["code"] == "offset_mismatch"
    assert response.json()["offset"] == 1000
    upload = Upload.objects.get()
    assert upload.offset == 1000
    assert (settings.UPLOAD_ROOT / f"{upload.id}.part").read_bytes() == DATA[:1000]

    assert patch_chunk(client, url, DATA[1000:2000], 5000).status_code == 409
    assert (settings.UPLOAD_ROOT / f"{upload.id}.part").read_bytes() == DATA[:1000]


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_corrupted_chunk_is_460_and_the_offset_does_not_move(client, settings, algorithm):
    url = _start(client)
    patch_chunk(client, url, DATA[:1000], 0, checksum=checksum_header(algorithm, DATA[:1000]))
    corrupted = bytes([DATA[1000] ^ 0xFF]) + DATA[1001:2000]

    response = patch_chunk(client, url, corrupted, 1000, checksum=checksum_header(algorithm, DATA[1000:2000]))
    assert response.status_code == 460
    assert response.json()["code"] == "checksum_mismatch"
    assert response["Tus-Resumable"] == "1.0.0"
    upload = Upload.objects.get()
    assert upload.offset == 1000
    assert (settings.UPLOAD_ROOT / f"{upload.id}.part").read_bytes() == DATA[:1000]
    assert head(client, url)["Upload-Offset"] == "1000"

    response = patch_chunk(client, url, DATA[1000:2000], 1000, checksum=checksum_header(algorithm, DATA[1000:2000]))
    assert response.status_code == 204
    assert response["Upload-Offset"] == "2000"


def test_unsupported_checksum_algorithm_is_400_and_nothing_written(client, settings):
    url = _start(client)
    response = patch_chunk(client, url, DATA[:10], 0, checksum="md5 AAAA")
    assert response.status_code == 400
    assert response.json()["code"] == "checksum_algorithm_unsupported"
    upload = Upload.objects.get()
    assert upload.offset == 0
    assert (settings.UPLOAD_ROOT / f"{upload.id}.part").read_bytes() == b""


def test_wrong_final_sha256_is_refused_and_nothing_is_kept(client, settings):
    url = _start(client, sha256=sha256_hex(b"something else"))
    assert patch_chunk(client, url, DATA[:200_000], 0).status_code == 204

    response = patch_chunk(client, url, DATA[200_000:], 200_000)
    assert response.status_code == 460
    body = response.json()
    assert body["code"] == "sha256_mismatch"
    assert body["expected_sha256"] == sha256_hex(b"something else")
    assert body["actual_sha256"] == sha256_hex(DATA)
    assert Blob.objects.count() == 0
    assert Upload.objects.get().status == UploadStatus.FAILED
    assert files_under(settings.BLOB_ROOT) == []
    assert files_under(settings.UPLOAD_ROOT) == []
    assert head(client, url).status_code == 410
    assert patch_chunk(client, url, b"", 300_000).json()["code"] == "upload_failed"


def test_upload_longer_than_the_limit_is_413_and_not_created(client, settings):
    settings.UPLOAD_MAX_SIZE = 1000
    response = create_upload(client, b"x" * 1001)
    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"
    assert response["Tus-Resumable"] == "1.0.0"
    assert Upload.objects.count() == 0
    assert files_under(settings.UPLOAD_ROOT) == []


def test_chunk_past_the_declared_length_is_413_and_discarded(client, settings):
    url = _start(client, DATA[:1000])
    patch_chunk(client, url, DATA[:600], 0)

    response = patch_chunk(client, url, DATA[600:1200], 600)
    assert response.status_code == 413
    assert response.json()["code"] == "upload_length_exceeded"
    upload = Upload.objects.get()
    assert upload.offset == 600
    assert (settings.UPLOAD_ROOT / f"{upload.id}.part").read_bytes() == DATA[:600]


def test_patch_needs_the_offset_content_type(client):
    url = _start(client)
    response = client.generic(
        "PATCH", url, data=DATA[:10], content_type="application/json", headers={**TUS, "Upload-Offset": "0"}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert Upload.objects.get().offset == 0


def test_missing_tus_resumable_is_412(client):
    response = client.post("/api/v1/uploads/", headers={"Upload-Length": "10"})
    assert response.status_code == 412
    assert response["Tus-Version"] == "1.0.0"
    assert response.json()["code"] == "tus_version_unsupported"
    assert Upload.objects.count() == 0


def test_missing_sha256_metadata_is_400(client):
    response = client.post("/api/v1/uploads/", headers={**TUS, "Upload-Length": "10"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert Upload.objects.count() == 0


def test_termination_removes_the_upload_and_its_data(client, settings):
    url = _start(client)
    patch_chunk(client, url, DATA[:1000], 0)

    response = client.delete(url, headers=TUS)
    assert response.status_code == 204
    assert response["Tus-Resumable"] == "1.0.0"
    assert Upload.objects.count() == 0
    assert files_under(settings.UPLOAD_ROOT) == []
    assert head(client, url).status_code == 404


def test_expiry_command_removes_expired_uploads_and_keeps_live_ones(client, settings):
    expired_url = _start(client)
    patch_chunk(client, expired_url, DATA[:1000], 0)
    live_url = _start(client, DATA[:5000])
    live = Upload.objects.get(pk=live_url.rstrip("/").rsplit("/", 1)[1])
    Upload.objects.exclude(pk=live.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert head(client, expired_url).status_code == 410

    call_command("uploads_expire")

    assert list(Upload.objects.values_list("pk", flat=True)) == [live.pk]
    assert files_under(settings.UPLOAD_ROOT) == [f"{live.pk}.part"]


def test_another_users_upload_is_404(client):
    url = _start(client)
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert head(stranger, url).status_code == 404
    response = patch_chunk(stranger, url, DATA[:10], 0)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert stranger.delete(url, headers=TUS).status_code == 404
    assert Upload.objects.get().offset == 0


def test_same_bytes_uploaded_twice_make_one_blob(client, settings):
    for _ in range(2):
        url = _start(client)
        assert patch_chunk(client, url, DATA, 0).status_code == 204
    assert Blob.objects.count() == 1
    assert list(Upload.objects.values_list("blob_id", flat=True)) == [sha256_hex(DATA)] * 2
    assert len(files_under(settings.BLOB_ROOT)) == 1
    assert files_under(settings.UPLOAD_ROOT) == []


def test_empty_file_is_complete_on_creation(client):
    response = create_upload(client, b"")
    assert response.status_code == 201
    upload = Upload.objects.get()
    assert (upload.status, upload.blob_id) == (UploadStatus.COMPLETE, sha256_hex(b""))
    assert "Upload-Expires" not in response


def test_token_authentication_and_anonymous_refusal():
    from backend.accounts.services import device_token_issue

    raw, _ = device_token_issue(user=UserFactory(), device_id="tablet-1")
    anonymous = APIClient()
    response = anonymous.post("/api/v1/uploads/", headers={**TUS, "Upload-Length": "3"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["Tus-Resumable"] == "1.0.0"

    tablet = APIClient(headers={"Authorization": f"Token {raw}"})
    response = create_upload(tablet, b"abc")
    assert response.status_code == 201
    response = tablet.generic(
        "PATCH",
        path_of(response["Location"]),
        data=b"abc",
        content_type=OFFSET_STREAM,
        headers={**TUS, "Upload-Offset": "0"},
    )
    assert response.status_code == 204
    assert Blob.objects.get().sha256 == sha256_hex(b"abc")
