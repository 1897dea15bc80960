"""Photos of field records: reads (scoped by the record they belong to) and writes.

A photo is created from a file sent with the request, from the user's finished tus upload, or
from a blob the user already has (their own finished upload of it, or a photo of it they can
see). The image is judged by its bytes (backend.evidence.images) before anything is stored;
its location comes from EXIF, else the device fix, and is measured against the red line of
the record's site in PostGIS. A failure leaves nothing behind: no Photo row, no new Blob, no
file. Thumbnail and preview are made after commit, in the background (`photo_make_derivatives`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import struct
import tempfile
import uuid
from collections.abc import Iterator
from functools import reduce
from operator import or_
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from PIL import Image
from procrastinate.contrib.django import app as procrastinate_app

from backend.common.errors import ApplicationError, Conflict, RecordLocked, ValidationFailed
from backend.evidence.blobs import blob_arrived, blob_local_path, blob_open, blob_store_from_file, normalize_sha256
from backend.evidence.images import (
    CONTENT_TYPES,
    ImageInfo,
    UnsupportedImage,
    image_derivatives,
    image_inspect,
    sniff_format,
)
from backend.evidence.models import Blob, LocationSource, Photo, PhotoProcessing, Upload, UploadStatus
from backend.evidence.storage import CHUNK_SIZE, blob_key, blob_store, copy_stream
from backend.records.models import FieldRecord
from backend.records.registry import RECORD_TYPES
from backend.records.services import record_check_can_write, record_create, record_delete, record_update

logger = logging.getLogger(__name__)

# Evidence is not attached to evidence.
NOT_ATTACHABLE = frozenset({"photo", "signature"})
UPDATABLE_FIELDS = frozenset({"heading", "taken_at"})


class FileTooLarge(ApplicationError):
    status = 413
    code = "file_too_large"


# The job that makes a photo's derivatives (defined in backend.evidence.tasks).
PHOTO_DERIVATIVES_TASK = "evidence.photo_make_derivatives"


def max_photo_bytes() -> int:
    return int(getattr(settings, "PHOTO_MAX_BYTES", 50 * 1024 * 1024))


def site_tolerance_m() -> float:
    return float(getattr(settings, "PHOTO_SITE_TOLERANCE_M", 50.0))


# --- reads ---------------------------------------------------------------------------------


def photos_visible_to(*, user: Any) -> QuerySet[Photo]:
    """A photo is visible exactly when the record it belongs to is."""
    conditions = [
        Q(record_type=name, record_id__in=registered.visible_to(user=user).values("pk"))
        for name, registered in RECORD_TYPES.items()
        if name not in NOT_ATTACHABLE
    ]
    if not conditions:
        return Photo.objects.none()
    return Photo.objects.filter(reduce(or_, conditions)).select_related("blob")


def photo_target(photo: Photo) -> FieldRecord | None:
    """The record a photo belongs to (deleted ones included)."""
    registered = RECORD_TYPES.get(photo.record_type)
    return registered.model.all_objects.filter(pk=photo.record_id).first() if registered else None


# --- files ---------------------------------------------------------------------------------


def file_sha256(path: Path | str) -> str:
    """The file's SHA-256. The view (for the request digest) and the service ask for the same
    temporary file one after the other; the second answer comes from a cache keyed by the
    file's identity and modification time."""
    stat = os.stat(path)
    return _file_sha256(str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, device: int, inode: int, size: int, modified_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def local_file(file: Any) -> Iterator[Path]:
    """A path for an uploaded file: Django's temporary file as it is, anything else spooled
    to a temporary file in chunks (never read whole)."""
    if isinstance(file, str | os.PathLike):
        yield Path(file)
        return
    temporary_path = getattr(file, "temporary_file_path", None)
    if callable(temporary_path):
        yield Path(temporary_path())
        return
    with tempfile.NamedTemporaryFile(prefix="photo-", suffix=".upload") as spool:
        if hasattr(file, "seek"):
            file.seek(0)
        chunks = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(CHUNK_SIZE), b"")
        for chunk in chunks:
            spool.write(chunk)
        spool.flush()
        yield Path(spool.name)


