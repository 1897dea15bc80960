import contextlib
import contextvars
import hashlib
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from backend.audit.models import AuditChain, AuditEntry
from backend.common.rows import rows_insert_plain

GENESIS_HASH = "0" * 64
# Arbitrary constant: the advisory lock class of the record chains (the other half of the key
# is derived from the record), so appends to one record's chain follow one another.
AUDIT_CHAIN_LOCK_CLASS = 7_302_211


# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
# builds on every call (json.dumps makes a JSONEncoder with these arguments and calls .encode),
# made once: the encoder keeps no state between calls.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    return _CANONICAL_ENCODER.encode(value)


def entry_payload(entry: AuditEntry) -> dict[str, Any]:
    """The fields the hash covers, in a form that survives a round trip through the database."""
    return _hashed_fields(
        occurred_at=entry.occurred_at,
        actor_id=entry.actor_id,
        actor_username=entry.actor_username,
        device_id=entry.device_id,
        action=entry.action,
        record_type=entry.record_type,
        record_id=entry.record_id,
        case_id=entry.case_id,
        version=entry.version,
        before=entry.before,
        after=entry.after,
        reason=entry.reason,
    )


def _hashed_fields(
    *,
    occurred_at: Any,
    actor_id: Any,
    actor_username: str,
    device_id: str,
    action: str,
    record_type: str,
    record_id: Any,
    case_id: Any,
    version: int | None,
    before: Any,
    after: Any,
    reason: str,
) -> dict[str, Any]:
    """entry_payload's form of an entry's values (a stored entry's or a batch's pending one)."""
    return {
        "occurred_at": occurred_at.isoformat(),
        "actor_id": str(actor_id) if actor_id else None,
        "actor_username": actor_username,
        "device_id": device_id,
        "action": action,
        "record_type": record_type,
        "record_id": str(record_id),
        "case_id": str(case_id) if case_id else None,
        "version": version,
        "before": before,
        "after": after,
        "reason": reason,
    }


def entry_hash(*, prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode()).hexdigest()


_CONTAINERS = (dict, list, tuple)
_STR_ONLY = {str}


def _canonical_is_fixed_point(value: Any) -> bool:
    """Whether canonical_json(json.loads(canonical_json(value))) == canonical_json(value) is
    sure: every dict key at any depth is a str. (A non-str key is written as a string, so after a
    round trip it sorts, or even collides, differently; every other value canonical_json writes
    reads back as a value it writes the same way: tuples as lists, `default=str` objects as their
    string, floats by repr, NaN and infinities as NaN/Infinity.)"""
    kind = type(value)
    if kind is dict:
        if value and set(map(type, value)) != _STR_ONLY:
            return False
        items = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:
        # Subclasses of dict/list (their own items()/iteration) and anything else: not judged here.
        return kind in (str, int, float, bool, type(None))
    for item in items:
        if isinstance(item, _CONTAINERS) and not _canonical_is_fixed_point(item):
            return False
    return True


def _payload_text(payload: dict[str, Any], before_text: str | None, after_text: str | None) -> str:
    """canonical_json(payload) where payload["before"] / ["after"] are json.loads of
    before_text / after_text, each a fixed point of canonical_json (see
    _canonical_is_fixed_point): the texts are put in place instead of read and written again.
    The keys sort as action, actor_id, actor_username, after, before, case_id, ...; the
    separators are canonical_json's (",", ":")."""
    head = canonical_json({key: payload[key] for key in ("action", "actor_id", "actor_username")})
    rest = canonical_json({key: value for key, value in payload.items() if key not in _HEAD_AND_TEXTS})
    after = "null" if after_text is None else after_text
    before = "null" if before_text is None else before_text
    return f'{head[:-1]},"after":{after},"before":{before},{rest[1:]}'


_HEAD_AND_TEXTS = frozenset({"action", "actor_id", "actor_username", "after", "before"})


def audit_lock() -> None:
    """Nothing any more: there is no lock shared by all writers.

    The log used to be one chain appended under one advisory lock, so its id order was commit
    order and every writer in the system waited for every other. Entries now chain per record
    (`audit_append` takes that record's own lock) and the feed reads below the oldest
    transaction in flight (`audit_feed_horizon`). Kept so services that still call it before
    their row locks need no edit; it takes nothing.
    """


