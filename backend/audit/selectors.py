from collections.abc import Iterator

from backend.audit.models import AuditEntry
from backend.audit.services import GENESIS_HASH, entry_hash, entry_payload


def audit_chain_first_break(*, batch_size: int = 5000) -> tuple[AuditEntry | None, str]:
    """Walk the chain in id order; return the first entry that does not verify and why."""
    prev = GENESIS_HASH
    for entry in _entries(batch_size):
        if entry.prev_hash != prev:
            return entry, "prev_hash does not match the previous entry's hash (an entry was removed or reordered)"
        if entry_hash(prev_hash=entry.prev_hash, payload=entry_payload(entry)) != entry.hash:
            return entry, "content does not match its hash (the entry was edited)"
        prev = entry.hash
    return None, "ok"


def _entries(batch_size: int) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        batch = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