@contextlib.contextmanager
def blob_local_file(blob: Blob) -> Iterator[Path]:
    """The blob's bytes as a local file: the stored file itself, or an S3 object downloaded."""
    path = blob_local_path(blob=blob)
    if path is not None:
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="photo-", suffix=".blob") as spool:
        with contextlib.closing(blob_open(blob=blob)) as body:
            copy_stream(body, spool)
        spool.flush()
        yield Path(spool.name)


def blob_image_check(*, blob: Blob, content_type: str) -> ImageInfo | None:
    """Judge stored bytes the way a photo's are judged, for files that reach the server by
    their hash alone (a scan's upload): bytes declared as an image, or that are one whatever
    they were declared as, must pass image_inspect (415, 400, 413, or 422 `image_rejected` for
    metadata that hides another file). Bytes that are no image and were not declared one (a
    PDF) are not images to judge: None."""
    # The first bytes decide; a PDF (on S3, say) is not fetched whole to learn it is no image.
    with contextlib.closing(blob_open(blob=blob)) as body:
        detected = sniff_format(body.read(16))
    if detected is None and content_type not in CONTENT_TYPES.values():
        return None
    with blob_local_file(blob) as path:
        info = image_inspect(path)
    if content_type in CONTENT_TYPES.values() and info.content_type != content_type:
        raise UnsupportedImage(f"The file is {info.format}, not {content_type}.", extra={"allowed": [content_type]})
    return info


def _check_size(size: int) -> None:
    if size > max_photo_bytes():
        raise FileTooLarge(
            f"The photo is larger than {max_photo_bytes()} bytes.", extra={"max_bytes": max_photo_bytes()}
        )


# --- writes --------------------------------------------------------------------------------


def _target_for_create(*, by: Any, record_type: str, target_id: uuid.UUID) -> FieldRecord:
    registered = RECORD_TYPES.get(record_type)
    if registered is None or record_type in NOT_ATTACHABLE:
        allowed = sorted(set(RECORD_TYPES) - NOT_ATTACHABLE)
        raise ValidationFailed(
            f"Photos cannot be attached to {record_type!r:.40}.",
            errors={"record_type": [f"One of: {', '.join(allowed)}."]},
        )
    records = registered.model.objects.all() if by is None else registered.visible_to(user=by)
    record = records.filter(pk=target_id).first()
    if record is None:
        raise ValidationFailed("No such record.", errors={"record_id": ["No such record."]})
    return record


def _check_target_writable(*, by: Any, record: FieldRecord | None, adding: bool) -> None:
    if record is None:
        return
    if record.is_locked:
        verb = "add photos to it" if adding else "change its photos"
        raise RecordLocked(f"The record is signed off and locked; reopen it to {verb}.")
    if record.deleted_at is not None:
        raise ValidationFailed("The record was deleted.", code="record_deleted", status=410)


def _blob_for_sha256(*, by: Any, sha256: str) -> Blob:
    """A stored blob the user may attach: their own finished upload of it, or a photo of it they
    can see. Anything else reads as missing, so hashes cannot be probed."""
    sha256 = normalize_sha256(sha256)
    blob = Blob.objects.filter(pk=sha256).first()
    allowed = blob is not None and (
        by is None
        or Upload.objects.filter(owner=by, blob=blob, status=UploadStatus.COMPLETE).exists()
        or photos_visible_to(user=by).filter(blob=blob).exists()
    )
    if not allowed:
        raise ValidationFailed(
            "No file with this sha256 is available to you; upload it first (tus) or send the file.",
            code="file_missing",
            errors={"sha256": ["No such file."]},
        )
    return blob


