"""Applying pushed operations, one at a time, through the record types' own REST machinery.

Each operation runs in its own transaction, which first inserts its receipt (unique per user
and op_id) and then applies the change in a savepoint: after a crash an operation is either
applied with its receipt or not at all, and a replay of a committed op_id gets its receipt
back as `duplicate`. A concurrent replay blocks on the receipt's unique index until the first
commits, then replays it.

Merging: `field_versions` records the version at which each field last changed. For an upsert
with `base_version` b, the device changed the fields whose sent value differs from the server's;
the server changed those with field_versions > b. Disjoint → the device's changes are applied
(`merged` when the server had moved on); overlapping → `conflict`, nothing applied, the
server's record in the receipt and an open conflict for the back office.
"""

import json
import logging
import uuid
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from backend.audit.services import canonical_json
from backend.common.errors import ApplicationError, ValidationFailed
from backend.common.records import FieldRecord, payload_digest
from backend.sync.models import ReceiptStatus
from backend.sync.selectors import attachments_missing_by_record, sync_receipt_get, sync_receipts_get
from backend.sync.services import (
    sync_attachments_check,
    sync_attachments_declare,
    sync_conflict_create,
    sync_receipt_build,
    sync_receipt_create,
)
from backend.visits.selectors import vehicles_visible_to
from backend.visits.services import vehicle_track_append
from mobile_api.exceptions import _first_code, _flatten_errors
from mobile_api.sync.registry import SyncType, including_tombstones, sync_type_get

logger = logging.getLogger(__name__)

ACTIONS = ("upsert", "delete")


