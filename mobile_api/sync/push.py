"""`sync/push` over HTTP: parsing a push, lending the REST serializers, rendering receipts.

Merging, conflicts, receipts and tombstones are the domain's (`backend.sync.push`); this module
parses the body and each operation (`OperationSerializer` is both the parser and the OpenAPI
schema), and gives the domain, per record type, the REST viewset's serializer (so `data` is read
exactly as a REST body is), its selector and its permission checks (`ViewsetInput`).
"""

import json
import uuid
from typing import Any

from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from backend.common.errors import (
    ApplicationError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    flatten_errors,
)
from backend.records.models import FieldRecord
from backend.records.registry import RecordType
from backend.records.services import write_memo
from backend.sync.models import ReceiptStatus
from backend.sync.push import (
    ACTIONS,
    PushContext,
    PushOperation,
    op_digest,
    push_chunk,
    tombstone_data,
)
from backend.sync.selectors import attachments_missing_by_record
from backend.visits.selectors import vehicles_visible_to
from backend.visits.services import vehicle_track_append
from mobile_api.sync.fastparse import FastParser
from mobile_api.sync.registry import SyncType, sync_type_get

__all__ = ["jsonable", "tombstone_data", "push_operations", "with_missing_attachments", "check_push_body"]


def jsonable(data: Any) -> Any:
    """Serializer output as plain JSON values (UUIDs, decimals …), storable in a JSONField."""
    return json.loads(JSONRenderer().render(data))


# --- parsing -----------------------------------------------------------------------------


class AttachmentSerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    kind = serializers.ChoiceField(choices=["photo", "signature", "scan"])


class OperationSerializer(serializers.Serializer):
    """One operation of a push. Its manifest (`attachments`) is checked by the domain, which
    names each bad entry (`attachments[0].sha256`)."""

    op_id = serializers.UUIDField(error_messages={"invalid": "Expected a UUID."})
    type = serializers.CharField(error_messages={"invalid": "Expected a sync type name."})
    action = serializers.ChoiceField(
        choices=list(ACTIONS), default="upsert", error_messages={"invalid_choice": "Expected upsert or delete."}
    )
    id = serializers.UUIDField(error_messages={"invalid": "Expected a UUID."})
    base_version = serializers.IntegerField(
        allow_null=True,
        required=False,
        default=None,
        min_value=1,
        error_messages={
            "invalid": "Expected null or a positive integer.",
            "min_value": "Expected null or a positive integer.",
        },
    )
    data = serializers.DictField(required=False, allow_null=True, default=dict)
    attachments = AttachmentSerializer(many=True, required=False)


def bound_again(serializer: serializers.Serializer, data: Any) -> serializers.Serializer:
    """`serializer` ready to validate `data`, its fields built once.

    A serializer builds (and deep-copies) its fields per instance, a third of a validation's
    CPU; DRF itself validates many items with one bound serializer (a ListSerializer's child).
    Only what one validation leaves on the instance is reset.
    """
    serializer.initial_data = data
    for name in ("_validated_data", "_errors", "_data"):
        serializer.__dict__.pop(name, None)
    return serializer


