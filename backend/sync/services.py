"""Writes for sync: receipts, conflicts, attachment manifests and scanned materials.

The record changes themselves go through each record app's own services; these functions
only keep what sync needs around them.
"""

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from backend.accounts.models import OrganizationKind, User
from backend.audit.services import audit_append
from backend.cases.models import ApprovalCase, ApprovalItem, Material, MaterialScan, ScanContentType
from backend.cases.selectors import cases_visible_to
from backend.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend.common.rows import rows_insert_plain
from backend.evidence.models import Blob
from backend.records.models import FieldRecord
from backend.records.registry import RECORD_TYPES
from backend.records.services import record_create, record_delete, record_update
from backend.sync.models import (
    AttachmentKind,
    ConflictResolution,
    ConflictStatus,
    SyncAttachment,
    SyncConflict,
    SyncReceipt,
)
from backend.sync.scans import material_scan_file_check
from backend.sync.selectors import can_resolve_conflicts

SHA256 = re.compile(r"^[0-9a-f]{64}$")


# --- receipts --------------------------------------------------------------------------


def sync_receipt_create(
    *,
    user: User,
    op_id: uuid.UUID,
    device_id: str,
    record_type: str,
    record_id: uuid.UUID | None,
    action: str,
    op_digest: str,
    body: dict[str, Any],
) -> SyncReceipt:
    """Store a receipt, inside the operation's transaction (so both commit or neither does)."""
    return SyncReceipt.objects.create(
        user=user,
        op_id=op_id,
        device_id=device_id[:100],
        record_type=record_type[:64],
        record_id=record_id,
        action=action[:16],
        op_digest=op_digest,
        status=body["status"],
        version=body.get("version"),
        body=body,
    )


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    """A receipt built, not yet stored (see sync_receipts_create): what a replay of its op_id
    later in the same chunk reads (`op_digest`, `body`), and the row it is stored as."""

    op_digest: str
    body: dict[str, Any]
    row: tuple


# The columns of a receipt row (sync_receipts_create), in the order of PendingReceipt.row.
_RECEIPT_COLUMNS = (
    "user_id",
    "op_id",
    "device_id",
    "record_type",
    "record_id",
    "action",
    "op_digest",
    "status",
    "version",
    "body",
    "created_at",
)


def sync_receipt_build(
    *,
    user: User,
    op_id: uuid.UUID,
    device_id: str,
    record_type: str,
    record_id: uuid.UUID | None,
    action: str,
    op_digest: str,
    body: dict[str, Any],
) -> PendingReceipt:
    """A receipt not yet stored (see sync_receipts_create), with the values sync_receipt_create
    stores (the body as its JSON text)."""
    return PendingReceipt(
        op_digest=op_digest,
        body=body,
        row=(
            user.pk,
            op_id,
            device_id[:100],
            record_type[:64],
            record_id,
            action[:16],
            op_digest,
            body["status"],
            body.get("version"),
            json.dumps(body),
            timezone.now(),
        ),
    )


def sync_receipts_create(receipts: list[PendingReceipt]) -> None:
    """Store a chunk's receipts in one INSERT, in the chunk's transaction (with its changes).

    An op_id a concurrent push stored meanwhile raises IntegrityError: the caller rolls the
    chunk back and applies it again operation by operation, where that op_id replays.
    """
    if receipts:
        rows_insert_plain(SyncReceipt, _RECEIPT_COLUMNS, [receipt.row for receipt in receipts])


# --- attachments -----------------------------------------------------------------------


def _blobs_present(sha256s: list[str]) -> set[str]:
    return set(Blob.objects.filter(sha256__in=sha256s).values_list("sha256", flat=True))


def sync_attachments_check(*, attachments: Any) -> list[tuple[str, str]]:
    """Validate an operation's manifest: [{sha256, kind}] → [(sha256, kind)], deduplicated."""
    if attachments in (None, []):
        return []
    if not isinstance(attachments, list):
        raise ValidationFailed("attachments must be a list.", errors={"attachments": ["Expected a list."]})
    out: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(attachments):
        if not isinstance(item, dict):
            errors[f"attachments[{index}]"] = ["Expected an object {sha256, kind}."]
            continue
        sha256 = item.get("sha256")
        kind = item.get("kind")
        if not isinstance(sha256, str) or not SHA256.match(sha256):
            errors[f"attachments[{index}].sha256"] = ["Expected 64 lowercase hex digits."]
        if kind not in AttachmentKind.values:
            errors[f"attachments[{index}].kind"] = [f"Expected one of {', '.join(AttachmentKind.values)}."]
        if f"attachments[{index}].sha256" not in errors and f"attachments[{index}].kind" not in errors:
            out.setdefault(sha256, kind)
    if errors:
        raise ValidationFailed("Invalid attachment manifest.", errors=errors)
    return list(out.items())


