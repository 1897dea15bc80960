"""Content-addressed blob storage: streamed, deduplicated, verified, private."""

import hashlib
import io
import os

import pytest

from backend.common.health import check_storage, readiness_problems
from backend.evidence.blobs import Sha256Mismatch, blob_open, blob_presigned_url, blob_store_from_file
from backend.evidence.models import Blob
from backend.evidence.storage import blob_key

pytestmark = pytest.mark.django_db

DATA = os.urandom(2 * 1024 * 1024 + 3)
SHA256 = hashlib.sha256(DATA).hexdigest()


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_blob_key_is_content_addressed():
    assert blob_key("ab" * 32) == "blobs/ab/ab/" + "ab" * 32


def test_storing_from_a_path_keeps_the_source_and_stores_once(tmp_path, settings):
    source = tmp_path / "photo.jpg"
    source.write_bytes(DATA)

    blob = blob_store_from_file(path_or_fileobj=source, expected_sha256=SHA256, content_type="image/jpeg")

    assert (blob.sha256, blob.size, blob.content_type, blob.storage) == (SHA256, len(DATA), "image/jpeg", "filesystem")
    assert source.read_bytes() == DATA
    assert _files(settings.BLOB_ROOT) == [blob_key(SHA256)]
    stored = settings.BLOB_ROOT / blob_key(SHA256)
    assert stored.stat().st_mode & 0o777 == 0o444
    with blob_open(blob=blob) as handle:
        assert handle.read() == DATA
    assert blob_presigned_url(blob=blob) is None


def test_storing_the_same_bytes_from_a_stream_dedups(settings):
    first = blob_store_from_file(path_or_fileobj=io.BytesIO(DATA))
    second = blob_store_from_file(path_or_fileobj=io.BytesIO(DATA), content_type="image/png")
    assert first == second
    assert Blob.objects.count() == 1
    assert Blob.objects.get().content_type == "application/octet-stream"
    assert _files(settings.BLOB_ROOT) == [blob_key(SHA256)]


def test_a_wrong_expected_sha256_stores_nothing(settings):
    wrong = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(Sha256Mismatch) as caught:
        blob_store_from_file(path_or_fileobj=io.BytesIO(DATA), expected_sha256=wrong)
    assert caught.value.status == 460
    assert caught.value.extra == {"expected_sha256": wrong, "actual_sha256": SHA256}
    assert Blob.objects.count() == 0
    assert _files(settings.BLOB_ROOT) == []


def test_an_unsafe_content_type_is_stored_as_octet_stream():
    blob = blob_store_from_file(path_or_fileobj=io.BytesIO(b"x"), content_type="text/html\r\nX-Evil: 1")
    assert blob.content_type == "application/octet-stream"


def test_storing_on_s3_and_reading_back(s3_storage):
    blob = blob_store_from_file(path_or_fileobj=io.BytesIO(DATA), expected_sha256=SHA256, content_type="image/jpeg")
    assert blob.storage == "s3"
    assert s3_storage.keys() == [blob_key(SHA256)]
    with blob_open(blob=blob) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == SHA256
    again = blob_store_from_file(path_or_fileobj=io.BytesIO(DATA))
    assert again.pk == blob.pk
    assert s3_storage.keys() == [blob_key(SHA256)]


def test_s3_mismatch_stores_nothing(s3_storage):
    with pytest.raises(Sha256Mismatch):
        blob_store_from_file(path_or_fileobj=io.BytesIO(DATA), expected_sha256="0" * 64)
    assert s3_storage.keys() == []
    assert Blob.objects.count() == 0


def test_readiness_checks_the_filesystem_store(settings):
    assert check_storage() is None
    assert _files(settings.BLOB_ROOT) == []
    blocker = settings.BLOB_ROOT.parent / "not-a-directory"
    blocker.write_bytes(b"")
    settings.BLOB_ROOT = blocker
    assert check_storage() == "storage (filesystem): FileExistsError"


def test_readiness_checks_the_s3_bucket(s3_storage, settings):
    assert check_storage() is None
    assert "storage" not in readiness_problems()
    settings.S3_BUCKET = "no-such-bucket-here"
    from backend.evidence.storage import storage_cache_clear

    storage_cache_clear()
    assert check_storage() == "storage (s3): ClientError"