def audit_chain_key(record_type: str, record_id: UUID | str) -> int:
    """The 32-bit half of the advisory lock of one record's chain."""
    digest = hashlib.blake2b(f"{record_type}:{record_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _chain_lock_and_head(record_type: str, record_id: UUID) -> str:
    """Take the record chain's lock (until commit), then read its last hash (a later statement,
    so its snapshot sees the append of whoever held the lock before).

    Every writer of one record already holds the record's row lock, so this lock only orders
    writers that append without one (attachments, conflicts); it is always taken last, after
    every row lock, and a record chain is only appended for its own record, so it adds no wait
    cycle. Once it is held, every earlier append of the chain is committed and visible.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [AUDIT_CHAIN_LOCK_CLASS, audit_chain_key(record_type, record_id)]
        )
        cursor.execute(
            "SELECT hash FROM audit_auditentry WHERE record_type = %s AND record_id = %s ORDER BY id DESC LIMIT 1",
            [record_type, record_id],
        )
        row = cursor.fetchone()
        return row[0] if row else GENESIS_HASH


def audit_feed_horizon() -> int:
    """Every entry with a txid below this is committed or gone for good (see migration 0005)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT audit_feed_horizon()")
        return cursor.fetchone()[0]


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
) -> AuditEntry | None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction that makes the change")
    batch = _BATCH.get()
    if batch is not None:
        # Chained and stored by AuditBatch.flush, in this transaction, as a plain row.
        batch.append(
            action=action,
            record_type=record_type,
            record_id=record_id,
            actor=actor,
            device_id=device_id,
            case_id=case_id,
            version=version,
            before=before,
            after=after,
            reason=reason,
        )
        return None
    prev_hash = _chain_lock_and_head(record_type, record_id)
    # Round-trip before/after through JSON so the hash is computed over what is stored.
    entry = AuditEntry(
        occurred_at=timezone.now(),
        actor_id=_actor_id(actor),
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
        prev_hash=prev_hash,
        chain=AuditChain.RECORD,
    )
    entry.hash = entry_hash(prev_hash=entry.prev_hash, payload=entry_payload(entry))
    entry.save(force_insert=True)
    return entry


def _actor_id(actor: Any) -> Any:
    return getattr(actor, "pk", None) if actor is not None and getattr(actor, "is_authenticated", False) else None


# --- many appends in one transaction -------------------------------------------------------


# The columns a batch writes, in this order (id and txid are the database's).
_BATCH_COLUMNS = (
    "occurred_at",
    "actor_id",
    "actor_username",
    "device_id",
    "action",
    "record_type",
    "record_id",
    "case_id",
    "version",
    "before",
    "after",
    "reason",
    "chain",
    "prev_hash",
    "hash",
)


class _PendingEntry:
    """An entry a batch keeps until its flush: the hashed payload (`entry_payload`'s form) and
    the JSON text stored for before/after."""

    __slots__ = (
        "payload",
        "payload_text",
        "before_text",
        "after_text",
        "actor_id",
        "record_id",
        "case_id",
        "chain_key",
    )

    def __init__(self, *, payload, payload_text, before_text, after_text, actor_id, record_id, case_id) -> None:
        self.payload = payload
        self.payload_text = payload_text
        self.before_text = before_text
        self.after_text = after_text
        self.actor_id = actor_id
        self.record_id = record_id
        self.case_id = case_id
        self.chain_key = (payload["record_type"], payload["record_id"])


