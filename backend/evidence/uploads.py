"""Resumable uploads (the domain side of tus 1.0.0): create, append a chunk, terminate, expire.

State is in the Upload row and the data in the upload store (a file under UPLOAD_ROOT or
a multipart upload in S3), so any app server can continue an upload. Appending locks the
row (SELECT … FOR UPDATE), which serialises concurrent PATCH requests on one upload.

When the last byte arrives the whole file is hashed and compared with the sha256 the client
declared: a match becomes a Blob (deduplicated by hash), a mismatch discards everything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import IO
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone

from backend.accounts.models import User
from backend.common.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from backend.evidence.blobs import (
    Sha256Mismatch,
    blob_bytes_present,
    blob_register,
    normalize_content_type,
    normalize_sha256,
)
from backend.evidence.models import Blob, Upload, UploadStatus
from backend.evidence.storage import CHUNK_SIZE, blob_key, current_backend, upload_store

CHECKSUM_ALGORITHMS = ("sha1", "sha256")


class OffsetMismatch(Conflict):
    code = "offset_mismatch"


class ChecksumMismatch(ApplicationError):
    """tus checksum extension: the chunk does not match its Upload-Checksum."""

    status = 460
    code = "checksum_mismatch"


class UploadTooLarge(ApplicationError):
    status = 413
    code = "upload_too_large"


class UploadLengthExceeded(ApplicationError):
    status = 413
    code = "upload_length_exceeded"


class UploadGone(ApplicationError):
    status = 410
    code = "upload_gone"


# Called, inside the upload's transaction, for every upload that completes, whether its bytes
# were new (blob_arrived ran too) or already stored: what a user may use changes either way.
# The sync app listens (a scan's file is judged when its device's upload finishes); evidence
# sits below sync and never imports it.
UPLOAD_COMPLETED_LISTENERS: list[Callable[..., None]] = []


def _completed(*, upload: Upload, failure: ApplicationError | None) -> None:
    if failure is None and upload.status == UploadStatus.COMPLETE:
        for listener in UPLOAD_COMPLETED_LISTENERS:
            listener(upload=upload)


# --- reads ---------------------------------------------------------------------------------


def uploads_visible_to(*, user: User) -> QuerySet[Upload]:
    """An upload belongs to its creator; nobody else sees it."""
    return Upload.objects.filter(owner=user)


def upload_get(*, user: User, upload_id: UUID | str) -> Upload:
    upload = uploads_visible_to(user=user).select_related("blob").filter(pk=upload_id).first()
    if upload is None:
        raise NotFound("No such upload.")
    return upload


def upload_is_expired(upload: Upload, *, now: datetime | None = None) -> bool:
    return upload.status != UploadStatus.COMPLETE and upload.expires_at <= (now or timezone.now())


# --- writes --------------------------------------------------------------------------------


def _next_expiry() -> datetime:
    return timezone.now() + timedelta(hours=settings.UPLOAD_EXPIRY_HOURS)


def upload_create(
    *,
    owner: User,
    length: int,
    expected_sha256: str,
    filename: str = "",
    content_type: str = "",
    metadata: dict[str, str] | None = None,
    raw_metadata: str = "",
) -> Upload:
    if length < 0:
        raise ValidationFailed("Upload-Length must not be negative.", errors={"length": ["Negative."]})
    if length > settings.UPLOAD_MAX_SIZE:
        raise UploadTooLarge(
            f"The upload is larger than the limit of {settings.UPLOAD_MAX_SIZE} bytes.",
            extra={"max_size": settings.UPLOAD_MAX_SIZE},
        )
    failure: ApplicationError | None = None
    with transaction.atomic():
        upload = Upload.objects.create(
            owner=owner,
            length=length,
            expected_sha256=normalize_sha256(expected_sha256),
            filename=(filename or "")[:255],
            content_type=normalize_content_type(content_type),
            metadata=metadata or {},
            raw_metadata=raw_metadata,
            storage=current_backend(),
            expires_at=_next_expiry(),
        )
        store = upload_store(upload.storage)
        store.create(upload)
        if length == 0:
            failure = _upload_finish(upload=upload, store=store)
            upload.save()
            _completed(upload=upload, failure=failure)
    if failure is not None:
        raise failure
    return upload


def _locked_upload(*, upload_id: UUID | str, by: User) -> Upload:
    upload = uploads_visible_to(user=by).select_for_update().filter(pk=upload_id).first()
    if upload is None:
        raise NotFound("No such upload.")
    return upload


def _ensure_open(upload: Upload) -> None:
    if upload.status == UploadStatus.FAILED:
        raise UploadGone("This upload failed its sha256 check and was discarded.", code="upload_failed")
    if upload_is_expired(upload):
        raise UploadGone("This upload expired.", code="upload_expired")


def upload_append(
    *,
    upload_id: UUID | str,
    by: User,
    offset: int,
    body: IO[bytes],
    content_length: int | None = None,
    checksum: tuple[str, bytes] | None = None,
) -> Upload:
    """Append one chunk at `offset`, read from `body` in pieces. Nothing is kept when the
    offset is wrong (409), the chunk would pass the declared length (413) or does not match
    its checksum (460). The last chunk completes the upload (or fails its sha256: 460)."""
    failure: ApplicationError | None = None
    with transaction.atomic():
        upload = _locked_upload(upload_id=upload_id, by=by)
        _ensure_open(upload)
        if offset != upload.offset:
            raise OffsetMismatch(
                f"Upload-Offset is {offset} but the upload is at {upload.offset}.", extra={"offset": upload.offset}
            )
        if upload.status == UploadStatus.COMPLETE:
            if content_length:
                raise Conflict("This upload is already complete.", code="upload_complete")
            return upload
        if content_length is not None and offset + content_length > upload.length:
            raise UploadLengthExceeded(f"The chunk would pass the declared Upload-Length of {upload.length} bytes.")
        hasher = None
        if checksum is not None:
            if checksum[0] not in CHECKSUM_ALGORITHMS:
                raise ValidationFailed("Unsupported checksum algorithm.", code="checksum_algorithm_unsupported")
            hasher = hashlib.new(checksum[0])

        store = upload_store(upload.storage)
        sink = store.appender(upload)
        received = 0
        try:
            while chunk := body.read(CHUNK_SIZE):
                received += len(chunk)
                if offset + received > upload.length:
                    raise UploadLengthExceeded(
                        f"The chunk passes the declared Upload-Length of {upload.length} bytes; it was discarded."
                    )
                if hasher is not None:
                    hasher.update(chunk)
                sink.write(chunk)
            if hasher is not None and not hmac.compare_digest(hasher.digest(), checksum[1]):
                raise ChecksumMismatch(
                    f"The chunk does not match its Upload-Checksum ({checksum[0]}); it was discarded.",
                    extra={"offset": upload.offset},
                )
            sink.commit(is_final=offset + received == upload.length)
        except BaseException:
            sink.discard()
            raise

        upload.offset = offset + received
        upload.expires_at = _next_expiry()
        if upload.offset == upload.length:
            failure = _upload_finish(upload=upload, store=store)
        upload.save()
        _completed(upload=upload, failure=failure)
    if failure is not None:
        raise failure
    return upload


def _upload_finish(*, upload: Upload, store) -> ApplicationError | None:
    """Hash the whole file; keep it as a Blob if it is what the client declared, else
    discard it. Returns the error to raise once the row's new state is committed."""
    digest = hashlib.sha256()
    size = 0
    with store.assembled(upload) as assembled:
        for chunk in assembled.read_chunks():
            digest.update(chunk)
            size += len(chunk)
        sha256 = digest.hexdigest()
        if sha256 != upload.expected_sha256 or size != upload.length:
            store.discard(upload)
            _clear_storage_state(upload)
            upload.status = UploadStatus.FAILED
            return Sha256Mismatch(
                "The uploaded file does not match the declared sha256; it was discarded. Start a new upload.",
                extra={"expected_sha256": upload.expected_sha256, "actual_sha256": sha256},
            )
        blob = Blob.objects.filter(pk=sha256).first()
        if blob is None or not blob_bytes_present(blob=blob):
            assembled.store_as_blob(blob_key(sha256), content_type=upload.content_type)
            if blob is None:
                blob = blob_register(sha256=sha256, size=size, content_type=upload.content_type, storage=upload.storage)
            else:
                Blob.objects.filter(pk=sha256).update(storage=upload.storage)
    store.discard(upload)
    _clear_storage_state(upload)
    upload.blob = blob
    upload.status = UploadStatus.COMPLETE
    upload.completed_at = timezone.now()
    return None


