"""Reads for sync: receipts, open conflicts, attachment completeness, scans."""

import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from backend.accounts.models import OrganizationKind, Role, User
from backend.cases.materials import MaterialScan
from backend.cases.selectors import cases_visible_to
from backend.sync.models import ConflictStatus, SyncAttachment, SyncConflict, SyncReceipt


def sync_receipt_get(*, user: User, op_id: uuid.UUID) -> SyncReceipt | None:
    return SyncReceipt.objects.filter(user=user, op_id=op_id).first()


def sync_receipts_get(*, user: User, op_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SyncReceipt]:
    """The stored receipts of a chunk's operations, in one query."""
    return {receipt.op_id: receipt for receipt in SyncReceipt.objects.filter(user=user, op_id__in=set(op_ids))}


def _waiting() -> QuerySet[SyncAttachment]:
    """Declared files not yet on the server. The Blob table is the truth: a file whose blob
    exists has arrived even if the arrival was not (yet) noted on the manifest row."""
    qs = SyncAttachment.objects.filter(is_arrived=False)
    try:
        from backend.evidence.models import Blob
    except ImportError:  # evidence not installed
        return qs
    return qs.filter(~Exists(Blob.objects.filter(sha256=OuterRef("sha256"))))


def _blobs_usable_by(*, user: User, sha256s: set[str]) -> set[str]:
    """Of `sha256s`, the stored files `user` may use: attached to a photo or signature they can
    see. (Uploads are counted per record, see below.) Evidence and signatures import sync, so
    they are imported here, when called."""
    from backend.evidence.photos import photos_visible_to
    from backend.signatures.selectors import signatures_visible_to

    if not sha256s:
        return set()
    usable = set(photos_visible_to(user=user).filter(blob_id__in=sha256s).values_list("blob_id", flat=True))
    usable |= set(signatures_visible_to(user=user).filter(image_id__in=sha256s).values_list("image_id", flat=True))
    return usable


def attachments_missing_by_record(
    *, record_type: str, record_ids: Iterable[uuid.UUID], user: User
) -> dict[uuid.UUID, list[str]]:
    """For many records at once: record id → the declared SHA-256 not (yet) usable, as `user` sees it.

    A file counts as there only when `user` may use its bytes: their own finished upload, the
    record's author's finished upload (the device that declared it sent it), or a photo or
    signature of it they can see. Bytes stored for another organisation count as missing, exactly
    like bytes nobody has, so a declared hash tells nothing of what others stored.
    """
    from backend.common.records import RECORD_TYPES
    from backend.evidence.models import Upload, UploadStatus

    record_ids = list(record_ids)
    rows = list(
        SyncAttachment.objects.filter(record_type=record_type, record_id__in=record_ids)
        .order_by("id")
        .values_list("record_id", "sha256")
    )
    if not rows:
        return {}
    sha256s = {sha256 for _record_id, sha256 in rows}
    registered = RECORD_TYPES.get(record_type)
    authors: dict[uuid.UUID, Any] = (
        dict(registered.model.all_objects.filter(pk__in=record_ids).values_list("pk", "created_by_id"))
        if registered is not None
        else {}
    )
    uploaders = {user.pk, *authors.values()} - {None}
    uploaded = set(
        Upload.objects.filter(status=UploadStatus.COMPLETE, blob_id__in=sha256s, owner_id__in=uploaders).values_list(
            "owner_id", "blob_id"
        )
    )
    usable = _blobs_usable_by(user=user, sha256s=sha256s)
    missing: dict[uuid.UUID, list[str]] = {}
    for record_id, sha256 in rows:
        if sha256 in usable or (user.pk, sha256) in uploaded or (authors.get(record_id), sha256) in uploaded:
            continue
        missing.setdefault(record_id, []).append(sha256)
    return missing


def record_is_complete(record_type: str, record_id: uuid.UUID) -> bool:
    """A record is complete when every photo and signature image its device declared is on the server."""
    return not _waiting().filter(record_type=record_type, record_id=record_id).exists()


def can_resolve_conflicts(*, user: User) -> bool:
    """The back office: officials and back-office staff of approval departments, and administrators."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_administrator:
        return True
    return user.organization_kind == OrganizationKind.APPROVAL_DEPARTMENT and bool(
        {Role.OFFICIAL, Role.BACK_OFFICE} & set(user.roles)
    )


def conflicts_visible_to(*, user: User) -> QuerySet[SyncConflict]:
    """The back office sees the conflicts of the cases it sees; a device user sees their own."""
    qs = SyncConflict.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    own = Q(pushed_by=user)
    if can_resolve_conflicts(user=user):
        return qs.filter(own | Q(case_id__in=cases_visible_to(user=user).values("pk")))
    return qs.filter(own)


def conflicts_open_for_case(*, user: User, case_id: uuid.UUID) -> QuerySet[SyncConflict]:
    return conflicts_visible_to(user=user).filter(case_id=case_id, status=ConflictStatus.OPEN)


def material_scans_visible_to(*, user: User) -> QuerySet[MaterialScan]:
    """Scans of visible cases, each with `is_complete` (its file has arrived) computed in the same query."""
    waiting = _waiting().filter(record_type="material_scan", record_id=OuterRef("pk"))
    return (
        MaterialScan.objects.filter(case__in=cases_visible_to(user=user))
        .select_related("item", "material")
        .annotate(is_complete=~Exists(waiting))
    )