class AuditBatch:
    """The entries of one transaction's many changes (a sync push chunk), stored together.

    Inside `audit_batch_collecting()`, `audit_append` keeps its entry here (not yet chained).
    `flush` then takes every chain's lock in one statement (in key order), reads every head in
    one query, chains the entries in the order they were appended, and stores them in one
    INSERT of plain rows, all in the same transaction as the changes: what commits is exactly
    what one `audit_append` per change would have stored (the same columns, the hash over the
    same payload: `entry_payload` of the stored row). A caller that rolls a savepoint back drops
    that savepoint's entries with `rollback_to(mark())`.
    """

    def __init__(self) -> None:
        self.entries: list[_PendingEntry] = []

    def append(
        self,
        *,
        action: str,
        record_type: str,
        record_id: UUID,
        actor: Any,
        device_id: str,
        case_id: UUID | None,
        version: int | None,
        before: dict | None,
        after: dict | None,
        reason: str,
    ) -> None:
        # Round-trip before/after through JSON so the hash is computed over what is stored.
        before_text = canonical_json(before) if before is not None else None
        after_text = canonical_json(after) if after is not None else None
        actor_id = _actor_id(actor)
        payload = _hashed_fields(
            occurred_at=timezone.now(),
            actor_id=actor_id,
            actor_username=getattr(actor, "username", "") or "",
            device_id=device_id or "",
            action=action,
            record_type=record_type,
            record_id=record_id,
            case_id=case_id,
            version=version,
            before=None,
            after=None,
            reason=reason,
        )
        if _canonical_is_fixed_point(before) and _canonical_is_fixed_point(after):
            # The hash's text with the stored texts in place, not read back and written again.
            payload_text = _payload_text(payload, before_text, after_text)
        else:
            payload["before"] = json.loads(before_text) if before_text is not None else None
            payload["after"] = json.loads(after_text) if after_text is not None else None
            payload_text = canonical_json(payload)
        self.entries.append(
            _PendingEntry(
                payload=payload,
                payload_text=payload_text,
                before_text=before_text,
                after_text=after_text,
                actor_id=actor_id,
                record_id=record_id,
                case_id=case_id,
            )
        )

    def mark(self) -> int:
        return len(self.entries)

    def rollback_to(self, mark: int) -> None:
        del self.entries[mark:]

    def flush(self) -> int:
        """Chain and store the entries; returns how many."""
        entries, self.entries = self.entries, []
        if not entries:
            return 0
        chains = sorted({entry.chain_key for entry in entries})
        keys = sorted({audit_chain_key(record_type, record_id) for record_type, record_id in chains})
        heads: dict[tuple[str, str], str] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(%s, key)) FROM unnest(%s::int[]) AS key",
                [AUDIT_CHAIN_LOCK_CLASS, keys],
            )
            # A later statement than the locks: its snapshot sees the appends of their previous holders.
            cursor.execute(
                "SELECT DISTINCT ON (e.record_type, e.record_id) e.record_type, e.record_id::text, e.hash "
                "FROM audit_auditentry e "
                "JOIN unnest(%s::text[], %s::uuid[]) AS c(record_type, record_id) "
                "ON e.record_type = c.record_type AND e.record_id = c.record_id "
                "ORDER BY e.record_type, e.record_id, e.id DESC",
                [[record_type for record_type, _ in chains], [record_id for _, record_id in chains]],
            )
            for record_type, record_id, head in cursor.fetchall():
                heads[(record_type, record_id)] = head
        rows = []
        for entry in entries:
            payload = entry.payload
            prev_hash = heads.get(entry.chain_key, GENESIS_HASH)
            heads[entry.chain_key] = digest = hashlib.sha256((prev_hash + entry.payload_text).encode()).hexdigest()
            rows.append(
                (
                    payload["occurred_at"],
                    entry.actor_id,
                    payload["actor_username"],
                    payload["device_id"],
                    payload["action"],
                    payload["record_type"],
                    entry.record_id,
                    entry.case_id,
                    payload["version"],
                    entry.before_text,
                    entry.after_text,
                    payload["reason"],
                    AuditChain.RECORD.value,
                    prev_hash,
                    digest,
                )
            )
        rows_insert_plain(AuditEntry, _BATCH_COLUMNS, rows)  # one INSERT ... SELECT FROM unnest, ids in append order
        return len(rows)


_BATCH: contextvars.ContextVar[AuditBatch | None] = contextvars.ContextVar("audit_batch", default=None)


def audit_batch() -> AuditBatch | None:
    """The batch `audit_append` collects into now, if any."""
    return _BATCH.get()


@contextlib.contextmanager
def audit_batch_collecting() -> Iterator[AuditBatch]:
    """Collect this block's appends; the caller flushes inside the block's transaction. Entries
    not flushed when the block ends are dropped (their transaction must roll back)."""
    batch = AuditBatch()
    token = _BATCH.set(batch)
    try:
        yield batch
    finally:
        _BATCH.reset(token)
    if batch.entries:
        # Left unflushed by a block that did not fail: its changes must not commit unaudited.
        raise RuntimeError("audit_batch_collecting ended with entries not flushed")