def _blob_for_upload(*, by: Any, upload_id: uuid.UUID) -> Blob:
    upload = Upload.objects.select_related("blob").filter(pk=upload_id, owner=by).first() if by else None
    if upload is None:
        raise ValidationFailed("No such upload.", errors={"upload": ["No such upload."]})
    if upload.status != UploadStatus.COMPLETE or upload.blob is None:
        raise Conflict("The upload is not complete yet.", code="upload_incomplete", extra={"offset": upload.offset})
    return upload.blob


def _device_location(location: Point | None) -> Point | None:
    if location is None:
        return None
    if location.srid not in (None, 4326) or location.geom_type != "Point":
        raise ValidationFailed("location must be a WGS84 point.", errors={"location": ["A WGS84 point."]})
    return Point(location.x, location.y, srid=4326)


def _check_heading(heading: float | None) -> float | None:
    if heading is None:
        return None
    if not 0 <= heading <= 360:
        raise ValidationFailed("heading is in degrees from north, 0 to 360.", errors={"heading": ["0 to 360."]})
    return float(heading) % 360


def _site_ids(*, record: FieldRecord, case_id: Any) -> list[Any]:
    from backend.sites.models import Site

    if isinstance(record, Site):
        return [record.pk]
    if getattr(record, "site_id", None):
        return [record.site_id]
    return list(Site.objects.filter(case_id=case_id).values_list("pk", flat=True))


def photo_site_distance_m(*, point: Point, site_ids: list[Any]) -> float | None:
    """Metres from the point to the nearest of the sites' red lines (0 inside), on the
    spheroid (ST_Distance on geography); None without a site."""
    if not site_ids:
        return None
    from backend.sites.models import Site

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(ST_Distance(boundary::geography, ST_GeomFromEWKB(%s)::geography)) "  # noqa: S608
            f"FROM {Site._meta.db_table} WHERE id = ANY(%s) AND deleted_at IS NULL",
            [bytes(point.ewkb), list(site_ids)],
        )
        (distance,) = cursor.fetchone()
    return None if distance is None else round(float(distance), 2)


def _photo_fields(
    *,
    record: FieldRecord,
    record_type: str,
    info: ImageInfo,
    location: Point | None,
    heading: float | None,
    taken_at: Any,
) -> dict[str, Any]:
    if info.exif_location is not None:
        point, source = Point(*info.exif_location, srid=4326), LocationSource.EXIF
    elif location is not None:
        point, source = location, LocationSource.DEVICE
    else:
        point, source = None, LocationSource.NONE
    fallbacks = {
        "exif_gps_invalid": "the device location was used" if location is not None else "the photo has no location",
        "exif_heading_invalid": "the device heading was used" if heading is not None else "the photo has no heading",
    }
    warnings = [
        {"code": warning["code"], "detail": f"{warning['detail']}; {fallbacks[warning['code']]}."}
        for warning in info.exif_warnings
    ]
    distance = None
    if point is not None:
        distance = photo_site_distance_m(point=point, site_ids=_site_ids(record=record, case_id=record.case_id))
    return {
        "case_id": record.case_id,
        "record_type": record_type,
        "record_id": record.pk,
        "content_type": info.content_type,
        "width": info.width,
        "height": info.height,
        "taken_at": info.exif_taken_at or taken_at,
        "location": point,
        "location_source": source,
        "heading": info.exif_heading if info.exif_heading is not None else heading,
        "distance_to_site_m": distance,
        "within_site": None if distance is None else distance <= site_tolerance_m(),
        "processing_status": PhotoProcessing.PENDING,
        "location_warnings": warnings,
    }


