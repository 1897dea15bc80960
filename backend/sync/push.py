"""Applying pushed operations: receipts, merge, conflict detection, tombstones, one outcome each.

The transport (mobile_api.sync) parses a push into `PushOperation`s and lends, per record type, a
`RecordInput`: how `data` is parsed into service arguments (the REST serializer), which records
the user may see, the transport's own permission checks, and how a record is rendered. Everything
else is decided here, so every way a push may arrive gets the same answers.

A chunk of operations commits in one transaction (`push_chunk`), each operation in its own
savepoint: one bad operation never undoes another. The chunk's receipts are looked up in one
query and written in one INSERT at its end, in the chunk's transaction, so after a crash an
operation is applied with its receipt or not at all, and a replay of a committed op_id gets its
receipt back as `duplicate`. A concurrent push of the same op_id collides on the receipts' unique
index: the chunk is rolled back and applied again operation by operation, each with its own
receipt insert, where that op_id replays.

Merging: `field_versions` records the version at which each field last changed. For an upsert
with `base_version` b, the device changed the fields whose sent value differs from the server's;
the server changed those with field_versions > b. Disjoint → the device's changes are applied
(`merged` when the server had moved on); overlapping → `conflict`, nothing applied, the server's
record in the receipt and an open conflict for the back office.
"""

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.db.models import QuerySet
from django.db.models.lookups import IsNull
from django.db.models.sql.where import AND
from django.db.transaction import TransactionManagementError

from backend.audit.services import audit_batch, audit_batch_collecting, canonical_json
from backend.common.errors import ApplicationError
from backend.events.services import events_emit_records
from backend.records.models import FieldRecord
from backend.records.registry import RecordType
from backend.records.services import WriteMemo, payload_digest, write_memo_collecting
from backend.sync.models import ReceiptStatus, SyncReceipt
from backend.sync.selectors import sync_receipt_get, sync_receipts_get
from backend.sync.services import (
    PendingReceipt,
    sync_attachments_check,
    sync_attachments_declare,
    sync_conflict_create,
    sync_receipt_build,
    sync_receipt_create,
    sync_receipts_create,
)

logger = logging.getLogger(__name__)

ACTIONS = ("upsert", "delete")
DEADLOCK_DETECTED = "40P01"
# Deadlock retries of one chunk. With no global lock, two chunks that lock the same records in
# opposite orders can deadlock; PostgreSQL ends one of them, nothing of it was committed (receipts
# included), so it is applied again from the start.
CHUNK_DEADLOCK_RETRIES = 3


