"""Signing field records, verifying signatures, voiding them when a record is reopened.

Who signs (`signature_create`):
- By default the authenticated user signs for their own organisation: signer = the user (name,
  first role, organisation); `department`, when given, must be that organisation.
- A named person may sign on the device of a user who may write the case's records (an
  official, a survey crew, a vehicle team, an administrator), e.g. the builder's representative
  on the official's tablet: `signer_name` is given, the device's user is kept as `witness`,
  and `department` (the slot) is required. `by=None` (system, demo) signs as a named person.
- The record must be visible to the signer (else it reads as missing: 400 on `record_id`).

Slots (the department a signature fills; one valid signature per slot, a second → 409
`already_signed`):
- survey: the departments of the participants who attended (required), and the project's
  builder (optional: the builder usually attends, and then is required like any attendee);
  the survey must be `submitted` (or already `signed`, for a late optional signer);
- inspection: each item's department (required); every item must have its final result;
- any other record type: any organisation, nothing is locked automatically.
Signatures given before a change to a not yet locked record (a survey stays editable until its
last required signer signed) are voided (reason `record_changed`, audited) when the next person
signs, so their departments sign again. When the last required slot of a survey or an inspection
is filled, the record app's
mark-signed service locks it (`survey_mark_signed`, `inspection_mark_signed`), in the same
transaction as the signature.

What is signed: `content_hash` (backend.signatures.content) of the record as it is now in the
database, and the signature's own metadata; the server signs `signature_message(signature)`
with Ed25519 (backend.common.signing_keys).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.models import Organization, Role
from backend.audit.services import canonical_json
from backend.common import signing_keys as keys
from backend.common.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from backend.evidence.blobs import blob_open, blob_store_from_file, normalize_sha256
from backend.evidence.images import PNG, ImageTooLarge, UnsupportedImage, image_inspect
from backend.evidence.models import Blob, Upload, UploadStatus
from backend.evidence.photos import blob_local_file, local_file
from backend.evidence.storage import CHUNK_SIZE, blob_key, blob_store
from backend.records.models import FieldRecord
from backend.records.registry import RECORD_TYPES, record_type_of
from backend.records.services import record_can_write_case, record_create, record_select_for_update, record_update
from backend.signatures.content import (
    content_hash_of,
    content_photo_hashes,
    json_value,
    record_content,
    record_content_hash,
)
from backend.signatures.models import Signature, SignatureStatus
from backend.signatures.selectors import NOT_SIGNABLE, signatures_of_record
from backend.signatures.signable import Slots, signable_of

PAYLOAD_VERSION = 1
MAX_SIGNATURE_PIXELS = 4096 * 4096
MAX_STROKES = 2_000
MAX_STROKE_POINTS = 100_000
MAX_STROKES_JSON_BYTES = 1024 * 1024
# A device clock a little ahead of the server is tolerated; further ahead is a wrong clock.
DEVICE_CLOCK_SKEW = dt.timedelta(minutes=5)


class FileTooLarge(ApplicationError):
    status = 413
    code = "file_too_large"


def max_image_bytes() -> int:
    return int(getattr(settings, "SIGNATURE_IMAGE_MAX_BYTES", 1024 * 1024))


# --- the signed payload --------------------------------------------------------------------


def strokes_sha256(strokes: Any) -> str | None:
    if strokes is None:
        return None
    return hashlib.sha256(canonical_json(strokes).encode("utf-8")).hexdigest()


def signature_payload(signature: Signature) -> dict[str, Any]:
    """What the server signs: the content hash and every fact the signature states."""
    location = signature.location
    return {
        "v": PAYLOAD_VERSION,
        "id": str(signature.pk),
        "case": str(signature.case_id),
        "record_type": signature.record_type,
        "record_id": str(signature.record_id),
        "content_hash": signature.content_hash,
        "department": str(signature.department_id),
        "signer": {
            "name": signature.signer_name,
            "role": signature.signer_role,
            "organization": str(signature.signer_organization_id) if signature.signer_organization_id else None,
            "organization_name": signature.signer_organization_name,
            "user": str(signature.signer_user_id) if signature.signer_user_id else None,
            "witness": str(signature.witness_id) if signature.witness_id else None,
        },
        "signed_at": json_value(signature.signed_at),
        "device_signed_at": json_value(signature.device_signed_at),
        "location": list(location.coords) if location is not None else None,
        "image_sha256": signature.image_id,
        "strokes_sha256": strokes_sha256(signature.strokes),
        "key_id": signature.key_id,
    }


def signature_message(signature: Signature) -> bytes:
    return canonical_json(signature_payload(signature)).encode("utf-8")


# --- slots and readiness -------------------------------------------------------------------


def signer_slots(*, record_type: str, record: FieldRecord) -> Slots:
    """(departments allowed to sign — None: any —, departments required before the record locks)."""
    return signable_of(record_type).signers(record)


def _check_ready(*, record_type: str, record: FieldRecord) -> None:
    if record.deleted_at is not None:
        raise ValidationFailed("The record was deleted.", code="record_deleted", status=410)
    signable_of(record_type).check_ready(record)


def _mark_signed_if_complete(*, record_type: str, record: FieldRecord, by: Any, device_id: str) -> None:
    signable = signable_of(record_type)
    _allowed, required = signable.signers(record)
    signed = set(
        signatures_of_record(record_type=record_type, record_id=record.pk, valid_only=True).values_list(
            "department_id", flat=True
        )
    )
    if record.is_locked or not required <= signed or signable.on_signed is None:
        return
    signable.on_signed(record=record, by=by, device_id=device_id, required=required, signed=signed)


# --- input checks --------------------------------------------------------------------------


def _target(*, by: Any, record_type: str, target_id: uuid.UUID) -> FieldRecord:
    registered = RECORD_TYPES.get(record_type)
    if registered is None or record_type in NOT_SIGNABLE:
        allowed = sorted(set(RECORD_TYPES) - NOT_SIGNABLE)
        raise ValidationFailed(
            f"{record_type!r:.40} records cannot be signed.",
            errors={"record_type": [f"One of: {', '.join(allowed)}."]},
        )
    records = registered.model.objects.all() if by is None else registered.visible_to(user=by)
    record = records.filter(pk=target_id).first()
    if record is None:
        raise ValidationFailed("No such record.", errors={"record_id": ["No such record."]})
    if record.case_id is None:
        raise ValidationFailed("The record belongs to no case.", errors={"record_id": ["The record has no case."]})
    return record


def _role_label(user: Any) -> str:
    for role in user.roles or []:
        with contextlib.suppress(ValueError):
            return str(Role(role).label)
    return ""


def _resolve_signer(
    *,
    by: Any,
    record: FieldRecord,
    department: Organization | None,
    signer_name: str,
    signer_role: str,
    signer_organization: Organization | None,
    signer_organization_name: str,
) -> dict[str, Any]:
    signer_name = (signer_name or "").strip()
    signer_role = (signer_role or "").strip()
    if signer_name:
        if by is not None and not record_can_write_case(user=by, case=record.case):
            raise PermissionDenied(
                "Only officials, survey crews, vehicle teams and administrators witness another person's signature."
            )
        if department is None:
            raise ValidationFailed(
                "Name the department the signer signs for.",
                code="department_required",
                errors={"department": ["Required when signer.name is given."]},
            )
        organization = signer_organization
        if organization is None and not signer_organization_name.strip():
            organization = department
        return {
            "department": department,
            "signer_name": signer_name,
            "signer_role": signer_role,
            "signer_organization": organization,
            "signer_organization_name": organization.name if organization else signer_organization_name.strip(),
            "signer_user": None,
            "witness": by if getattr(by, "is_authenticated", False) else None,
        }
    if by is None:
        raise ValidationFailed("signer.name is required.", errors={"signer": ["name is required."]})
    own = by.organization if by.organization_id else None
    department = department or own
    if department is None:
        raise ValidationFailed(
            "You belong to no organisation; name the department and the signer.",
            code="department_required",
            errors={"department": ["Required."]},
        )
    if own is None or department.pk != own.pk:
        raise ValidationFailed(
            "You sign for your own organisation; for another department's signer give signer.name.",
            code="department_not_yours",
            errors={"department": ["Not your organisation."]},
        )
    if signer_organization is not None and signer_organization.pk != own.pk:
        raise ValidationFailed(
            "You sign for your own organisation.",
            code="department_not_yours",
            errors={"signer": ["organization is not yours."]},
        )
    return {
        "department": department,
        "signer_name": (by.full_name or by.get_full_name() or by.username)[:100],
        "signer_role": signer_role or _role_label(by),
        "signer_organization": own,
        "signer_organization_name": own.name,
        "signer_user": by,
        "witness": None,
    }


def _check_strokes(strokes: Any) -> None:
    if strokes is None:
        return

    def refuse(message: str) -> None:
        raise ValidationFailed(f"strokes: {message}", errors={"strokes": [message]})

    if not isinstance(strokes, list):
        refuse("Expected a list of strokes.")
    if len(strokes) > MAX_STROKES:
        refuse(f"At most {MAX_STROKES} strokes.")
    points = 0
    for stroke in strokes:
        if not isinstance(stroke, list):
            refuse("Each stroke is a list of points.")
        points += len(stroke)
        if points > MAX_STROKE_POINTS:
            refuse(f"At most {MAX_STROKE_POINTS} points in all.")
        for point in stroke:
            if (
                not isinstance(point, list)
                or len(point) not in (2, 3)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in point)
            ):
                refuse("Each point is [x, y] or [x, y, t] of finite numbers.")
    if len(canonical_json(strokes).encode("utf-8")) > MAX_STROKES_JSON_BYTES:
        refuse(f"At most {MAX_STROKES_JSON_BYTES} bytes of strokes.")


def _check_location(location: Any) -> Point | None:
    if location is None:
        return None
    if not isinstance(location, Point) or location.srid not in (None, 4326):
        raise ValidationFailed(
            "location must be a WGS84 Point.", code="invalid_geometry", errors={"location": ["Point."]}
        )
    if location.srid is None:
        location.srid = 4326
    return location


def _check_device_time(device_signed_at: dt.datetime | None, now: dt.datetime) -> None:
    if device_signed_at is None:
        return
    if timezone.is_naive(device_signed_at):
        raise ValidationFailed(
            "device_signed_at needs a UTC offset.", errors={"device_signed_at": ["Give the offset."]}
        )
    if device_signed_at > now + DEVICE_CLOCK_SKEW:
        raise ValidationFailed(
            "device_signed_at is in the future.", errors={"device_signed_at": ["Later than the server's time."]}
        )


def _check_image_file(path: Path) -> None:
    size = path.stat().st_size
    if size > max_image_bytes():
        raise FileTooLarge(
            f"The signature image is larger than {max_image_bytes()} bytes.", extra={"max_bytes": max_image_bytes()}
        )
    info = image_inspect(path)
    if info.format != PNG:
        raise UnsupportedImage("The signature image must be a PNG.", extra={"allowed": ["image/png"]})
    if info.width * info.height > MAX_SIGNATURE_PIXELS:
        raise ImageTooLarge("The signature image has too many pixels.", extra={"max_pixels": MAX_SIGNATURE_PIXELS})


def _blob_for_sha256(*, by: Any, sha256: str) -> Blob:
    """A finished upload of the user's with these bytes; anything else reads as missing."""
    sha256 = normalize_sha256(sha256)
    blob = Blob.objects.filter(pk=sha256).first()
    allowed = blob is not None and (
        by is None or Upload.objects.filter(owner=by, blob=blob, status=UploadStatus.COMPLETE).exists()
    )
    if not allowed:
        raise ValidationFailed(
            "No file with this sha256 is available to you; upload it first (tus) or send the file.",
            code="file_missing",
            errors={"image_sha256": ["No such file."]},
        )
    return blob