class OperationParser:
    """One OperationSerializer per push, with its fast path (FastParser) compiled once."""

    def __init__(self) -> None:
        self.serializer = OperationSerializer()
        self.fast = FastParser(self.serializer)

    def validate(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """(validated values, flattened errors) of one operation's envelope."""
        serializer = bound_again(self.serializer, data)
        values = self.fast.parse(data)
        if values is not None:
            return values, {}
        values = serializer.validated_data if serializer.is_valid() else {}
        return values, flatten_errors(serializer.errors) if serializer.errors else {}


def parse_operation(raw: Any, parser: OperationParser | None = None) -> PushOperation:
    """An operation as the domain takes it; what does not parse is in `errors`. `parser`: an
    OperationParser to reuse (one per push), else a new one."""
    if not isinstance(raw, dict):
        return PushOperation(op_id=None, type=None, action="", id=None, not_an_object=True)
    data = {k: v for k, v in raw.items() if k != "attachments"}
    values, errors = (parser or OperationParser()).validate(data)
    # Stricter than the fields: a number is not a type name, nor a boolean or "3" a version.
    if not isinstance(raw.get("type"), str):
        errors["type"] = ["Expected a sync type name."]
    base_version = raw.get("base_version")
    if base_version is not None and (isinstance(base_version, bool) or not isinstance(base_version, int)):
        errors["base_version"] = ["Expected null or a positive integer."]

    def as_uuid(name: str) -> uuid.UUID | None:
        if name in values:
            return values[name]
        if name in errors:
            return None
        try:
            return uuid.UUID(str(raw.get(name)))
        except ValueError:
            return None

    return PushOperation(
        op_id=as_uuid("op_id"),
        raw_op_id=raw.get("op_id"),
        type=raw.get("type") if isinstance(raw.get("type"), str) else None,
        action=raw.get("action", "upsert"),
        id=as_uuid("id"),
        base_version=base_version if "base_version" not in errors else None,
        data=raw.get("data") if isinstance(raw.get("data"), dict) else {},
        attachments=raw.get("attachments"),
        digest=op_digest(raw),
        errors=errors,
    )


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


# --- what the domain borrows from REST ------------------------------------------------------


def _specific_code(detail: Any) -> str | None:
    """A specific code a DRF ValidationError carries (invalid_geometry), else None."""
    if isinstance(detail, dict):
        detail = list(detail.values())
    if isinstance(detail, list):
        return next((code for code in map(_specific_code, detail) if code), None)
    return "invalid_geometry" if getattr(detail, "code", None) == "invalid_geometry" else None


def domain_error(exc: Exception) -> ApplicationError:
    """DRF's validation and permission exceptions as the domain's errors."""
    if isinstance(exc, drf.ValidationError):
        errors = flatten_errors(exc.detail)
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())[:1000] or "Invalid input."
        return ValidationFailed(detail, code=_specific_code(exc.detail) or "validation_error", errors=errors)
    if isinstance(exc, Http404 | drf.NotFound):
        return NotFound("No such record.")
    if isinstance(exc, drf.PermissionDenied | drf.NotAuthenticated):
        return PermissionDenied(str(getattr(exc, "detail", "You may not do this.")))
    raise exc


def _looked_up_once_per_chunk(related: serializers.PrimaryKeyRelatedField) -> Any:
    """A plain related field's lookup (`responsible_department`: any organisation), answered
    once per sync push chunk for each value: the object found is remembered in the chunk's
    memo (and forgotten with an operation that rolls back). A value not found, or not a plain
    id, takes the field's own path every time, so its errors are the field's own."""
    lookup = related.to_internal_value

    def to_internal_value(data: Any) -> Any:
        memo = write_memo()
        if memo is None or isinstance(data, bool) or not isinstance(data, str | int):
            return lookup(data)
        key = ("related", id(related), type(data), data)
        found = memo.get(key)
        if found is None:
            found = lookup(data)
            memo.remember(key, found)
        return found

    return to_internal_value


