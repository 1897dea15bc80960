"""The file check of scanned materials.

A scan's file reaches the server by its hash alone (a tus upload), before or after the scan
itself, so the check photos get at the door (backend.evidence: 422 `image_rejected` for
metadata hiding an archive, a document, an executable or markup, or too much of it; 415/400/413
for what is no such image) is made wherever a scan and its bytes meet:

- when the scan is made and its bytes are already there for its author: the scan is refused,
  nothing is written (`material_scan_file_check`, called by `material_scan_create`, which REST,
  sync push and the admin all reach through the record registry);
- when the bytes arrive, or an upload of bytes already stored finishes: the scans waiting for
  them keep them as missing, for everyone, with the reason on the manifest row and an
  `attachment_rejected` audit entry, so devices pulling learn it (`material_scan_files_judge`,
  registered by SyncConfig on the evidence hooks).

Bytes stored for someone else are not judged for a user who may not use them: the answer would
tell what others stored (see attachments_missing_by_record).
"""

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.audit.services import audit_append
from backend.cases.materials import MaterialScan
from backend.common.errors import ApplicationError
from backend.evidence.blobs import blob_bytes_present
from backend.evidence.models import Blob, Upload, UploadStatus
from backend.evidence.photos import blob_image_check, photos_visible_to
from backend.signatures.selectors import signatures_visible_to
from backend.sync.models import AttachmentKind, SyncAttachment

RECORD_TYPE = "material_scan"


def _usable_by(*, user: User | None, blob: Blob) -> bool:
    if user is None:
        return True
    return (
        Upload.objects.filter(owner_id=user.pk, blob=blob, status=UploadStatus.COMPLETE).exists()
        or photos_visible_to(user=user).filter(blob=blob).exists()
        or signatures_visible_to(user=user).filter(image=blob).exists()
    )


def material_scan_file_check(*, by: User | None, sha256: str, content_type: str) -> None:
    """Refuse a scan whose bytes `by` already has on the server and the image check refuses."""
    blob = Blob.objects.filter(pk=sha256).first()
    # Bytes gone from storage cannot be judged: they are judged when an upload brings them back.
    if blob is None or not _usable_by(user=by, blob=blob) or not blob_bytes_present(blob=blob):
        return
    blob_image_check(blob=blob, content_type=content_type)


def _verdict(*, blob: Blob, content_type: str) -> ApplicationError | None:
    try:
        blob_image_check(blob=blob, content_type=content_type)
    except ApplicationError as error:
        return error
    return None


@transaction.atomic
def material_scan_files_judge(*, sha256: str, **_context: Any) -> list[uuid.UUID]:
    """Judge stored bytes for the scans declaring them and not yet judged refused; returns the
    ids of the scans whose file was refused. (`_context`: the hooks' other keywords.)"""
    rows = list(
        SyncAttachment.objects.select_for_update()
        .filter(record_type=RECORD_TYPE, sha256=sha256, kind=AttachmentKind.SCAN, rejected_reason="")
        .order_by("id")
    )
    blob = Blob.objects.filter(pk=sha256).first() if rows else None
    if blob is None or not blob_bytes_present(blob=blob):
        return []
    scans = {scan.pk: scan for scan in MaterialScan.all_objects.filter(pk__in=[row.record_id for row in rows])}
    verdicts: dict[str, ApplicationError | None] = {}
    refused: list[uuid.UUID] = []
    now = timezone.now()
    for row in rows:
        scan = scans.get(row.record_id)
        if scan is None:
            continue
        if scan.content_type not in verdicts:
            verdicts[scan.content_type] = _verdict(blob=blob, content_type=scan.content_type)
        error = verdicts[scan.content_type]
        if error is None:
            continue
        reason = str(error.extra.get("reason") or error.code)[:64]
        # Noted as arrived, so sync_attachments_arrived does not announce the scan complete.
        SyncAttachment.objects.filter(pk=row.pk).update(rejected_reason=reason, is_arrived=True, arrived_at=now)
        audit_append(
            action="attachment_rejected",
            record_type=RECORD_TYPE,
            record_id=scan.pk,
            case_id=scan.case_id,
            version=scan.version,
            after={"sha256": sha256, "code": error.code, "reason": reason, "detail": error.message},
        )
        refused.append(scan.pk)
    return refused


def material_scan_upload_completed(*, upload: Upload) -> None:
    """UPLOAD_COMPLETED_LISTENERS: an upload finished (its bytes new or already stored)."""
    if upload.blob_id:
        material_scan_files_judge(sha256=upload.blob_id)