def sync_attachments_declare(
    *, record: FieldRecord, record_type: str, attachments: list[tuple[str, str]]
) -> list[SyncAttachment]:
    """Note the files a record needs; those already on the server count as arrived at once."""
    if not attachments:
        return []
    present = _blobs_present([sha256 for sha256, _kind in attachments])
    now = timezone.now()
    rows = [
        SyncAttachment(
            record_type=record_type,
            record_id=record.pk,
            case_id=getattr(record, "case_id", None),
            sha256=sha256,
            kind=kind,
            is_arrived=sha256 in present,
            arrived_at=now if sha256 in present else None,
        )
        for sha256, kind in attachments
    ]
    return SyncAttachment.objects.bulk_create(
        rows, ignore_conflicts=True, unique_fields=["record_type", "record_id", "sha256"]
    )


@transaction.atomic
def sync_attachments_arrived(*, sha256: str) -> list[tuple[str, uuid.UUID]]:
    """A file has arrived (an upload finished): mark it, and audit each record it completes, so
    devices pulling see the record turn complete. Returns the (type, id) of completed records.

    The uploads app calls this when an upload's bytes are verified and stored.
    """
    waiting = list(SyncAttachment.objects.select_for_update().filter(sha256=sha256, is_arrived=False).order_by("id"))
    if not waiting:
        return []
    now = timezone.now()
    SyncAttachment.objects.filter(pk__in=[row.pk for row in waiting]).update(is_arrived=True, arrived_at=now)
    completed = []
    for record_type, record_id, case_id in sorted({(r.record_type, r.record_id, r.case_id) for r in waiting}):
        if SyncAttachment.objects.filter(record_type=record_type, record_id=record_id, is_arrived=False).exists():
            continue
        registered = RECORD_TYPES.get(record_type)
        record = registered.model.all_objects.filter(pk=record_id).first() if registered else None
        audit_append(
            action="attachments_complete",
            record_type=record_type,
            record_id=record_id,
            case_id=case_id,
            version=record.version if record is not None else None,
            after={"complete": True, "sha256": sha256},
        )
        completed.append((record_type, record_id))
    return completed


def sync_attachments_reconcile() -> int:
    """Note arrivals the uploads did not report (any path that stores a blob counts): cheap, it
    reads only the manifest rows still waiting. Returns how many files were newly noted."""
    arrived = list(
        SyncAttachment.objects.filter(is_arrived=False)
        .filter(Exists(Blob.objects.filter(sha256=OuterRef("sha256"))))
        .values_list("sha256", flat=True)
        .distinct()
    )
    for sha256 in arrived:
        sync_attachments_arrived(sha256=sha256)
    return len(arrived)


# --- case access -----------------------------------------------------------------------

# --- conflicts -------------------------------------------------------------------------


def sync_conflict_create(
    *,
    record: FieldRecord,
    record_type: str,
    op_id: uuid.UUID,
    device_id: str,
    pushed_by: User,
    base_version: int | None,
    fields: list[str],
    client_data: dict[str, Any],
    server_data: dict[str, Any],
) -> SyncConflict:
    return SyncConflict.objects.create(
        case_id=getattr(record, "case_id", None),
        record_type=record_type,
        record_id=record.pk,
        op_id=op_id,
        device_id=device_id[:100],
        pushed_by=pushed_by if getattr(pushed_by, "is_authenticated", False) else None,
        base_version=base_version,
        server_version=record.version,
        fields=sorted(fields),
        client_data=client_data,
        server_data=server_data,
    )


@transaction.atomic
def sync_conflict_resolve(
    *,
    conflict: SyncConflict,
    resolution: str,
    by: User,
    apply: Callable[[], FieldRecord | None] | None = None,
    note: str = "",
) -> SyncConflict:
    """Close a conflict. `apply` makes the chosen change through the record's own update service
    (nothing for `server`); the decision is audited on the record's trail."""
    if not can_resolve_conflicts(user=by):
        raise PermissionDenied("Only officials, back-office staff and administrators resolve conflicts.")
    conflict = SyncConflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status != ConflictStatus.OPEN:
        raise Conflict("This conflict is already resolved.", code="conflict_resolved")
    if resolution not in ConflictResolution.values:
        raise ValidationFailed(
            "Unknown resolution.",
            code="validation_error",
            errors={"resolution": [f"Expected one of {', '.join(ConflictResolution.values)}."]},
        )
    record = apply() if apply is not None and resolution != ConflictResolution.SERVER else None
    conflict.status = ConflictStatus.RESOLVED
    conflict.resolution = resolution
    conflict.resolved_by = by
    conflict.resolved_at = timezone.now()
    conflict.note = note
    registered = RECORD_TYPES.get(conflict.record_type)
    if record is None and registered is not None:
        record = registered.model.all_objects.filter(pk=conflict.record_id).first()
    conflict.resolved_version = record.version if record is not None else None
    conflict.save()
    audit_append(
        action="conflict_resolved",
        record_type=conflict.record_type,
        record_id=conflict.record_id,
        actor=by,
        case_id=conflict.case_id,
        version=conflict.resolved_version,
        after={"conflict": str(conflict.pk), "resolution": resolution, "fields": conflict.fields},
        reason=note,
    )
    return conflict