class Rejected(Exception):
    """An operation refused before anything was applied (its receipt says why)."""

    def __init__(self, code: str, detail: str, errors: dict[str, list[str]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors
        self.extra = extra


def jsonable(data: Any) -> Any:
    """Serializer output as plain JSON values (UUIDs, decimals …), storable in a JSONField."""
    return json.loads(JSONRenderer().render(data))


def op_digest(op: dict[str, Any]) -> str:
    import hashlib

    keys = ("type", "action", "id", "base_version", "data", "attachments")
    return hashlib.sha256(canonical_json({k: op.get(k) for k in keys}).encode()).hexdigest()


def _rejected_body(op_id: Any, record_type: Any, record_id: Any, error: Rejected) -> dict[str, Any]:
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


def _rejection_of(exc: Exception) -> Rejected:
    if isinstance(exc, Rejected):
        return exc
    if isinstance(exc, ApplicationError):
        extra = {}
        if "current" in exc.extra:
            extra["server"] = jsonable(exc.extra["current"])
        return Rejected(exc.code, exc.message, exc.errors, **extra)
    if isinstance(exc, drf.ValidationError):
        errors = _flatten_errors(exc.detail)
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())[:1000] or "Invalid input."
        return Rejected(_first_code(exc.detail) or "validation_error", detail, errors)
    if isinstance(exc, Http404 | drf.NotFound):
        return Rejected("not_found", "No such record.")
    if isinstance(exc, drf.PermissionDenied | drf.NotAuthenticated):
        return Rejected("permission_denied", str(getattr(exc, "detail", "You may not do this.")))
    if isinstance(exc, IntegrityError | DataError):
        logger.warning("sync push: database refused an operation: %s", exc)
        return Rejected("integrity_error", "The database refused the operation's values.")
    raise exc


# --- the operation ---------------------------------------------------------------------


class Operation:
    """One parsed operation of a push."""

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise Rejected("invalid_operation", "An operation must be an object.")
        self.raw = raw
        errors: dict[str, list[str]] = {}
        try:
            self.op_id = uuid.UUID(str(raw.get("op_id")))
        except ValueError:
            self.op_id = None
            errors["op_id"] = ["Expected a UUID."]
        self.type = raw.get("type")
        if not isinstance(self.type, str):
            errors["type"] = ["Expected a sync type name."]
        self.action = raw.get("action", "upsert")
        if self.action not in ACTIONS:
            errors["action"] = ["Expected upsert or delete."]
        try:
            self.id = uuid.UUID(str(raw.get("id")))
        except ValueError:
            self.id = None
            errors["id"] = ["Expected a UUID."]
        self.base_version = raw.get("base_version")
        if self.base_version is not None and (
            isinstance(self.base_version, bool) or not isinstance(self.base_version, int) or self.base_version < 1
        ):
            errors["base_version"] = ["Expected null or a positive integer."]
        self.data = raw.get("data") if raw.get("data") is not None else {}
        if not isinstance(self.data, dict):
            errors["data"] = ["Expected an object."]
        self.attachments_raw = raw.get("attachments")
        self.digest = op_digest(raw)
        self.errors = errors


def _serialize(view: Any, instance: FieldRecord) -> dict[str, Any]:
    if instance.deleted_at is not None:
        return tombstone_data(instance)
    return jsonable(view.get_serializer(instance).data)


def tombstone_data(instance: FieldRecord) -> dict[str, Any]:
    return {
        "id": str(instance.pk),
        "case": str(instance.case_id) if getattr(instance, "case_id", None) else None,
        "version": instance.version,
        "deleted_at": instance.deleted_at.isoformat() if instance.deleted_at else None,
    }


def _field_key(model: type, name: str) -> str:
    """field_versions is keyed by attname (`case_id`); serializers speak field names (`case`)."""
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


def _visible(sync_type: SyncType, view: Any, record_id: uuid.UUID) -> bool:
    return including_tombstones(view.get_queryset()).filter(pk=record_id).exists()


def _apply_upsert(
    *, sync_type: SyncType, op: Operation, request: Request, device_id: str, attachments: list
) -> dict[str, Any]:
    model = sync_type.model
    user = request.user
    existing = model.all_objects.select_for_update().filter(pk=op.id).first()
    if existing is None:
        if op.base_version is not None:
            raise Rejected("not_found", "No such record.")
        create = sync_type.record_type.create
        if create is None:
            raise Rejected(
                "create_not_supported", f"A {sync_type.name} is created with its parent record, not on its own."
            )
        view = sync_type.view(request, "create")
        view.check_permissions(request)
        serializer = view.get_serializer(data={**op.data, "id": str(op.id)})
        serializer.is_valid(raise_exception=True)
        validated = dict(serializer.validated_data)
        validated.pop("id", None)
        record, _created = create(
            by=user, device_id=device_id, record_id=op.id, digest=payload_digest(op.data), **validated
        )
        sync_attachments_declare(record=record, record_type=sync_type.name, attachments=attachments)
        return {"status": ReceiptStatus.APPLIED.value, "id": str(record.pk), "version": record.version}

    view = sync_type.view(request, "partial_update")
    if not _visible(sync_type, view, op.id):
        # Exactly what a record that does not exist gets: nothing tells it exists.
        if op.base_version is None:
            raise Rejected("id_conflict", f"A record with id {op.id} already exists with other content.")
        raise Rejected("not_found", "No such record.")
    if existing.deleted_at is not None:
        raise Rejected("record_deleted", "The record was deleted.", server=tombstone_data(existing))
    view.check_permissions(request)
    view.check_object_permissions(request, existing)
    if op.base_version is not None and op.base_version > existing.version:
        raise Rejected(
            "invalid_base_version",
            f"base_version {op.base_version} is newer than the record's version {existing.version}.",
            {"base_version": [f"The record is at version {existing.version}."]},
        )
    data = {k: v for k, v in op.data.items() if k != "id"}
    if op.base_version is None and existing.client_digest and existing.client_digest == payload_digest(op.data):
        # A create replayed under another op_id: the record is already what the device made.
        sync_attachments_declare(record=existing, record_type=sync_type.name, attachments=attachments)
        return {"status": ReceiptStatus.APPLIED.value, "id": str(existing.pk), "version": existing.version}
    serializer = view.get_serializer(existing, data=data, partial=True)
    serializer.is_valid(raise_exception=True)
    changes = {k: v for k, v in serializer.validated_data.items() if k != "id"}
    client_changed = [name for name, value in changes.items() if _differs(existing, name, value)]
    if op.base_version is None:
        # A create of an id that exists with other content: every differing field clashes.
        server_changed = {_field_key(model, name) for name in client_changed}
        conflict_code = "id_conflict"
    else:
        server_changed = {
            name for name, version in (existing.field_versions or {}).items() if version > op.base_version
        }
        conflict_code = "field_conflict"
    clashing = [name for name in client_changed if _field_key(model, name) in server_changed]
    if existing.is_locked and client_changed:
        raise Rejected(
            "record_locked",
            "The record is signed off and locked; reopen it to change it.",
            server=_serialize(view, existing),
        )
    if clashing:
        server = _serialize(view, existing)
        sync_conflict_create(
            record=existing,
            record_type=sync_type.name,
            op_id=op.op_id,
            device_id=device_id,
            pushed_by=user,
            base_version=op.base_version,
            fields=clashing,
            client_data=jsonable(op.data),
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
        update = sync_type.record_type.update
        if update is None:
            raise Rejected("update_not_supported", f"A {sync_type.name} is not changed after it was made.")
        record = update(
            instance=existing,
            changes={name: changes[name] for name in client_changed},
            by=user,
            device_id=device_id,
            expected_version=existing.version,
        )
    sync_attachments_declare(record=record, record_type=sync_type.name, attachments=attachments)
    status = ReceiptStatus.MERGED if moved_on and op.base_version is not None else ReceiptStatus.APPLIED
    return {"status": status.value, "id": str(record.pk), "version": record.version}


def _apply_delete(*, sync_type: SyncType, op: Operation, request: Request, device_id: str) -> dict[str, Any]:
    existing = sync_type.model.all_objects.select_for_update().filter(pk=op.id).first()
    view = sync_type.view(request, "destroy")
    if existing is None or not _visible(sync_type, view, op.id):
        raise Rejected("not_found", "No such record.")
    if existing.deleted_at is None:
        delete = sync_type.record_type.delete
        if delete is None:
            raise Rejected("delete_not_supported", f"A {sync_type.name} is withdrawn with its parent record.")
        view.check_permissions(request)
        view.check_object_permissions(request, existing)
        existing = delete(instance=existing, by=request.user, device_id=device_id, expected_version=None)
    return {"status": ReceiptStatus.APPLIED.value, "id": str(existing.pk), "version": existing.version}


# --- operations on things that are not field records ----------------------------------------


def _apply_track(*, op: Operation, request: Request) -> dict[str, Any]:
    """`track`: a batch of the vehicle's positions; `id` is the vehicle, `data.positions` the
    batch (as `POST vehicles/{id}/track/`). Positions already stored are skipped by the service."""
    if op.action != "upsert":
        raise Rejected("invalid_operation", "Track positions are only appended.", {"action": ["Use upsert."]})
    vehicle = vehicles_visible_to(user=request.user).filter(pk=op.id).first()
    if vehicle is None:
        raise Rejected("not_found", "No such vehicle.")
    result = vehicle_track_append(
        vehicle=vehicle,
        positions=op.data.get("positions"),
        by=request.user,
        coord_system=op.data.get("coord_system") or request.headers.get("X-Coord-System"),
    )
    return {"status": ReceiptStatus.APPLIED.value, "id": str(vehicle.pk), "version": None, "track": result}


SPECIAL_TYPES = {"track": _apply_track}


def chunk_receipts(*, raws: list[Any], user: Any) -> dict[uuid.UUID, Any]:
    """What `push_operation` would find stored for each op_id of a chunk, in one query.

    Only op_ids that occur once in the chunk are answered: a repeated one may get its receipt
    from an earlier operation of the same chunk, so it is looked up when its turn comes. A
    concurrent push that stores a receipt after this read still collides on the unique index.
    """
    seen: dict[uuid.UUID, int] = {}
    for raw in raws:
        if isinstance(raw, dict):
            try:
                op_id = uuid.UUID(str(raw.get("op_id")))
            except ValueError:
                continue
            seen[op_id] = seen.get(op_id, 0) + 1
    once = [op_id for op_id, count in seen.items() if count == 1]
    stored = sync_receipts_get(user=user, op_ids=once)
    return {op_id: stored.get(op_id) for op_id in once}


def push_operation(
    *,
    raw: Any,
    request: Request,
    device_id: str,
    receipts: dict[uuid.UUID, Any] | None = None,
    pending: list | None = None,
) -> dict[str, Any]:
    """Apply one operation; returns its receipt (without missing_attachments).

    `receipts` (from `chunk_receipts`) answers the stored-receipt lookup for the op_ids it holds.
    `pending`: the chunk's receipts are written together at its end (`sync_receipts_create`);
    the operation then runs in one savepoint instead of two, and its receipt (unsaved) is added
    both to `pending` and to `receipts`, so the same op_id later in the chunk is a duplicate.
    """
    try:
        op = Operation(raw)
    except Rejected as error:
        return _rejected_body(None, None, None, error)
    if op.op_id is None:
        return _rejected_body(
            raw.get("op_id"), op.type, op.id, Rejected("invalid_operation", "Invalid operation.", op.errors)
        )
    user = request.user
    if receipts is not None and op.op_id in receipts:
        stored = receipts[op.op_id]
    else:
        stored = sync_receipt_get(user=user, op_id=op.op_id)
    if stored is not None:
        return _replay(stored, op)
    sync_type = sync_type_get(op.type) if isinstance(op.type, str) else None
    special = SPECIAL_TYPES.get(op.type) if isinstance(op.type, str) else None
    if special is not None:
        sync_type = special
    if not op.errors and sync_type is None:
        # Not stored: the type may be supported after an upgrade, and the device may retry.
        return _rejected_body(
            op.op_id, op.type, op.id, Rejected("unsupported_type", f"Type {op.type!r} cannot be synced.")
        )
    receipt_fields = {
        "user": user,
        "op_id": op.op_id,
        "device_id": device_id,
        "record_type": op.type if isinstance(op.type, str) else "",
        "record_id": op.id,
        "action": op.action if isinstance(op.action, str) else "",
        "op_digest": op.digest,
    }
    if pending is not None:
        body = _apply_in_savepoint(op=op, sync_type=sync_type, request=request, device_id=device_id)
        receipt = sync_receipt_build(**receipt_fields, body=body)
        pending.append(receipt)
        if receipts is not None:
            receipts[op.op_id] = receipt
        return body
    try:
        with transaction.atomic():
            body = _apply_in_savepoint(op=op, sync_type=sync_type, request=request, device_id=device_id)
            # In the change's transaction: both commit or neither does. A concurrent push of the
            # same op_id collides here on the unique index and its whole transaction rolls back.
            sync_receipt_create(**receipt_fields, body=body)
    except IntegrityError:
        # A concurrent push of the same op_id won the receipt: answer with its receipt.
        stored = sync_receipt_get(user=user, op_id=op.op_id)
        if stored is None:
            raise
        return _replay(stored, op)
    return body


def _apply_in_savepoint(*, op: Operation, sync_type: Any, request: Request, device_id: str) -> dict:
    base = {"op_id": str(op.op_id), "type": op.type}
    try:
        if op.errors:
            raise Rejected("invalid_operation", "Invalid operation.", op.errors)
        attachments = sync_attachments_check(attachments=op.attachments_raw)
        with transaction.atomic():
            if callable(sync_type) and not isinstance(sync_type, SyncType):
                result = sync_type(op=op, request=request)
            elif op.action == "delete":
                result = _apply_delete(sync_type=sync_type, op=op, request=request, device_id=device_id)
            else:
                result = _apply_upsert(
                    sync_type=sync_type, op=op, request=request, device_id=device_id, attachments=attachments
                )
    except (Rejected, ApplicationError, drf.APIException, Http404, IntegrityError, DataError) as exc:
        return _rejected_body(op.op_id, op.type, op.id, _rejection_of(exc))
    return {**base, **result}


def _replay(stored: Any, op: Operation) -> dict[str, Any]:
    if stored.op_digest != op.digest:
        return _rejected_body(
            op.op_id,
            op.type,
            op.id,
            Rejected("op_id_reuse", "This op_id was used for another operation; give each operation its own op_id."),
        )
    body = dict(stored.body)
    body["original_status"] = body.get("status")
    body["status"] = ReceiptStatus.DUPLICATE.value
    return body


def with_missing_attachments(bodies: list[dict[str, Any]], *, user: Any) -> list[dict[str, Any]]:
    """Add to each receipt the files its record still waits for (computed now, so replays show
    progress), with one query per record type for the whole chunk."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for body in bodies:
        if body.get("id") and isinstance(body.get("type"), str) and body.get("status") != ReceiptStatus.REJECTED.value:
            try:
                wanted.setdefault(body["type"], set()).add(uuid.UUID(str(body["id"])))
            except ValueError:
                continue
    missing = {
        (record_type, record_id): hashes
        for record_type, ids in wanted.items()
        for record_id, hashes in attachments_missing_by_record(
            record_type=record_type, record_ids=ids, user=user
        ).items()
    }
    out = []
    for body in bodies:
        key = None
        if body.get("status") != ReceiptStatus.REJECTED.value and isinstance(body.get("type"), str):
            try:
                key = (body["type"], uuid.UUID(str(body.get("id"))))
            except ValueError:
                key = None
        out.append({**body, "missing_attachments": missing.get(key, []) if key else []})
    return out


def check_push_body(data: Any, max_operations: int) -> tuple[str, list]:
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        raise ValidationFailed(
            "Send {device_id, operations: [...]}.", errors={"operations": ["Expected a list of operations."]}
        )
    if len(data["operations"]) > max_operations:
        raise ApplicationError(
            f"At most {max_operations} operations per push; send the rest in another.",
            code="too_many_operations",
            status=413,
            extra={"max_operations": max_operations},
        )
    device_id = data.get("device_id") or ""
    if not isinstance(device_id, str):
        raise ValidationFailed("device_id must be a string.", errors={"device_id": ["Expected a string."]})
    return device_id[:100], data["operations"]