# --- writes --------------------------------------------------------------------------------


def signature_create(
    *,
    by: Any,
    record_type: str,
    target_id: uuid.UUID,
    image: Any = None,
    image_sha256: str | None = None,
    department: Organization | None = None,
    signer_name: str = "",
    signer_role: str = "",
    signer_organization: Organization | None = None,
    signer_organization_name: str = "",
    location: Point | None = None,
    device_signed_at: dt.datetime | None = None,
    strokes: Any = None,
    case_id: uuid.UUID | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Signature, bool]:
    """Sign a record as it is now. Returns (signature, created); a replayed client id returns the
    stored signature. Locks a survey or inspection when this fills its last required slot."""
    if record_id is not None and Signature.all_objects.filter(pk=record_id).exists():
        return record_create(model=Signature, fields={}, by=by, record_id=record_id, digest=digest)
    if (image is None) == (not image_sha256):
        raise ValidationFailed(
            "Send exactly one of image (a PNG file) or image_sha256.",
            errors={"image": ["Send exactly one of image, image_sha256."]},
        )
    record = _target(by=by, record_type=record_type, target_id=target_id)
    if case_id is not None and case_id != record.case_id:
        raise ValidationFailed(
            "The record belongs to another case.",
            code="case_record_mismatch",
            errors={"case": ["The record belongs to another case."]},
        )
    signer = _resolve_signer(
        by=by,
        record=record,
        department=department,
        signer_name=signer_name,
        signer_role=signer_role,
        signer_organization=signer_organization,
        signer_organization_name=signer_organization_name or "",
    )
    _check_strokes(strokes)
    location = _check_location(location)
    _check_device_time(device_signed_at, timezone.now())
    arguments = {
        "by": by,
        "record": record,
        "record_type": record_type,
        "signer": signer,
        "location": location,
        "device_signed_at": device_signed_at,
        "strokes": strokes,
        "device_id": device_id,
        "record_id": record_id,
        "digest": digest,
    }
    if image is not None:
        with local_file(image) as path:
            _check_image_file(path)
            return _create_with_new_file(path=path, arguments=arguments)
    blob = _blob_for_sha256(by=by, sha256=image_sha256)
    if blob.size > max_image_bytes():
        raise FileTooLarge(
            f"The signature image is larger than {max_image_bytes()} bytes.", extra={"max_bytes": max_image_bytes()}
        )
    with blob_local_file(blob) as path:
        _check_image_file(path)
    return _create(blob=blob, **arguments)


