"""Blob services: store bytes once under their SHA-256, open them, hand out short-lived URLs."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO

from django.db import transaction

from backend.common.errors import ApplicationError, ValidationFailed
from backend.evidence.models import Blob, StorageBackend
from backend.evidence.storage import CHUNK_SIZE, blob_key, blob_store, current_backend, s3_is_configured

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CONTENT_TYPE_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,63}/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,63}$")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class Sha256Mismatch(ApplicationError):
    """The bytes received do not hash to the SHA-256 the client declared."""

    status = 460
    code = "sha256_mismatch"


def normalize_sha256(value: str) -> str:
    value = (value or "").strip().lower()
    if not SHA256_PATTERN.match(value):
        raise ValidationFailed("sha256 must be 64 hexadecimal characters.", errors={"sha256": ["Not a SHA-256."]})
    return value


def normalize_content_type(value: str | None) -> str:
    value = (value or "").split(";", 1)[0].strip().lower()
    return value if CONTENT_TYPE_PATTERN.match(value) else DEFAULT_CONTENT_TYPE


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_expected(sha256: str, expected_sha256: str | None) -> None:
    if expected_sha256 is not None and sha256 != normalize_sha256(expected_sha256):
        raise Sha256Mismatch(
            "The file does not match the declared sha256; nothing was stored.",
            extra={"expected_sha256": normalize_sha256(expected_sha256), "actual_sha256": sha256},
        )


# Called, inside the registering transaction, with the SHA-256 of bytes the server did not have
# before. The sync app listens (records whose manifests were waiting for them become complete):
# evidence sits below sync and never imports it.
FILE_ARRIVED_LISTENERS: list[Callable[..., None]] = []


def blob_arrived(*, sha256: str) -> None:
    for listener in FILE_ARRIVED_LISTENERS:
        listener(sha256=sha256)


@transaction.atomic
def blob_register(*, sha256: str, size: int, content_type: str, storage: str) -> Blob:
    """The Blob row for bytes already in the store (the first registration wins)."""
    blob, created = Blob.objects.get_or_create(
        sha256=sha256,
        defaults={"size": size, "content_type": normalize_content_type(content_type), "storage": storage},
    )
    if created:
        blob_arrived(sha256=sha256)
    return blob


def blob_store_from_file(
    *,
    path_or_fileobj: str | os.PathLike | IO[bytes],
    expected_sha256: str | None = None,
    content_type: str = DEFAULT_CONTENT_TYPE,
) -> Blob:
    """Store a file once under its SHA-256 and return its Blob (an existing one when the same
    bytes were stored before). Streams: a file object is spooled to a temporary file while it
    is hashed, never held in memory. A mismatch with `expected_sha256` raises Sha256Mismatch
    and stores nothing."""
    store = blob_store()
    if isinstance(path_or_fileobj, str | os.PathLike):
        path = Path(path_or_fileobj)
        sha256, size = _hash_file(path)
        _check_expected(sha256, expected_sha256)
        return _blob_put(store=store, path=path, sha256=sha256, size=size, content_type=content_type, move=False)

    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=store.temporary_directory(), delete=False) as spool:
        while chunk := path_or_fileobj.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            spool.write(chunk)
    spooled = Path(spool.name)
    try:
        sha256 = digest.hexdigest()
        _check_expected(sha256, expected_sha256)
        return _blob_put(store=store, path=spooled, sha256=sha256, size=size, content_type=content_type, move=True)
    finally:
        spooled.unlink(missing_ok=True)


def blob_bytes_present(*, blob: Blob) -> bool:
    """Whether the blob's bytes are in its store (False when that store is no longer configured)."""
    if blob.storage == StorageBackend.S3 and not s3_is_configured():
        return False
    return blob_store(blob.storage).exists(blob_key(blob.sha256))


def _blob_put(*, store, path: Path, sha256: str, size: int, content_type: str, move: bool) -> Blob:
    existing = Blob.objects.filter(sha256=sha256).first()
    if existing is not None and blob_bytes_present(blob=existing):
        if move:
            path.unlink(missing_ok=True)
        return existing
    content_type = normalize_content_type(content_type)
    store.put_file(blob_key(sha256), path, content_type=content_type, move=move)
    if existing is not None:
        # The row outlived its bytes (restored database); the bytes are back now, in this store.
        Blob.objects.filter(pk=sha256).update(storage=store.backend)
        existing.refresh_from_db()
        return existing
    return blob_register(sha256=sha256, size=size, content_type=content_type, storage=store.backend)


def blob_open(*, blob: Blob) -> BinaryIO:
    """A stream of the blob's bytes; the caller closes it."""
    return blob_store(blob.storage).open(blob_key(blob.sha256))


def blob_presigned_url(*, blob: Blob, filename: str | None = None) -> str | None:
    """A short-lived URL for S3 blobs; None for the filesystem, whose blobs only an
    authenticated view serves (use blob_open)."""
    return blob_store(blob.storage).url(blob_key(blob.sha256), content_type=blob.content_type, filename=filename)


def blob_exists_in_storage(*, sha256: str, storage: str | None = None) -> bool:
    return blob_store(storage or current_backend()).exists(blob_key(sha256))


def blob_local_path(*, blob: Blob) -> Path | None:
    """The file on disk for filesystem blobs (for FileResponse / X-Sendfile); None on S3."""
    store = blob_store(blob.storage)
    path_of = getattr(store, "path", None)
    return path_of(blob_key(blob.sha256)) if path_of else None