# --- scanned materials -----------------------------------------------------------------

SCAN_EDITABLE_FIELDS = {"material", "filename", "page_count", "note", "visit_id"}


def _can_scan(user: User | None) -> bool:
    if user is None:
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_administrator or user.organization_kind in {
        OrganizationKind.VEHICLE_TEAM,
        OrganizationKind.APPROVAL_DEPARTMENT,
    }


def _check_scan(*, case: ApprovalCase, item: ApprovalItem, material: Material | None) -> None:
    if item.case_id != case.pk:
        raise ValidationFailed(
            "The item belongs to another case.",
            code="case_item_mismatch",
            errors={"item": ["Not an item of the case."]},
        )
    if material is not None and material.item_id != item.pk:
        raise ValidationFailed(
            "The material belongs to another item.",
            code="item_material_mismatch",
            errors={"material": ["Not a material of the item."]},
        )


def material_scan_create(
    *,
    by: User | None,
    case: ApprovalCase,
    item: ApprovalItem,
    sha256: str,
    content_type: str,
    material: Material | None = None,
    filename: str = "",
    page_count: int | None = None,
    note: str = "",
    visit_id: uuid.UUID | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[MaterialScan, bool]:
    """Attach a scanned material (PDF or JPEG, by its SHA-256) to a case item; it is complete
    when the file's upload has arrived."""
    if not _can_scan(by):
        raise PermissionDenied("Only the vehicle team and approval officials attach scanned materials.")
    if by is not None and not cases_visible_to(user=by).filter(pk=case.pk).exists():
        raise NotFound("No such case.")
    _check_scan(case=case, item=item, material=material)
    if not SHA256.match(sha256 or ""):
        raise ValidationFailed("sha256 must be 64 lowercase hex digits.", errors={"sha256": ["Invalid."]})
    if content_type not in ScanContentType.values:
        raise ValidationFailed(
            "Scans are PDF or JPEG.", code="unsupported_media_type", errors={"content_type": ["PDF or JPEG."]}
        )
    # The check photos get (422 image_rejected …), when the bytes are already there for `by`.
    material_scan_file_check(by=by, sha256=sha256, content_type=content_type)

    def declare(scan: FieldRecord) -> None:
        sync_attachments_declare(record=scan, record_type="material_scan", attachments=[(sha256, AttachmentKind.SCAN)])
        # A scan of a promised material keeps the tolerance promise (backend.onsite).
        from backend.onsite.services import material_promise_keep

        material_promise_keep(scan=scan, by=by, device_id=device_id)

    return record_create(
        model=MaterialScan,
        fields={
            "case": case,
            "item": item,
            "material": material,
            "sha256": sha256,
            "content_type": content_type,
            "filename": filename,
            "page_count": page_count,
            "note": note,
            "visit_id": visit_id,
        },
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=declare,
    )


def material_scan_update(
    *,
    instance: MaterialScan,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> MaterialScan:
    if not _can_scan(by):
        raise PermissionDenied("Only the vehicle team and approval officials change scanned materials.")
    fixed = {name for name, value in changes.items() if name not in SCAN_EDITABLE_FIELDS}
    # The file, its item and its case are what was scanned: changing them is a new scan.
    fixed = {name for name in fixed if getattr(instance, name, object()) != changes[name]}
    if fixed:
        raise ValidationFailed(
            "These fields cannot change after the scan was made.",
            code="read_only_field",
            errors={name: ["Cannot be changed; make a new scan."] for name in sorted(fixed)},
        )
    if "material" in changes:
        _check_scan(case=instance.case, item=instance.item, material=changes["material"])
    changes = {name: value for name, value in changes.items() if name in SCAN_EDITABLE_FIELDS}
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


def material_scan_delete(
    *, instance: MaterialScan, by: User | None, device_id: str = "", expected_version: int | None = None
) -> MaterialScan:
    """Withdraw a scan (a tombstone); the same people as may make one."""
    if not _can_scan(by):
        raise PermissionDenied("Only the vehicle team and approval officials withdraw scanned materials.")
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)