def photo_create(
    *,
    by: Any,
    record_type: str,
    target_id: uuid.UUID,
    file: Any = None,
    upload: uuid.UUID | None = None,
    sha256: str | None = None,
    case_id: uuid.UUID | None = None,
    location: Point | None = None,
    heading: float | None = None,
    taken_at: Any = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Photo, bool]:
    """Attach a photo to a record. Returns (photo, created).

    With a client id the photo is that id: the same id and content again is a replay
    (created=False), the same id with other content an IdConflict, and a new id is a new photo
    even when the same bytes are already on the record under another id (it shares their blob),
    so a device always finds its photo where it put it. Without a client id the bytes are the
    identity: the same bytes on the same record again give the existing photo (created=False)."""
    if record_id is not None and Photo.all_objects.filter(pk=record_id).exists():
        return record_create(model=Photo, fields={}, by=by, record_id=record_id, digest=digest)
    sources = [name for name, value in (("file", file), ("upload", upload), ("sha256", sha256)) if value]
    if len(sources) != 1:
        raise ValidationFailed(
            "Send exactly one of file, upload or sha256.",
            errors={"file": ["Send exactly one of file, upload, sha256."]},
        )
    record = _target_for_create(by=by, record_type=record_type, target_id=target_id)
    if record.case_id is None:
        raise ValidationFailed("The record belongs to no case.", errors={"record_id": ["The record has no case."]})
    if case_id is not None and case_id != record.case_id:
        raise ValidationFailed(
            "The record belongs to another case.",
            code="case_record_mismatch",
            errors={"case": ["The record belongs to another case."]},
        )
    record_check_can_write(user=by, case=record.case)
    _check_target_writable(by=by, record=record, adding=True)
    location = _device_location(location)
    heading = _check_heading(heading)
    arguments = {"by": by, "record": record, "record_type": record_type, "location": location}
    arguments |= {"heading": heading, "taken_at": taken_at, "device_id": device_id}
    arguments |= {"record_id": record_id, "digest": digest}

    if file is not None:
        with local_file(file) as path:
            _check_size(path.stat().st_size)
            info = image_inspect(path)
            return _create_with_new_file(path=path, info=info, **arguments)
    blob = _blob_for_upload(by=by, upload_id=upload) if upload else _blob_for_sha256(by=by, sha256=sha256)
    _check_size(blob.size)
    with blob_local_file(blob) as path:
        info = image_inspect(path)
    return _create(blob=blob, info=info, **arguments)


def _create_with_new_file(*, path: Path, info: ImageInfo, **arguments: Any) -> tuple[Photo, bool]:
    sha256 = file_sha256(path)
    existed = Blob.objects.filter(pk=sha256).exists()
    try:
        with transaction.atomic():
            blob = blob_store_from_file(path_or_fileobj=path, expected_sha256=sha256, content_type=info.content_type)
            return _create(blob=blob, info=info, **arguments)
    except BaseException:
        if not existed and not Blob.objects.filter(pk=sha256).exists():
            # The row was rolled back: take the file it was for with it.
            blob_store().delete(blob_key(sha256))
        raise


def _existing(*, record_type: str, record: FieldRecord, blob: Blob) -> Photo | None:
    return Photo.objects.filter(record_type=record_type, record_id=record.pk, blob=blob).first()


def _create(
    *,
    by: Any,
    record: FieldRecord,
    record_type: str,
    blob: Blob,
    info: ImageInfo,
    location: Point | None,
    heading: float | None,
    taken_at: Any,
    device_id: str,
    record_id: uuid.UUID | None,
    digest: str,
) -> tuple[Photo, bool]:
    if record_id is None:
        existing = _existing(record_type=record_type, record=record, blob=blob)
        if existing is not None:
            return existing, False
    fields = _photo_fields(
        record=record, record_type=record_type, info=info, location=location, heading=heading, taken_at=taken_at
    )
    fields["blob"] = blob
    fields["has_client_id"] = record_id is not None
    try:
        with transaction.atomic():
            return record_create(
                model=Photo,
                fields=fields,
                by=by,
                device_id=device_id,
                record_id=record_id,
                digest=digest,
                after_create=_after_create,
            )
    except IntegrityError:
        # A concurrent request without a client id attached the same bytes first.
        if record_id is not None:
            raise
        existing = _existing(record_type=record_type, record=record, blob=blob)
        if existing is None:
            raise
        return existing, False


def _after_create(photo: FieldRecord) -> None:
    # Records whose devices declared this file as an attachment may be complete now.
    blob_arrived(sha256=photo.blob_id)
    photo_id = photo.pk
    transaction.on_commit(lambda: photo_derivatives_schedule(photo_id=photo_id))