def _clear_storage_state(upload: Upload) -> None:
    upload.s3_multipart_upload_id = ""
    upload.s3_parts = []
    upload.s3_pending = []


def upload_terminate(*, upload_id: UUID | str, by: User) -> None:
    """tus termination: the upload and its data are removed. A finished upload's Blob stays
    (other records may use the same bytes)."""
    with transaction.atomic():
        upload = _locked_upload(upload_id=upload_id, by=by)
        if upload.status == UploadStatus.IN_PROGRESS:
            upload_store(upload.storage).discard(upload)
        try:
            with transaction.atomic():
                upload.delete()
        except ProtectedError as error:
            raise Conflict("This upload is used by a record and cannot be removed.", code="upload_in_use") from error


def uploads_expire(*, now: datetime | None = None) -> int:
    """Remove the data and rows of abandoned uploads (past expires_at). Returns how many."""
    now = now or timezone.now()
    removed = 0
    candidates = Upload.objects.filter(
        status__in=[UploadStatus.IN_PROGRESS, UploadStatus.FAILED], expires_at__lt=now
    ).values_list("id", flat=True)
    for upload_id in list(candidates.iterator()):
        with transaction.atomic():
            # Skip an upload a PATCH holds right now; the next run will see it again.
            upload = (
                Upload.objects.select_for_update(skip_locked=True)
                .filter(pk=upload_id, status__in=[UploadStatus.IN_PROGRESS, UploadStatus.FAILED], expires_at__lt=now)
                .first()
            )
            if upload is None:
                continue
            if upload.status == UploadStatus.IN_PROGRESS:
                upload_store(upload.storage).discard(upload)
            upload.delete()
            removed += 1
    return removed