def _create_with_new_file(*, path: Path, arguments: dict[str, Any]) -> tuple[Signature, bool]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    existed = Blob.objects.filter(pk=sha256).exists()
    try:
        with transaction.atomic():
            blob = blob_store_from_file(path_or_fileobj=path, expected_sha256=sha256, content_type="image/png")
            return _create(blob=blob, **arguments)
    except BaseException:
        if not existed and not Blob.objects.filter(pk=sha256).exists():
            # The row was rolled back: take its file with it.
            blob_store().delete(blob_key(sha256))
        raise


@transaction.atomic
def _create(
    *,
    by: Any,
    record: FieldRecord,
    record_type: str,
    signer: dict[str, Any],
    blob: Blob,
    location: Point | None,
    device_signed_at: dt.datetime | None,
    strokes: Any,
    device_id: str,
    record_id: uuid.UUID | None,
    digest: str,
) -> tuple[Signature, bool]:
    # The record's row lock serialises signers: the slot check, the hash and the lock that
    # follows the last signature see one state.
    current = record_select_for_update(record)
    _check_ready(record_type=record_type, record=current)
    content_hash = record_content_hash(record_type=record_type, record=current)
    _void_stale(record_type=record_type, record=current, content_hash=content_hash, by=by, device_id=device_id)
    allowed, _required = signer_slots(record_type=record_type, record=current)
    department = signer["department"]
    if allowed is not None and department.pk not in allowed:
        raise ValidationFailed(
            f"{department.name} is not among the signers of this {record_type}.",
            code="not_a_signer",
            errors={"department": ["Not a signer of this record."]},
        )
    if (
        signatures_of_record(record_type=record_type, record_id=current.pk, valid_only=True)
        .filter(department=department)
        .exists()
    ):
        raise Conflict(f"{department.name} has already signed this {record_type}.", code="already_signed")
    key = keys.signing_key()
    fields = {
        "case_id": current.case_id,
        "record_type": record_type,
        "record_id": current.pk,
        **signer,
        "signed_at": timezone.now(),
        "device_signed_at": device_signed_at,
        "location": location,
        "image": blob,
        "strokes": strokes,
        "content_hash": content_hash,
        "key_id": key.key_id,
        "status": SignatureStatus.VALID,
    }
    signature_id = record_id or uuid.uuid4()
    draft = Signature(id=signature_id, **fields)
    fields["server_signature"] = keys.base64_signature(key, signature_message(draft))
    try:
        with transaction.atomic():
            signature, created = record_create(
                model=Signature, fields=fields, by=by, device_id=device_id, record_id=signature_id, digest=digest
            )
    except IntegrityError as error:
        raise Conflict(f"{department.name} has already signed this {record_type}.", code="already_signed") from error
    if created:
        _mark_signed_if_complete(
            record_type=record_type, record=record_select_for_update(current), by=by, device_id=device_id
        )
    return signature, created