class Rejected(Exception):
    """An operation refused before anything was applied (its receipt says why)."""

    def __init__(self, code: str, detail: str, errors: dict[str, list[str]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors
        self.extra = extra


def op_digest(raw: dict[str, Any]) -> str:
    """What makes a replay of an op_id "the same operation"."""
    keys = ("type", "action", "id", "base_version", "data", "attachments")
    return hashlib.sha256(canonical_json({k: raw.get(k) for k in keys}).encode()).hexdigest()


@dataclass(kw_only=True)
class PushOperation:
    """One operation as the transport parsed it. `errors` (the envelope's) rejects it; an
    operation without a valid `op_id` is answered but never stored."""

    op_id: uuid.UUID | None
    raw_op_id: Any = None
    type: str | None
    action: str
    id: uuid.UUID | None
    base_version: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    attachments: Any = None
    digest: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Not an object at all: answered with this detail, op_id and type null.
    not_an_object: bool = False


class RecordInput(Protocol):
    """What the transport lends the push for one record type."""

    def scope(self) -> QuerySet:
        """The live records the user may see (the record type's selector)."""

    def parse_create(self, data: dict[str, Any], record_id: uuid.UUID) -> dict[str, Any]:
        """`data` as the create service's keyword arguments; raises ApplicationError."""

    def parse_changes(self, instance: FieldRecord, data: dict[str, Any]) -> dict[str, Any]:
        """`data` as changes of `instance` (field → value); raises ApplicationError."""

    def check_write(self, action: str, instance: FieldRecord | None) -> None:
        """The transport's own permission checks for `action` (create, update, delete)."""

    def render(self, instance: FieldRecord) -> dict[str, Any]:
        """The record as the transport shows it (in conflict and locked receipts)."""


@dataclass(frozen=True, kw_only=True)
class PushContext:
    user: Any
    device_id: str
    # Record type name → (its RecordType, its RecordInput), or None when it is not synced.
    record_input: Callable[[str], tuple[RecordType, RecordInput] | None]
    # Operations on things that are not field records (`track`): name → apply(op=, ctx=) → body.
    special: dict[str, Callable[..., dict[str, Any]]] = field(default_factory=dict)
    coord_system: str | None = None


def including_tombstones(queryset: QuerySet) -> QuerySet:
    """The same scoping, but with deleted records too (devices must learn of deletions).

    Record selectors start from the live-rows manager, which adds `deleted_at IS NULL` to the
    top-level AND of the query; dropping exactly that condition keeps every scoping rule.
    """
    queryset = queryset._chain()
    where = queryset.query.where
    if where.connector != AND or where.negated:
        return queryset
    base_table = queryset.query.get_initial_alias()
    where.children = [
        child
        for child in where.children
        if not (
            isinstance(child, IsNull)
            and child.rhs is True
            and getattr(getattr(child.lhs, "target", None), "name", None) == "deleted_at"
            and getattr(child.lhs, "alias", None) == base_table
        )
    ]
    return queryset


def tombstone_data(instance: FieldRecord) -> dict[str, Any]:
    return {
        "id": str(instance.pk),
        "case": str(instance.case_id) if getattr(instance, "case_id", None) else None,
        "version": instance.version,
        "deleted_at": instance.deleted_at.isoformat() if instance.deleted_at else None,
    }


# --- outcomes ----------------------------------------------------------------------------


def rejected_body(op_id: Any, record_type: Any, record_id: Any, error: Rejected) -> dict[str, Any]:
    body: dict[str, Any] = {
        "op_id": str(op_id) if op_id is not None else None,
        "type": record_type if isinstance(record_type, str) else None,
        "status": ReceiptStatus.REJECTED.value,
        "id": str(record_id) if record_id is not None else None,
        "version": None,
        "code": error.code,
        "detail": error.detail,
        "errors": error.errors or {"non_field_errors": [error.detail]},
    }
    body.update(error.extra)
    return body


def rejection_of(exc: Exception) -> Rejected:
    if isinstance(exc, Rejected):
        return exc
    if isinstance(exc, ApplicationError):
        extra = {}
        if "current" in exc.extra:
            extra["server"] = canonical_copy(exc.extra["current"])
        return Rejected(exc.code, exc.message, exc.errors, **extra)
    if isinstance(exc, IntegrityError | DataError):
        logger.warning("sync push: database refused an operation: %s", exc)
        return Rejected("integrity_error", "The database refused the operation's values.")
    raise exc


def replay(stored: SyncReceipt | PendingReceipt, op: PushOperation) -> dict[str, Any]:
    if stored.op_digest != op.digest:
        return rejected_body(
            op.op_id,
            op.type,
            op.id,
            Rejected("op_id_reuse", "This op_id was used for another operation; give each operation its own op_id."),
        )
    body = dict(stored.body)
    body["original_status"] = body.get("status")
    body["status"] = ReceiptStatus.DUPLICATE.value
    return body


# --- merge -------------------------------------------------------------------------------


def _field_key(model: type, name: str) -> str:
    """field_versions is keyed by attname (`case_id`); services speak field names (`case`)."""
    try:
        return model._meta.get_field(name).attname
    except Exception:  # noqa: BLE001 - not a model field (a serializer-only input)
        return name


def _differs(instance: FieldRecord, name: str, value: Any) -> bool:
    try:
        model_field = instance._meta.get_field(name)
    except Exception:  # noqa: BLE001 - not a model field: cannot compare, count it as a change
        return True
    if not getattr(model_field, "concrete", False):
        return True
    if model_field.is_relation and model_field.many_to_one:
        return getattr(instance, model_field.attname) != getattr(value, "pk", value)
    return getattr(instance, name) != value


@dataclass
class _Chunk:
    """What one chunk learns once: the stored receipts, which of its records exist and which of
    those the user sees."""

    ctx: PushContext
    receipts: dict[uuid.UUID, Any]
    # (type, id) of the chunk's records that did not exist when it started: their first operation
    # goes straight to the create service, which still resolves a concurrent create of the id
    # (replay or id_conflict). Consumed by that first operation; later ones read the row.
    absent: set[tuple[str, uuid.UUID]]
    # (type, id) the user may see, found for the whole chunk in one query per type; a record not
    # in it (made meanwhile by another transaction) is looked up on its own.
    visible: set[tuple[str, uuid.UUID]]
    pending: list[PendingReceipt] | None
    # What the kernel and services learn once per chunk (case visibility, assignments), the
    # create the current operation makes of a known-new id, and the chunk's outbox events.
    memo: WriteMemo = field(default_factory=WriteMemo)
    # (type, id) whose create collided with a concurrent one: created the ordinary way.
    ordinary: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    # A batched chunk's statements (lazy savepoints, deferred INSERTs); None: one atomic() each.
    statements: "_ChunkStatements | None" = None

    def known_absent(self, name: str, record_id: uuid.UUID) -> bool:
        return (name, record_id) in self.absent

    def existing(self, name: str, model: type[FieldRecord], record_id: uuid.UUID) -> FieldRecord | None:
        """The record, locked until commit, or None."""
        if (name, record_id) in self.absent:
            self.absent.discard((name, record_id))
            return None
        return model.all_objects.select_for_update().filter(pk=record_id).first()

    def is_visible(self, name: str, record_input: RecordInput, record_id: uuid.UUID) -> bool:
        if (name, record_id) in self.visible:
            return True
        if including_tombstones(record_input.scope()).filter(pk=record_id).exists():
            self.visible.add((name, record_id))
            return True
        return False


def _apply_upsert(
    *, chunk: _Chunk, name: str, record_type: RecordType, record_input: RecordInput, op: PushOperation, attachments
) -> dict[str, Any]:
    ctx = chunk.ctx
    model = record_type.model
    known_absent = chunk.known_absent(name, op.id)
    existing = chunk.existing(name, model, op.id)
    if existing is None:
        if op.base_version is not None:
            raise Rejected("not_found", "No such record.")
        if record_type.create is None:
            raise Rejected("create_not_supported", f"A {name} is created with its parent record, not on its own.")
        record_input.check_write("create", None)
        validated = record_input.parse_create(op.data, op.id)
        if known_absent and (name, op.id) not in chunk.ordinary:
            chunk.memo.creating = (model, op.id)
        try:
            record, _created = record_type.create(
                by=ctx.user, device_id=ctx.device_id, record_id=op.id, digest=payload_digest(op.data), **validated
            )
        finally:
            chunk.memo.creating = None
        chunk.visible.add((name, record.pk))
        sync_attachments_declare(record=record, record_type=name, attachments=attachments)
        return {"status": ReceiptStatus.APPLIED.value, "id": str(record.pk), "version": record.version}

    if not chunk.is_visible(name, record_input, op.id):
        # Exactly what a record that does not exist gets: nothing tells it exists.
        if op.base_version is None:
            raise Rejected("id_conflict", f"A record with id {op.id} already exists with other content.")
        raise Rejected("not_found", "No such record.")
    if existing.deleted_at is not None:
        raise Rejected("record_deleted", "The record was deleted.", server=tombstone_data(existing))
    record_input.check_write("update", existing)
    if op.base_version is not None and op.base_version > existing.version:
        raise Rejected(
            "invalid_base_version",
            f"base_version {op.base_version} is newer than the record's version {existing.version}.",
            {"base_version": [f"The record is at version {existing.version}."]},
        )
    if op.base_version is None and existing.client_digest and existing.client_digest == payload_digest(op.data):
        # A create replayed under another op_id: the record is already what the device made.
        sync_attachments_declare(record=existing, record_type=name, attachments=attachments)
        return {"status": ReceiptStatus.APPLIED.value, "id": str(existing.pk), "version": existing.version}
    changes = record_input.parse_changes(existing, {k: v for k, v in op.data.items() if k != "id"})
    client_changed = [key for key, value in changes.items() if _differs(existing, key, value)]
    if op.base_version is None:
        # A create of an id that exists with other content: every differing field clashes.
        server_changed = {_field_key(model, key) for key in client_changed}
        conflict_code = "id_conflict"
    else:
        server_changed = {key for key, version in (existing.field_versions or {}).items() if version > op.base_version}
        conflict_code = "field_conflict"
    clashing = [key for key in client_changed if _field_key(model, key) in server_changed]
    if existing.is_locked and client_changed:
        raise Rejected(
            "record_locked",
            "The record is signed off and locked; reopen it to change it.",
            server=record_input.render(existing),
        )
    if clashing:
        server = record_input.render(existing)
        sync_conflict_create(
            record=existing,
            record_type=name,
            op_id=op.op_id,
            device_id=ctx.device_id,
            pushed_by=ctx.user,
            base_version=op.base_version,
            fields=clashing,
            client_data=canonical_copy(op.data),
            server_data=server,
        )
        return {
            "status": ReceiptStatus.CONFLICT.value,
            "id": str(existing.pk),
            "version": existing.version,
            "code": conflict_code,
            "fields": sorted(clashing),
            "server": server,
        }
    moved_on = op.base_version is None or existing.version > op.base_version
    record = existing
    if client_changed:
        if record_type.update is None:
            raise Rejected("update_not_supported", f"A {name} is not changed after it was made.")
        record = record_type.update(
            instance=existing,
            changes={key: changes[key] for key in client_changed},
            by=ctx.user,
            device_id=ctx.device_id,
            expected_version=existing.version,
        )
    sync_attachments_declare(record=record, record_type=name, attachments=attachments)
    status = ReceiptStatus.MERGED if moved_on and op.base_version is not None else ReceiptStatus.APPLIED
    return {"status": status.value, "id": str(record.pk), "version": record.version}


def _apply_delete(
    *, chunk: _Chunk, name: str, record_type: RecordType, record_input: RecordInput, op: PushOperation
) -> dict[str, Any]:
    existing = chunk.existing(name, record_type.model, op.id)
    if existing is None or not chunk.is_visible(name, record_input, op.id):
        raise Rejected("not_found", "No such record.")
    if existing.deleted_at is None:
        if record_type.delete is None:
            raise Rejected("delete_not_supported", f"A {name} is withdrawn with its parent record.")
        record_input.check_write("delete", existing)
        existing = record_type.delete(
            instance=existing, by=chunk.ctx.user, device_id=chunk.ctx.device_id, expected_version=None
        )
    return {"status": ReceiptStatus.APPLIED.value, "id": str(existing.pk), "version": existing.version}


def canonical_copy(data: Any) -> Any:
    """`data` as stored JSON (what a JSONField gives back)."""
    return json.loads(canonical_json(data))


# --- statements of a batched chunk -------------------------------------------------------


class DeferredInsertFailed(Exception):
    """The chunk's deferred INSERT of new records failed (a concurrent create of one of its ids,
    a value the database refuses): which operation it belongs to is unknown, so the chunk is
    rolled back and applied again operation by operation. Not a DatabaseError: no service's
    handler of an IntegrityError may take it for its own."""


class _ChunkStatements:
    """The SQL of a batched chunk, seen as it is sent (a connection execute wrapper).

    - An operation's savepoint is taken just before its first statement, not when it starts:
      an operation that sends nothing (a known-new record whose facts the chunk knows, its
      INSERT deferred) needs none. What it did is then only in Python, and undone there
      (WriteMemo, AuditBatch marks). A finished operation's savepoint is released with the next
      one's SAVEPOINT, in the same round trip.
    - Deferred INSERTs (WriteMemo.defer_inserts) are sent before any statement that could read
      their rows (a SELECT naming one of their tables) or that writes (a trigger or a foreign key
      may need them), and at the chunk's end.

    The operation's savepoint is registered in `connection.savepoint_ids` from the start, so
    on_commit callbacks registered inside it are dropped when it rolls back, as Django's own
    savepoints do.
    """

    CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")

    def __init__(self, memo: WriteMemo) -> None:
        self.memo = memo
        self.savepoint: str | None = None  # the current operation's, reserved
        self.taken = False  # whether it was sent
        self.unreleased: str | None = None
        self.count = 0
        self.busy = False

    def __call__(self, execute, sql, params, many, context):
        if self.busy:
            return execute(sql, params, many, context)
        self.busy = True
        try:
            if self.savepoint is not None and not self.taken:
                self._take_savepoint()
            if self.memo.has_waiting_inserts() and self._may_need_rows(sql):
                self.flush()
        finally:
            self.busy = False
        return execute(sql, params, many, context)

    def _may_need_rows(self, sql: str) -> bool:
        head = sql.lstrip()[:24].upper()
        if head.startswith(self.CONTROL):
            return False
        if not head.startswith("SELECT"):
            return True
        return any(table in sql for table in self.memo.waiting_tables())

    def _send(self, sql: str) -> None:
        busy, self.busy = self.busy, True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            self.busy = busy

    def _take_savepoint(self) -> None:
        release = f"RELEASE SAVEPOINT {self.unreleased}; " if self.unreleased else ""
        self._send(f"{release}SAVEPOINT {self.savepoint}")
        self.unreleased = None
        self.taken = True

    def flush(self) -> None:
        busy, self.busy = self.busy, True
        try:
            self.memo.flush_inserts()
        except (IntegrityError, DataError) as error:  # a deadlock stays an OperationalError (retried)
            raise DeferredInsertFailed(str(error)) from error
        finally:
            self.busy = busy

    @contextlib.contextmanager
    def operation(self) -> Iterator[None]:
        """One operation's lazy savepoint: what `transaction.atomic()` is to it otherwise."""
        self.count += 1
        sid = self.savepoint = f"sync_op_{self.count}"
        self.taken = False
        connection.savepoint_ids.append(sid)
        try:
            try:
                yield
            finally:
                popped = connection.savepoint_ids.pop()
                assert popped == sid, "unbalanced savepoints inside a push operation"
        except BaseException:
            self._undo(sid)
            raise
        else:
            if connection.needs_rollback:
                self._undo(sid)  # as atomic() does: a failure a service swallowed is still undone
            elif self.taken:
                self.unreleased = sid
        finally:
            self.savepoint = None

    def _undo(self, sid: str) -> None:
        connection.needs_rollback = False
        connection.run_on_commit = [entry for entry in connection.run_on_commit if sid not in entry[0]]
        if self.taken:
            self._send(f"ROLLBACK TO SAVEPOINT {sid}")
            self.unreleased = sid


@contextlib.contextmanager
def _operation_savepoint(chunk: "_Chunk") -> Iterator[None]:
    if chunk.statements is None:
        with transaction.atomic():
            yield
    else:
        with chunk.statements.operation():
            yield


# --- one operation -----------------------------------------------------------------------


def _apply_in_savepoint(*, chunk: _Chunk, op: PushOperation, target: Any) -> dict[str, Any]:
    """One operation in its own savepoint, the only one it takes (the services' inner atomic
    blocks join it when they create a known-new record, see WriteMemo)."""
    base = {"op_id": str(op.op_id), "type": op.type}
    batch = audit_batch()
    mark = batch.mark() if batch is not None else 0
    memo_mark = chunk.memo.mark()
    was_absent = isinstance(op.type, str) and chunk.known_absent(op.type, op.id)
    try:
        if op.errors:
            raise Rejected("invalid_operation", "Invalid operation.", op.errors)
        attachments = sync_attachments_check(attachments=op.attachments)
        with _operation_savepoint(chunk):
            if callable(target):
                result = target(op=op, ctx=chunk.ctx)
            else:
                record_type, record_input = target
                kwargs = {"chunk": chunk, "name": op.type, "record_type": record_type, "record_input": record_input}
                if op.action == "delete":
                    result = _apply_delete(**kwargs, op=op)
                else:
                    result = _apply_upsert(**kwargs, op=op, attachments=attachments)
    except (Rejected, ApplicationError, IntegrityError, DataError, TransactionManagementError) as exc:
        if isinstance(exc, TransactionManagementError) and not chunk.memo.create_raced:
            raise
        # (A service that turns a known-new record's IntegrityError into its own answer with a
        # query, e.g. visit_create naming the clashing booking, finds the transaction aborted up
        # to this savepoint: the operation runs again the ordinary way below, with its own.)
        if batch is not None:
            batch.rollback_to(mark)  # the savepoint undid the change: its audit entries go with it
        chunk.memo.rollback_to(memo_mark)  # and what it learned, and its events
        if chunk.memo.create_raced and was_absent:
            # A concurrent push created the same id meanwhile: apply it again as any create of
            # an id is applied (own savepoint, replay check first): a replay, or id_conflict.
            chunk.memo.create_raced = False
            chunk.absent.add((op.type, op.id))
            chunk.ordinary.add((op.type, op.id))
            return _apply_in_savepoint(chunk=chunk, op=op, target=target)
        chunk.memo.create_raced = False
        return rejected_body(op.op_id, op.type, op.id, rejection_of(exc))
    return {**base, **result}


def push_operation(*, op: PushOperation, chunk: _Chunk) -> dict[str, Any]:
    """Apply one operation; returns its receipt (without missing_attachments)."""
    ctx = chunk.ctx
    if op.not_an_object:
        return rejected_body(None, None, None, Rejected("invalid_operation", "An operation must be an object."))
    if op.op_id is None:
        return rejected_body(
            op.raw_op_id, op.type, op.id, Rejected("invalid_operation", "Invalid operation.", op.errors)
        )
    if op.op_id in chunk.receipts:
        stored = chunk.receipts[op.op_id]
    else:
        stored = sync_receipt_get(user=ctx.user, op_id=op.op_id)
    if stored is not None:
        return replay(stored, op)
    target: Any = None
    if isinstance(op.type, str):
        target = ctx.special.get(op.type) or ctx.record_input(op.type)
    if not op.errors and target is None:
        # Not stored: the type may be supported after an upgrade, and the device may retry.
        return rejected_body(
            op.op_id, op.type, op.id, Rejected("unsupported_type", f"Type {op.type!r} cannot be synced.")
        )
    receipt_fields = {
        "user": ctx.user,
        "op_id": op.op_id,
        "device_id": ctx.device_id,
        "record_type": op.type if isinstance(op.type, str) else "",
        "record_id": op.id,
        "action": op.action if isinstance(op.action, str) else "",
        "op_digest": op.digest,
    }
    if chunk.pending is not None:
        body = _apply_in_savepoint(chunk=chunk, op=op, target=target)
        receipt = sync_receipt_build(**receipt_fields, body=body)
        chunk.pending.append(receipt)
        chunk.receipts[op.op_id] = receipt  # the same op_id later in the chunk is a duplicate
        return body
    batch = audit_batch()
    mark = batch.mark() if batch is not None else 0
    memo_mark = chunk.memo.mark()
    try:
        with transaction.atomic():
            body = _apply_in_savepoint(chunk=chunk, op=op, target=target)
            # In the change's transaction: both commit or neither does. A concurrent push of the
            # same op_id collides here on the unique index and its whole transaction rolls back.
            sync_receipt_create(**receipt_fields, body=body)
            if batch is not None:
                batch.flush()
    except IntegrityError:
        if batch is not None:
            batch.rollback_to(mark)  # the operation was rolled back: so are its audit entries
        chunk.memo.rollback_to(memo_mark)
        # A concurrent push of the same op_id won the receipt: answer with its receipt.
        stored = sync_receipt_get(user=ctx.user, op_id=op.op_id)
        if stored is None:
            raise
        return replay(stored, op)
    return body


# --- a chunk -----------------------------------------------------------------------------


def chunk_receipts(*, ops: list[PushOperation], user: Any) -> dict[uuid.UUID, Any]:
    """What `push_operation` would find stored for each op_id of a chunk, in one query.

    Only op_ids that occur once in the chunk are answered: a repeated one may get its receipt
    from an earlier operation of the same chunk, so it is looked up when its turn comes. A
    concurrent push that stores a receipt after this read still collides on the unique index.
    """
    seen: dict[uuid.UUID, int] = {}
    for op in ops:
        if op.op_id is not None:
            seen[op.op_id] = seen.get(op.op_id, 0) + 1
    once = [op_id for op_id, count in seen.items() if count == 1]
    stored = sync_receipts_get(user=user, op_ids=once)
    return {op_id: stored.get(op_id) for op_id in once}


def chunk_records(*, ops: Iterable[PushOperation], ctx: PushContext) -> tuple[set, set]:
    """(absent, visible): which of the chunk's (type, id) do not exist, and which existing ones
    the user may see, in at most two queries per record type."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for op in ops:
        if op.op_id is not None and op.id is not None and isinstance(op.type, str) and not op.errors:
            wanted.setdefault(op.type, set()).add(op.id)
    absent, visible = set(), set()
    for name, ids in wanted.items():
        found = None if name in ctx.special else ctx.record_input(name)
        if found is None:
            continue
        record_type, record_input = found
        existing = set(record_type.model.all_objects.filter(pk__in=ids).order_by().values_list("pk", flat=True))
        absent.update((name, record_id) for record_id in ids - existing)
        if existing:
            scoped = including_tombstones(record_input.scope()).filter(pk__in=existing)
            visible.update((name, record_id) for record_id in scoped.order_by().values_list("pk", flat=True))
    return absent, visible


def _push_chunk_operations(
    *, ops: list[PushOperation], ctx: PushContext, memo: WriteMemo, statements: _ChunkStatements | None
) -> tuple[list[dict[str, Any]], "_Chunk"]:
    """The chunk's operations in order, then (batched) its deferred records."""
    absent, visible = chunk_records(ops=ops, ctx=ctx)
    chunk = _Chunk(
        ctx=ctx,
        receipts=chunk_receipts(ops=ops, user=ctx.user),
        absent=absent,
        visible=visible,
        pending=[] if statements is not None else None,
        memo=memo,
        statements=statements,
    )
    bodies = [push_operation(op=op, chunk=chunk) for op in ops]
    if statements is not None:
        statements.flush()  # the chunk's new records: one INSERT per model
    return bodies, chunk


def push_chunk(*, ops: list[PushOperation], ctx: PushContext) -> list[dict[str, Any]]:
    """Apply a chunk in one transaction, its receipts and audit entries written in one INSERT
    each at its end; returns one receipt body per operation, in order.

    A receipt collision there (a concurrent push of one of its op_ids committed first) rolls the
    chunk back; it is then applied operation by operation, each with its own receipt insert, so
    that op_id replays as `duplicate` and the others apply.
    """
    batched = True
    for attempt in range(CHUNK_DEADLOCK_RETRIES + 1):
        try:
            with transaction.atomic(), audit_batch_collecting() as batch, write_memo_collecting() as memo:
                statements = _ChunkStatements(memo) if batched else None
                memo.defer_inserts = batched
                with connection.execute_wrapper(statements) if statements else contextlib.nullcontext():
                    bodies, chunk = _push_chunk_operations(ops=ops, ctx=ctx, memo=memo, statements=statements)
                batch.flush()  # the chunk's audit entries: chained, then one INSERT
                events_emit_records(events=memo.events)  # its outbox events, in order, one INSERT
                memo.events = []
                if chunk.pending:
                    sync_receipts_create(chunk.pending)  # last, as ever: the same lock order as before
                return bodies
        except (IntegrityError, DeferredInsertFailed):
            # A receipt or a deferred record collided with a concurrent push's (or the database
            # refused a deferred row): nothing of the chunk committed; one operation at a time.
            if not batched:
                raise
            batched = False
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != DEADLOCK_DETECTED or attempt == CHUNK_DEADLOCK_RETRIES:
                raise
    raise AssertionError("unreachable")
