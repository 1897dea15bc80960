import hashlib
import json
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from backend.audit.models import AuditEntry

GENESIS_HASH = "0" * 64
# Arbitrary constant: the advisory lock that serialises appends to the chain.
AUDIT_LOCK_KEY = 7_302_211_001


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_payload(entry: AuditEntry) -> dict[str, Any]:
    """The fields the hash covers, in a form that survives a round trip through the database."""
    return {
        "occurred_at": entry.occurred_at.isoformat(),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor_username": entry.actor_username,
        "device_id": entry.device_id,
        "action": entry.action,
        "record_type": entry.record_type,
        "record_id": str(entry.record_id),
        "case_id": str(entry.case_id) if entry.case_id else None,
        "version": entry.version,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
    }


def entry_hash(*, prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode()).hexdigest()


def audit_lock() -> None:
    """Take the chain's lock for the rest of the transaction.

    Record services take it before any row lock, so every writer acquires locks in the same
    order (chain, then rows) and two writers can never deadlock on each other.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])


def audit_append(
    *,
    action: str,
    record_type: str,
    record_id: UUID,
    actor: Any = None,
    device_id: str = "",
    case_id: UUID | None = None,
    version: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditEntry:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction that makes the change")
    audit_lock()
    last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
    # Round-trip before/after through JSON so the hash is computed over what is stored.
    entry = AuditEntry(
        occurred_at=timezone.now(),
        actor_id=getattr(actor, "pk", None)
        if actor is not None and getattr(actor, "is_authenticated", False)
        else None,
        actor_username=getattr(actor, "username", "") or "",
        device_id=device_id or "",
        action=action,
        record_type=record_type,
        record_id=record_id,
        case_id=case_id,
        version=version,
        before=json.loads(canonical_json(before)) if before is not None else None,
        after=json.loads(canonical_json(after)) if after is not None else None,
        reason=reason,
        prev_hash=last or GENESIS_HASH,
    )
    entry.hash = entry_hash(prev_hash=entry.prev_hash, payload=entry_payload(entry))
    entry.save(force_insert=True)
    return entry
