"""Reads for sync: receipts, open conflicts, attachment completeness, scans."""

import uuid
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, UUIDField, Value

from backend.accounts.models import OrganizationKind, Role, User
from backend.cases.materials import MaterialScan
from backend.cases.selectors import cases_visible_to, on_cases_visible_to
from backend.evidence.models import Upload, UploadStatus
from backend.evidence.photos import photos_visible_to
from backend.records.registry import RECORD_TYPES
from backend.signatures.selectors import signatures_visible_to
from backend.sync.models import ConflictStatus, SyncAttachment, SyncConflict, SyncReceipt


def sync_receipt_get(*, user: User, op_id: uuid.UUID) -> SyncReceipt | None:
    return SyncReceipt.objects.filter(user=user, op_id=op_id).first()


def sync_receipts_get(*, user: User, op_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, SyncReceipt]:
    """The stored receipts of a chunk's operations, in one query."""
    return {receipt.op_id: receipt for receipt in SyncReceipt.objects.filter(user=user, op_id__in=set(op_ids))}


def _missing_for(*, user: User, author: Any) -> Q:
    """The condition on SyncAttachment rows whose file `user` may not use (see
    attachments_missing_by_record). `author` is the record's `created_by_id` as an expression
    seen from the SyncAttachment row (an OuterRef), so the rule is one SQL condition wherever
    it is applied."""
    uploaded = Upload.objects.filter(status=UploadStatus.COMPLETE, blob_id=OuterRef("sha256")).filter(
        Q(owner_id=user.pk) | Q(owner_id=author)
    )
    # Correlated on the file: the photo and signature indexes on it lead, then the scope is
    # checked for the few rows found (not the whole visible set read per query).
    in_photo = photos_visible_to(user=user).filter(blob_id=OuterRef("sha256"))
    in_signature = signatures_visible_to(user=user).filter(image_id=OuterRef("sha256"))
    return ~Q(rejected_reason="") | ~(Exists(uploaded) | Exists(in_photo) | Exists(in_signature))


def _blobs_usable_by(*, user: User, sha256s: set[str]) -> set[str]:
    """Of `sha256s`, the files of a photo or signature `user` can see."""
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
    like bytes nobody has, so a declared hash tells nothing of what others stored. A file the
    file check refused (a scan's image whose metadata hides another file) is missing for everyone.
    """
    record_ids = list(record_ids)
    if not record_ids:
        return {}
    registered = RECORD_TYPES.get(record_type)
    author = (
        Subquery(registered.model.all_objects.filter(pk=OuterRef("record_id")).values("created_by_id")[:1])
        if registered is not None
        else Value(None, output_field=UUIDField())
    )
    uploaded = Upload.objects.filter(status=UploadStatus.COMPLETE, blob_id=OuterRef("sha256")).filter(
        Q(owner_id=user.pk) | Q(owner_id=OuterRef("author"))
    )
    rows = list(
        SyncAttachment.objects.filter(record_type=record_type, record_id__in=record_ids)
        .annotate(author=author, is_uploaded=Exists(uploaded))
        .order_by("id")
        .values_list("record_id", "sha256", "rejected_reason", "is_uploaded")
    )
    # The photo and signature part of the rule (_missing_for), for the page's files at once.
    candidates = {sha256 for _id, sha256, rejected, is_uploaded in rows if not rejected and not is_uploaded}
    usable = _blobs_usable_by(user=user, sha256s=candidates)
    missing: dict[uuid.UUID, list[str]] = {}
    for record_id, sha256, rejected, is_uploaded in rows:
        if not rejected and (is_uploaded or sha256 in usable):
            continue
        missing.setdefault(record_id, []).append(sha256)
    return missing


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
    """Scans of visible cases (the record type's scope: photos and signatures are scoped by it)."""
    return on_cases_visible_to(MaterialScan.objects.all(), user=user).select_related("item", "material")


def material_scans_with_completeness(*, user: User) -> QuerySet[MaterialScan]:
    """The visible scans, each with `is_complete` computed in the same query: its file is there
    for `user` by the same rule as `missing_attachments` (attachments_missing_by_record)."""
    missing = SyncAttachment.objects.filter(record_type="material_scan", record_id=OuterRef("pk")).filter(
        _missing_for(user=user, author=OuterRef(OuterRef("created_by_id")))
    )
    return material_scans_visible_to(user=user).annotate(is_complete=~Exists(missing))