def photo_update(
    *,
    instance: Photo,
    changes: dict[str, Any],
    by: Any,
    device_id: str = "",
    expected_version: int | None = None,
) -> Photo:
    """Only the heading and the time taken may be corrected; the file, the record it belongs
    to and the location are evidence and stay as they were."""
    refused = sorted(set(changes) - UPDATABLE_FIELDS)
    if refused:
        raise ValidationFailed(
            "Only heading and taken_at of a photo can be changed.",
            code="read_only_field",
            errors={name: ["Cannot be changed."] for name in refused},
        )
    record_check_can_write(user=by, case=instance.case)
    _check_target_writable(by=by, record=photo_target(instance), adding=False)
    if "heading" in changes:
        changes = {**changes, "heading": _check_heading(changes["heading"])}
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


def photo_delete(*, instance: Photo, by: Any, device_id: str = "", expected_version: int | None = None) -> Photo:
    """Remove a photo from its record (a tombstone); refused while the record is locked."""
    record_check_can_write(user=by, case=instance.case)
    _check_target_writable(by=by, record=photo_target(instance), adding=False)
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)


# --- derivatives ---------------------------------------------------------------------------


def derivatives_inline() -> bool:
    return bool(getattr(settings, "PHOTO_DERIVATIVES_INLINE", False))


def photo_derivatives_schedule(*, photo_id: uuid.UUID) -> None:
    """Queue the thumbnail job (or, with PHOTO_DERIVATIVES_INLINE, make them right away)."""
    if derivatives_inline():
        photo = Photo.all_objects.filter(pk=photo_id).first()
        if photo is not None:
            photo_make_derivatives(photo=photo)
        return
    # By the task's name: the job module (backend.evidence.tasks) imports this one, not the reverse.
    procrastinate_app.configure_task(name=PHOTO_DERIVATIVES_TASK).defer(photo_id=str(photo_id))


PREVIEW_SIZE = 1600
THUMBNAIL_SIZE = 320
DERIVATIVE_ERRORS = (
    ApplicationError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


def _store_jpeg(data: bytes) -> Blob:
    return blob_store_from_file(path_or_fileobj=io.BytesIO(data), content_type="image/jpeg")


def photo_make_derivatives(*, photo: Photo) -> Photo:
    """Make the preview (1600 px) and thumbnail (320 px): JPEG, upright, without EXIF or any
    other metadata. Idempotent; a photo whose pixels cannot be decoded is marked failed."""
    photo = Photo.all_objects.select_related("blob").get(pk=photo.pk)
    if photo.processing_status == PhotoProcessing.READY:
        return photo
    try:
        with blob_local_file(photo.blob) as path:
            preview, thumbnail = image_derivatives(path, sizes=(PREVIEW_SIZE, THUMBNAIL_SIZE))
        preview_blob = _store_jpeg(preview)
        thumbnail_blob = _store_jpeg(thumbnail)
    except DERIVATIVE_ERRORS as error:
        logger.warning("photo %s: no derivatives: %s", photo.pk, error)
        Photo.all_objects.filter(pk=photo.pk).update(
            processing_status=PhotoProcessing.FAILED, processing_error=str(error)[:500]
        )
        photo.refresh_from_db()
        return photo
    Photo.all_objects.filter(pk=photo.pk).update(
        preview=preview_blob, thumbnail=thumbnail_blob, processing_status=PhotoProcessing.READY, processing_error=""
    )
    photo.refresh_from_db()
    return photo


def photos_make_pending_derivatives(*, limit: int | None = None) -> int:
    """Make the derivatives of every photo still waiting (development without a worker)."""
    done = 0
    pending = Photo.all_objects.filter(processing_status=PhotoProcessing.PENDING).order_by("created_at")
    for photo in pending[:limit] if limit else pending.iterator():
        photo_make_derivatives(photo=photo)
        done += 1
    return done