def _void_stale(*, record_type: str, record: FieldRecord, content_hash: str, by: Any, device_id: str) -> None:
    """Signatures given before the record changed (it is locked only once every required signer
    signed, and may change in between) no longer cover it: void them, so their departments sign
    the record as it is now; never let one locked record carry signatures of different content."""
    stale = signatures_of_record(record_type=record_type, record_id=record.pk, valid_only=True).exclude(
        content_hash=content_hash
    )
    now = timezone.now()
    for signature in stale.select_for_update(of=("self",)):
        record_update(
            instance=signature,
            changes={"status": SignatureStatus.VOIDED, "voided_at": now, "void_reason": "record_changed"},
            by=by,
            device_id=device_id,
            action="void",
        )


def signature_update(
    *, instance: Signature, changes: dict[str, Any], by: Any, device_id: str = "", expected_version: int | None = None
) -> Signature:
    """Signatures are evidence: never changed. Reopening the signed record voids them."""
    raise Conflict("A signature cannot be changed; reopen the signed record to void it.", code="signature_immutable")


def signature_delete(
    *, instance: Signature, by: Any, device_id: str = "", expected_version: int | None = None
) -> Signature:
    raise Conflict("A signature cannot be deleted; reopen the signed record to void it.", code="signature_immutable")