class ViewsetInput:
    """A record type's REST viewset, bound to the push request, as the domain's RecordInput."""

    ACTIONS = {"create": "create", "update": "partial_update", "delete": "destroy"}

    def __init__(self, sync_type: SyncType, request: Request) -> None:
        self.sync_type = sync_type
        self.request = request
        self._views: dict[str, Any] = {}
        self._create: serializers.Serializer | None = None
        self._fast: FastParser | None = None

    def view(self, action: str) -> Any:
        if action not in self._views:
            self._views[action] = self.sync_type.view(self.request, action)
        return self._views[action]

    def scope(self):
        return self.view("partial_update").get_queryset()

    def _create_serializer(self, data: dict[str, Any]) -> serializers.Serializer:
        """The create serializer for `data`: one per push and record type (`bound_again`),
        with its fast path compiled from it."""
        serializer = self._create
        if serializer is None:
            serializer = self._create = self.view("create").get_serializer(data=data)
            for related in serializer.fields.values():
                if type(related) is serializers.PrimaryKeyRelatedField:
                    related.to_internal_value = _looked_up_once_per_chunk(related)
            self._fast = FastParser(serializer)
            return serializer
        return bound_again(serializer, data)

    def parse_create(self, data: dict[str, Any], record_id: uuid.UUID) -> dict[str, Any]:
        body = {**data, "id": str(record_id)}
        serializer = self._create_serializer(body)
        # Input the fast path fully understands as valid: the very validated_data DRF gives;
        # anything else (and every error) the serializer's own way.
        validated = self._fast.parse(body)
        if validated is not None:
            validated.pop("id", None)
            return validated
        try:
            serializer.is_valid(raise_exception=True)
        except drf.ValidationError as exc:
            raise domain_error(exc) from exc
        validated = dict(serializer.validated_data)
        validated.pop("id", None)
        return validated

    def parse_changes(self, instance: FieldRecord, data: dict[str, Any]) -> dict[str, Any]:
        serializer = self.view("partial_update").get_serializer(instance, data=data, partial=True)
        try:
            serializer.is_valid(raise_exception=True)
        except drf.ValidationError as exc:
            raise domain_error(exc) from exc
        return {k: v for k, v in serializer.validated_data.items() if k != "id"}

    def check_write(self, action: str, instance: FieldRecord | None) -> None:
        view = self.view(self.ACTIONS[action])
        try:
            view.check_permissions(self.request)
            if instance is not None:
                view.check_object_permissions(self.request, instance)
        except (drf.APIException, Http404) as exc:
            raise domain_error(exc) from exc

    def render(self, instance: FieldRecord) -> dict[str, Any]:
        if instance.deleted_at is not None:
            return tombstone_data(instance)
        return jsonable(self.view("partial_update").get_serializer(instance).data)


def _apply_track(*, op: PushOperation, ctx: PushContext) -> dict[str, Any]:
    """`track`: a batch of the vehicle's positions; `id` is the vehicle, `data.positions` the
    batch (as `POST vehicles/{id}/track/`). Positions already stored are skipped by the service."""
    from backend.sync.push import Rejected

    if op.action != "upsert":
        raise Rejected("invalid_operation", "Track positions are only appended.", {"action": ["Use upsert."]})
    vehicle = vehicles_visible_to(user=ctx.user).filter(pk=op.id).first()
    if vehicle is None:
        raise Rejected("not_found", "No such vehicle.")
    result = vehicle_track_append(
        vehicle=vehicle,
        positions=op.data.get("positions"),
        by=ctx.user,
        coord_system=op.data.get("coord_system") or ctx.coord_system,
    )
    return {"status": ReceiptStatus.APPLIED.value, "id": str(vehicle.pk), "version": None, "track": result}


SPECIAL_TYPES = {"track": _apply_track}


def push_context(*, request: Request, device_id: str) -> PushContext:
    inputs: dict[str, tuple[RecordType, ViewsetInput] | None] = {}

    def record_input(name: str) -> tuple[RecordType, ViewsetInput] | None:
        if name not in inputs:
            sync_type = sync_type_get(name)
            inputs[name] = (sync_type.record_type, ViewsetInput(sync_type, request)) if sync_type else None
        return inputs[name]

    return PushContext(
        user=request.user,
        device_id=device_id,
        record_input=record_input,
        special=SPECIAL_TYPES,
        coord_system=request.headers.get("X-Coord-System"),
    )


def push_operations(*, raws: list[Any], request: Request, device_id: str, chunk: int) -> list[dict[str, Any]]:
    """Every operation's receipt, in order, committed `chunk` operations at a time."""
    ctx = push_context(request=request, device_id=device_id)
    receipts = []
    parser = OperationParser()
    for start in range(0, len(raws), chunk):
        ops = [parse_operation(raw, parser) for raw in raws[start : start + chunk]]
        bodies = push_chunk(ops=ops, ctx=ctx)
        receipts.extend(with_missing_attachments(bodies, user=request.user))
    return receipts


# --- rendering ---------------------------------------------------------------------------


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