@transaction.atomic
def signatures_void_on_reopen(record: FieldRecord) -> None:
    """A reopened record's signatures no longer hold (registered in REOPEN_LISTENERS)."""
    signatures_void_for_record(record=record, reason="reopened")


def signatures_void_for_record(*, record: FieldRecord, reason: str, by: Any = None, device_id: str = "") -> int:
    """Void every valid signature of `record` (audited, one entry each); returns how many.

    Called by the reopen flow after the record was unlocked; the actor defaults to whoever last
    changed the record (the reopener).
    """
    if by is None and getattr(record, "updated_by_id", None):
        by = record.updated_by
    record_type = record_type_of(record)
    now = timezone.now()
    voided = 0
    signatures = Signature.objects.select_for_update().filter(
        record_type=record_type, record_id=record.pk, status=SignatureStatus.VALID
    )
    for signature in signatures.order_by("signed_at", "id"):
        record_update(
            instance=signature,
            changes={"status": SignatureStatus.VOIDED, "voided_at": now, "void_reason": (reason or "")[:2000]},
            by=by,
            device_id=device_id or getattr(record, "device_id", ""),
            action="void",
        )
        voided += 1
    return voided


# --- verification --------------------------------------------------------------------------


def _bytes_sha256(blob: Blob) -> str | None:
    """The SHA-256 of the bytes actually in storage (filesystem or S3); None when they are gone."""
    digest = hashlib.sha256()
    try:
        with contextlib.closing(blob_open(blob=blob)) as body:
            while chunk := body.read(CHUNK_SIZE):
                digest.update(chunk)
    except (OSError, ApplicationError):
        return None
    except Exception as error:  # noqa: BLE001 - S3 client errors (botocore) are not OSError
        if type(error).__module__.startswith(("botocore", "boto3")):
            return None
        raise
    return digest.hexdigest()


class StoredBytes:
    """Re-hashes stored files on demand, each once per verification run (a record's photos are
    shared by all its signatures): a hash in the database proves nothing about the bytes."""

    def __init__(self) -> None:
        self._hashes: dict[str, str | None] = {}

    def state(self, sha256: str) -> str | None:
        """None when the stored bytes hash to `sha256`, else `missing` or `changed`."""
        if sha256 not in self._hashes:
            blob = Blob.objects.filter(pk=sha256).first()
            self._hashes[sha256] = _bytes_sha256(blob) if blob is not None else None
        actual = self._hashes[sha256]
        if actual is None:
            return "missing"
        return None if actual == sha256 else "changed"


def signature_verify(*, signature: Signature, stored_bytes: StoredBytes | None = None) -> dict[str, Any]:
    """{valid, reason, …}: reason is None when valid, else `voided`, `unknown_key`,
    `bad_signature` (the signature row was altered), `image_changed` (the image's bytes are not
    the signed ones, or are gone), `record_deleted`, `record_changed` (the record is not what
    was signed), `photo_changed` or `photo_missing` (a photo the signed content lists has other
    bytes in storage than its hash, or none; `photos` lists them)."""
    stored_bytes = stored_bytes or StoredBytes()
    stored = Signature.all_objects.select_related("image").get(pk=signature.pk)
    result: dict[str, Any] = {
        "valid": False,
        "reason": None,
        "content_hash": stored.content_hash,
        "current_hash": None,
        "key_id": stored.key_id,
        "signed_at": stored.signed_at,
        "photos": [],
    }
    # The server's signature first: a row altered to look voided (or voided and altered) shows.
    problem = keys.verify(signature_message(stored), stored.server_signature, stored.key_id)
    if problem is not None:
        return {**result, "reason": problem}
    if stored.status == SignatureStatus.VOIDED or stored.deleted_at is not None:
        return {**result, "reason": "voided"}
    if stored_bytes.state(stored.image_id) is not None:
        return {**result, "reason": "image_changed"}
    registered = RECORD_TYPES.get(stored.record_type)
    record = registered.model.all_objects.filter(pk=stored.record_id).first() if registered else None
    if record is None or record.deleted_at is not None:
        return {**result, "reason": "record_deleted"}
    content = record_content(record_type=stored.record_type, record=record)
    current = content_hash_of(content)
    result["current_hash"] = current
    if current != stored.content_hash:
        return {**result, "reason": "record_changed"}
    photos = [(sha256, stored_bytes.state(sha256)) for sha256 in content_photo_hashes(content)]
    changed = [{"sha256": sha256, "state": state} for sha256, state in photos if state is not None]
    if changed:
        reason = "photo_changed" if any(p["state"] == "changed" for p in changed) else "photo_missing"
        return {**result, "reason": reason, "photos": changed}
    return {**result, "valid": True}


def document_verify(*, record_type: str, record_id: uuid.UUID, content_hash: str) -> dict[str, Any]:
    """Whether a document printed from a record (with `content_hash`) still stands, for the
    public page behind the report's QR code: the record exists and is still what was printed,
    and every signature of the record verifies, or was voided without covering this content.
    `signatures` lists each signature of the record with its own outcome, so a failing one is
    shown, never left out."""
    registered = RECORD_TYPES.get(record_type)
    record = registered.model.all_objects.filter(pk=record_id).first() if registered else None
    result: dict[str, Any] = {"valid": False, "reason": None, "record": record, "signatures": []}
    if record is None or record.deleted_at is not None:
        return {**result, "reason": "record_deleted"}
    if record_content_hash(record_type=record_type, record=record) != content_hash:
        return {**result, "reason": "record_changed"}
    stored_bytes = StoredBytes()
    listed = []
    reason = None
    for signature in signatures_of_record(record_type=record_type, record_id=record_id):
        outcome = signature_verify(signature=signature, stored_bytes=stored_bytes)
        listed.append({"signature": signature, **outcome})
        # A signature voided before this content was signed (the record changed in between) is
        # history; any other failure undoes the document.
        superseded = outcome["reason"] == "voided" and signature.content_hash != content_hash
        if not outcome["valid"] and not superseded and reason is None:
            reason = outcome["reason"]
    return {**result, "valid": reason is None, "reason": reason, "signatures": listed}
