"""What every field record shares: client UUIDs, versions, sign-off seals, tombstones and the audit trail.

Record apps (surveys, utilities, acceptance, visits, evidence) subclass `FieldRecord`, register
their types with `register_record_type`, and build their services on `record_create`,
`record_update`, `record_delete`, `record_sign_off` and `record_reopen`, so REST, sync push and the
admin all get the same rules: exactly-once creation by client id, optimistic concurrency,
locked records refusing change, and one hash-chained audit entry per change.
"""

import contextlib
import contextvars
import datetime as dt
import decimal
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.gis.gdal import OGRGeometry
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import IntegrityError, models, transaction
from django.db.models import signals
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.dispatch import receiver
from django.utils import timezone

from backend.accounts.models import OrganizationKind, Role
from backend.audit.services import audit_append, canonical_json
from backend.common.errors import (
    IdConflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    RecordLocked,
    ValidationFailed,
    VersionMismatch,
)
from backend.common.rows import rows_insert
from backend.records.models import SYSTEM_FIELDS, FieldRecord
from backend.records.registry import (
    RECORD_CHANGE_LISTENERS,
    REOPEN_LISTENERS,
    record_cases_visible_to,
    record_type_name_for_model,
    record_type_of,
)

if TYPE_CHECKING:  # the kernel's models name cases by label: cases' own records import the kernel
    from backend.cases.models import ApprovalCase


# --- snapshots -------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, GEOSGeometry):
        # What `value.geojson` writes (GDAL's GeoJSON of the same WKB), without the spatial
        # reference `.geojson` builds first (an EPSG lookup per geometry), which GeoJSON omits.
        return json.loads(OGRGeometry(value.wkb).json)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


# Values `_jsonable` returns as they are (none is a geometry, date, UUID or Decimal).
_PLAIN_SNAPSHOT_TYPES = frozenset({str, int, bool, float, type(None), dict, list})


def record_snapshot(instance: models.Model) -> dict[str, Any]:
    """Every concrete field as JSON-ready values (foreign keys as ids)."""
    data = {}
    values = instance.__dict__
    for attname, direct in _snapshot_fields(type(instance)):
        # A plain field's loaded value is its attribute (what its DeferredAttribute returns).
        value = values[attname] if direct and attname in values else getattr(instance, attname)
        data[attname] = value if type(value) in _PLAIN_SNAPSHOT_TYPES else _jsonable(value)
    return data


_SNAPSHOT_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _snapshot_fields(model: type[models.Model]) -> tuple[tuple[str, bool], ...]:
    """(attname, whether its descriptor is Django's plain one) per concrete field; others (a
    geometry's SpatialProxy, which turns stored text into a geometry) are read with getattr."""
    found = _SNAPSHOT_FIELDS.get(model)
    if found is None:
        plain = (DeferredAttribute, ForeignKeyDeferredAttribute)
        found = _SNAPSHOT_FIELDS[model] = tuple(
            (field.attname, type(_class_attribute(model, field.attname)) in plain)
            for field in model._meta.concrete_fields
        )
    return found


def _class_attribute(model: type, name: str) -> Any:
    """The class attribute `name` as found on the MRO (not called as a descriptor)."""
    for klass in model.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def payload_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({k: v for k, v in payload.items() if k != "id"}).encode()).hexdigest()


# --- what a sync push chunk learns once ------------------------------------------------


class WriteMemo:
    """Facts one sync push chunk (one transaction, one savepoint per operation) learns once.

    Set by the push for its chunk (`write_memo_collecting`), consulted by the kernel and the
    services; REST and every other entry point run without one and query as before.

    - `facts`: what a query answered ("this user sees case X", "org O is assigned to case X"),
      kept for the rest of the chunk. Only facts that later operations of the same transaction
      cannot undo are kept (visibility and assignments only grow during a push); what an
      operation learned is dropped when its savepoint rolls back (`mark` / `rollback_to`).
    - `creating`: (model, id) of the record the current operation creates that the chunk knows
      did not exist when it started: its create skips the "already there?" queries and runs
      inside the operation's savepoint instead of its own. Should the insert collide anyway (a
      concurrent create), `create_raced` is set and the push runs the operation again the
      ordinary way (own savepoint, replay check), so it gets the answer it always got.
    - `events`: outbox events of the chunk's record changes, written in one INSERT at its end.
    - `defer_inserts`: when the push sets it, the known-new record's INSERT is not sent at once
      but kept in `inserts` and sent with the chunk's other new records of its model in one
      statement (`flush_inserts`): before any statement that could see or need the rows (the
      push's execute wrapper, see backend.sync.push) and at the chunk's end. The kernel's rules,
      audit entry and listeners run as before, in the operation; only the statement waits.
    """

    def __init__(self) -> None:
        self.facts: dict[tuple, Any] = {}
        self._journal: list[tuple] = []
        self.events: list[dict[str, Any]] = []
        self.creating: tuple[type, Any] | None = None
        self.create_raced = False
        self.defer_inserts = False
        self.inserts: list[FieldRecord] = []
        # inserts[:inserted] are in the database (in this transaction); the rest wait.
        self.inserted = 0

    def get(self, key: tuple, default: Any = None) -> Any:
        return self.facts.get(key, default)

    def remember(self, key: tuple, value: Any = True) -> None:
        if key not in self.facts:
            self._journal.append(key)
        self.facts[key] = value

    def mark(self) -> tuple[int, int, int, int]:
        return len(self._journal), len(self.events), len(self.inserts), self.inserted

    def rollback_to(self, mark: tuple[int, int, int, int]) -> None:
        """Forget what was learned since `mark`, whose savepoint (if any) was rolled back.

        The records deferred since are dropped; those of earlier operations that a flush sent
        inside the rolled-back savepoint are gone from the database again, so they wait anew.
        """
        facts, events, inserts, inserted = mark
        for key in self._journal[facts:]:
            self.facts.pop(key, None)
        del self._journal[facts:]
        del self.events[events:]
        del self.inserts[inserts:]
        self.inserted = min(self.inserted, inserted)

    def defer_insert(self, instance: FieldRecord) -> None:
        self.inserts.append(instance)

    def has_waiting_inserts(self) -> bool:
        return self.inserted < len(self.inserts)

    def waiting_tables(self) -> set[str]:
        return {instance._meta.db_table for instance in self.inserts[self.inserted :]}

    def flush_inserts(self) -> None:
        """Send the waiting records, one INSERT per model (in the order the models came)."""
        waiting = self.inserts[self.inserted :]
        if not waiting:
            return
        by_model: dict[type, list[FieldRecord]] = {}
        for instance in waiting:
            by_model.setdefault(type(instance), []).append(instance)
        for model, instances in by_model.items():
            rows_insert(model, instances)  # one INSERT ... SELECT FROM unnest
        self.inserted = len(self.inserts)

    def is_creating(self, model: type, record_id: Any) -> bool:
        return self.creating is not None and self.creating == (model, record_id)


_MEMO: contextvars.ContextVar[WriteMemo | None] = contextvars.ContextVar("record_write_memo", default=None)


def write_memo() -> WriteMemo | None:
    """The current sync push chunk's memo, or None (REST, the admin, imports …)."""
    return _MEMO.get()


@contextlib.contextmanager
def write_memo_collecting() -> Iterator[WriteMemo]:
    memo = WriteMemo()
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)


def record_fast_create(model: type, record_id: Any) -> bool:
    """Whether this create is the push's known-new record (see WriteMemo.creating)."""
    memo = _MEMO.get()
    return memo is not None and record_id is not None and memo.is_creating(model, record_id)


def _insert_may_wait(model: type) -> bool:
    """Whether a model's INSERT may be deferred to a bulk INSERT: nothing runs on its save
    (no save() of its own, no save signals), so one multi-row INSERT stores exactly the row."""
    return model.save is models.Model.save and not (
        signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model)
    )


def record_fresh(model: type, record_id: Any) -> FieldRecord | None:
    """In a sync push chunk: the record as this chunk created it, if nothing changed it since
    (then nobody else can have: its row is this transaction's uncommitted insert)."""
    memo = _MEMO.get()
    return memo.get(("fresh", model, str(record_id))) if memo is not None and record_id is not None else None


def _audit(*, instance: FieldRecord, action: str, by: Any, device_id: str, before: dict | None, reason: str = ""):
    memo = _MEMO.get()
    if memo is not None and action != "create":
        memo.facts.pop(("fresh", type(instance), str(instance.pk)), None)  # changed: read it again
    record_type = record_type_of(instance)
    after = record_snapshot(instance)
    audit_append(
        action=action,
        record_type=record_type,
        record_id=instance.pk,
        actor=by,
        device_id=device_id,
        case_id=instance.case_id,
        version=instance.version,
        before=before,
        after=after,
        reason=reason,
    )
    for listener in RECORD_CHANGE_LISTENERS:
        listener(
            instance=instance,
            record_type=record_type,
            action=action,
            before=before,
            after=after,
            by=by,
            device_id=device_id,
            reason=reason,
        )


def record_check_case_site(*, case: "ApprovalCase", site: Any | None) -> None:
    """A record's case and site must belong to the same project."""
    if site is not None and site.project_id != case.project_id:
        raise ValidationFailed(
            "The site belongs to another project than the case.",
            code="case_site_mismatch",
            errors={"site": ["The site does not belong to the case's project."]},
        )


# Organisation kinds whose members may write field records of the cases they see (officials of
# approval departments also need an official role); builders, utility companies and others read.
WRITER_ORGANIZATION_KINDS = frozenset(
    {OrganizationKind.APPROVAL_DEPARTMENT, OrganizationKind.SURVEY_CREW, OrganizationKind.VEHICLE_TEAM}
)
OFFICIAL_ROLES = frozenset({Role.OFFICIAL, Role.BACK_OFFICE})


def record_can_write_case(*, user: Any, case: "ApprovalCase") -> bool:
    """Whether `user` may create or change field records of `case` (which they may see).

    Administrators; officials of approval departments; survey crews and vehicle teams (who only
    see the cases they are assigned to). `None` is system code (demo data, imports).
    """
    if user is None:
        return True
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_administrator:
        return True
    kind = user.organization_kind
    if kind not in WRITER_ORGANIZATION_KINDS:
        return False
    if kind == OrganizationKind.APPROVAL_DEPARTMENT and not (OFFICIAL_ROLES & set(user.roles)):
        return False
    return True


def case_visible_memo_key(*, user: Any, case_id: Any) -> tuple:
    """The key of "`user` sees case `case_id`" in a sync push chunk's memo (WriteMemo): found
    once per chunk, by cases' own rule (record_cases_visible_to)."""
    return ("case_visible", getattr(user, "pk", None), str(case_id))


def record_check_can_write(*, user: Any, case: "ApprovalCase") -> None:
    """Raise NotFound when the case is invisible to `user`, PermissionDenied when they may only read it.

    Services call this before every write, so REST, sync push and the admin share the rule.
    """
    if user is None:
        return
    memo = _MEMO.get()
    key = case_visible_memo_key(user=user, case_id=case.pk)
    if memo is None or not memo.get(key):
        if not record_cases_visible_to(user=user).filter(pk=case.pk).exists():
            raise NotFound("No such case.")
        if memo is not None:
            memo.remember(key)
    if not record_can_write_case(user=user, case=case):
        raise PermissionDenied("You may read the records of this case but not change them.")


def record_text_limit(model: type[FieldRecord], model_field: models.Field) -> int | None:
    """The most characters a text field of a record holds: its own `max_length`, else the
    per-field setting (`survey.minutes`), else RECORD_TEXT_MAX_CHARS."""
    if not isinstance(model_field, models.CharField | models.TextField):
        return None
    overrides = settings.RECORD_TEXT_MAX_CHARS_BY_FIELD
    key = f"{record_type_name_for_model(model)}.{model_field.name}"
    limit = overrides.get(key, settings.RECORD_TEXT_MAX_CHARS)
    # A column's own length still holds (a longer override would only move the refusal to the database).
    return min(limit, model_field.max_length) if model_field.max_length else limit


def record_json_limit(model: type[FieldRecord], model_field: models.Field) -> int:
    """The most bytes (canonical UTF-8 JSON) a JSON field of a record holds: the per-field setting
    (`signature.strokes`), else RECORD_JSON_MAX_BYTES."""
    key = f"{record_type_name_for_model(model)}.{model_field.name}"
    return settings.RECORD_JSON_MAX_BYTES_BY_FIELD.get(key, settings.RECORD_JSON_MAX_BYTES)


# model → field name → (is JSON, limit), or None for a name with no limit (not a field, or not
# text/JSON). What record_json_limit / record_text_limit answer, computed once per name; their
# settings changing (override_settings) empties it.
_SIZE_LIMITS: dict[type, dict[str, tuple[bool, int] | None]] = {}
_UNKNOWN = object()
_SIZE_SETTINGS = frozenset(
    {
        "RECORD_TEXT_MAX_CHARS",
        "RECORD_TEXT_MAX_CHARS_BY_FIELD",
        "RECORD_JSON_MAX_BYTES",
        "RECORD_JSON_MAX_BYTES_BY_FIELD",
    }
)


def _size_limit(model: type[FieldRecord], name: str) -> tuple[bool, int] | None:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if isinstance(model_field, models.JSONField):
        return (True, record_json_limit(model, model_field))
    limit = record_text_limit(model, model_field)
    return None if limit is None else (False, limit)


@receiver(setting_changed)
def _size_settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _SIZE_SETTINGS:
        _SIZE_LIMITS.clear()


def record_check_text_sizes(*, model: type[FieldRecord], values: dict[str, Any]) -> None:
    """Refuse text longer than its field's limit, and JSON larger than its field's limit, naming
    every such field (400 validation_error).

    The kernel checks what every create and update writes, so REST, sync push and the admin
    refuse alike, before anything is stored.
    """
    errors: dict[str, list[str]] = {}
    limits = _SIZE_LIMITS.get(model)
    if limits is None:
        limits = _SIZE_LIMITS[model] = {}
    for name, value in values.items():
        found = limits.get(name, _UNKNOWN)
        if found is _UNKNOWN:
            found = limits[name] = _size_limit(model, name)
        if found is None:
            continue
        is_json, limit = found
        if is_json:
            size = len(canonical_json(value).encode("utf-8"))
            if size > limit:
                errors[name] = [f"At most {limit} bytes of JSON (this has {size})."]
            continue
        if not isinstance(value, str):
            continue
        if len(value) > limit:
            errors[name] = [f"At most {limit} characters (this has {len(value)})."]
    if errors:
        raise ValidationFailed(f"Too long: {', '.join(sorted(errors))}.", code="validation_error", errors=errors)


def _replay_or_conflict(model: type[FieldRecord], record_id: uuid.UUID, digest: str) -> FieldRecord | None:
    existing = model.all_objects.filter(pk=record_id).first()
    if existing is None:
        return None
    if digest and existing.client_digest == digest:
        return existing
    raise IdConflict(f"A record with id {record_id} already exists with other content.")


@functools.cache
def _kernel_names(model: type[FieldRecord], kernel: tuple[str, ...]) -> frozenset[str]:
    """Every name a caller's `fields` could give one of the fields record_create sets itself
    (`kernel`, and the pk): `pk`, or a field's name or attname."""
    fields = [model._meta.pk, *(model._meta.get_field(name) for name in kernel)]
    return frozenset({"pk", *(field.name for field in fields), *(field.attname for field in fields)})


def record_create(
    *,
    model: type[FieldRecord],
    fields: dict[str, Any],
    by: Any,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
    after_create: Callable[[FieldRecord], None] | None = None,
) -> tuple[FieldRecord, bool]:
    """Create a record once. Returns (record, created).

    With a client id: the same id and content again returns the stored record (created=False);
    the same id with other content raises IdConflict. Concurrent retries of one create race on
    the primary key: the loser waits for the winner's commit and then sees it as a replay.
    """
    fast = record_fast_create(model, record_id)
    if record_id is not None and not fast:
        existing = _replay_or_conflict(model, record_id, digest)
        if existing is not None:
            return existing, False
    record_check_text_sizes(model=model, values=fields)
    now = timezone.now()
    author = by if getattr(by, "is_authenticated", False) else None
    # The kernel's own fields given to the constructor (they win over `fields`, as when they were
    # set after it), so their defaults (a uuid4 for the id, now() for the times) are not computed.
    kernel = {
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": author,
        "updated_by": author,
        "device_id": device_id or "",
        "client_digest": digest,
        "field_versions": {},
    }
    if record_id is not None:
        kernel[model._meta.pk.attname] = record_id
    if not _kernel_names(model, tuple(kernel)).isdisjoint(fields):
        instance = model(**fields)  # a caller's value for one of them: set after, as always
        for name, value in kernel.items():
            setattr(instance, name, value)
    else:
        instance = model(**fields, **kernel)
    try:
        # The push's known-new record: in the operation's savepoint (a failure always reaches it).
        with transaction.atomic(savepoint=not fast):
            memo = _MEMO.get() if fast else None
            if memo is not None and memo.defer_inserts and _insert_may_wait(model):
                memo.defer_insert(instance)  # sent with the chunk's other new rows (WriteMemo)
            else:
                instance.save(force_insert=True)
            if after_create is not None:
                after_create(instance)
            _audit(instance=instance, action="create", by=by, device_id=device_id, before=None)
        if fast:
            _MEMO.get().remember(("fresh", model, str(instance.pk)), instance)
    except IntegrityError:
        if fast:
            # The transaction is aborted up to the operation's savepoint: the push runs the
            # operation again the ordinary way (replay check first), see WriteMemo.
            _MEMO.get().create_raced = True
            raise
        if record_id is not None:
            existing = _replay_or_conflict(model, record_id, digest)
            if existing is not None:
                return existing, False
        raise
    return instance, True


def _check_version(instance: FieldRecord, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != instance.version:
        raise VersionMismatch(
            f"The record is at version {instance.version}, not {expected_version}.",
            extra={"current_version": instance.version},
        )


def record_select_for_update(instance: FieldRecord) -> FieldRecord:
    """The record's row, locked until commit: its writers follow one another, and its audit
    chain with them; writers of other records do not wait (there is no global lock)."""
    return type(instance).all_objects.select_for_update().get(pk=instance.pk)


@transaction.atomic
def record_update(
    *,
    instance: FieldRecord,
    changes: dict[str, Any],
    by: Any,
    device_id: str = "",
    expected_version: int | None = None,
    action: str = "update",
    allow_locked: bool = False,
) -> FieldRecord:
    """Apply `changes` (field → value) to the record under a row lock, bumping its version.

    Refuses a locked or deleted record, and a stale `expected_version`. Fields whose value
    does not change are not counted as changed.
    """
    record_check_text_sizes(model=type(instance), values=changes)
    current = record_select_for_update(instance)
    if current.deleted_at is not None:
        raise ValidationFailed("The record was deleted.", code="record_deleted", status=410)
    if current.is_locked and not allow_locked:
        raise RecordLocked("The record is signed off and locked; reopen it to change it.")
    _check_version(current, expected_version)
    before = record_snapshot(current)
    changed = []
    for name, value in changes.items():
        if name in SYSTEM_FIELDS:
            raise ValidationFailed(f"{name} cannot be written.", code="read_only_field", errors={name: ["Read-only."]})
        if getattr(current, name) != value:
            setattr(current, name, value)
            changed.append(name)
    if not changed:
        return current
    current.version += 1
    current.updated_at = timezone.now()
    current.updated_by = by if getattr(by, "is_authenticated", False) else None
    current.device_id = device_id or current.device_id
    for name in changed:
        attname = current._meta.get_field(name).attname
        current.field_versions[attname] = current.version
    current.save()
    _audit(instance=current, action=action, by=by, device_id=device_id, before=before)
    return current


@transaction.atomic
def record_delete(
    *, instance: FieldRecord, by: Any, device_id: str = "", expected_version: int | None = None
) -> FieldRecord:
    """Soft-delete: the row stays as a tombstone with a new version."""
    current = record_select_for_update(instance)
    if current.deleted_at is not None:
        return current
    if current.is_locked:
        raise RecordLocked("The record is signed off and locked; reopen it to delete it.")
    _check_version(current, expected_version)
    before = record_snapshot(current)
    current.deleted_at = current.updated_at = timezone.now()
    current.version += 1
    current.updated_by = by if getattr(by, "is_authenticated", False) else None
    current.save()
    _audit(instance=current, action="delete", by=by, device_id=device_id, before=before)
    return current


@transaction.atomic
def record_sign_off(
    *, instance: FieldRecord, by: Any, device_id: str = "", reason: str = "signed", changes: dict | None = None
) -> FieldRecord:
    """Seal a signed-off record (`is_locked`: update, delete and transitions refuse it until it is
    reopened); `changes` (e.g. a status) are applied in the same version. Audited as "lock"."""
    current = record_select_for_update(instance)
    if current.deleted_at is not None:
        raise ValidationFailed("The record was deleted.", code="record_deleted", status=410)
    before = record_snapshot(current)
    for name, value in (changes or {}).items():
        setattr(current, name, value)
        current.field_versions[current._meta.get_field(name).attname] = current.version + 1
    current.is_locked = True
    current.locked_at = current.updated_at = timezone.now()
    current.version += 1
    current.updated_by = by if getattr(by, "is_authenticated", False) else None
    current.save()
    _audit(instance=current, action="lock", by=by, device_id=device_id, before=before, reason=reason)
    return current


def record_check_can_reopen(*, user: Any) -> None:
    """`user=None` is the system itself (commands, other services); people need the office."""
    from backend.accounts.models import OrganizationKind

    if user is None:
        return
    if not getattr(user, "is_authenticated", False) or not (
        user.is_administrator or user.organization_kind == OrganizationKind.APPROVAL_DEPARTMENT
    ):
        raise PermissionDenied("Only approval officials and administrators may reopen a signed record.")


@transaction.atomic
def record_reopen(
    *,
    instance: FieldRecord,
    by: Any,
    reason: str,
    device_id: str = "",
    changes: dict | None = None,
    on_reopen: Callable[[FieldRecord], None] | None = None,
) -> FieldRecord:
    """Unlock a signed record; REOPEN_LISTENERS (the signatures app) void its signatures, and
    `on_reopen` does what the caller adds.

    Only approval officials and administrators may reopen: a signed record is the departments'
    joint word, and undoing it is theirs to decide.
    """
    record_check_can_reopen(user=by)
    if not reason or not reason.strip():
        raise ValidationFailed(
            "A reason is required to reopen.", code="reason_required", errors={"reason": ["Required."]}
        )
    current = record_select_for_update(instance)
    if not current.is_locked:
        raise ValidationFailed("The record is not locked.", code="record_not_locked", status=409)
    before = record_snapshot(current)
    for name, value in (changes or {}).items():
        setattr(current, name, value)
        current.field_versions[current._meta.get_field(name).attname] = current.version + 1
    current.is_locked = False
    current.locked_at = None
    current.version += 1
    current.updated_at = timezone.now()
    current.updated_by = by if getattr(by, "is_authenticated", False) else None
    current.save()
    for listener in REOPEN_LISTENERS:
        listener(current)
    if on_reopen is not None:
        on_reopen(current)
    _audit(instance=current, action="reopen", by=by, device_id=device_id, before=before, reason=reason)
    return current


def record_transition(
    *,
    instance: FieldRecord,
    field_name: str,
    to: str,
    allowed: dict[str, set[str]],
    by: Any,
    device_id: str = "",
    expected_version: int | None = None,
    extra_changes: dict | None = None,
    allow_locked: bool = False,
) -> FieldRecord:
    """Move a status field along `allowed` (from → {to, …}); anything else is an IllegalTransition.

    The status is read again under the row lock, so two concurrent transitions from the same
    state cannot both pass (e.g. submit and cancel of one survey). `allow_locked` lets a
    transition move a signed, locked record on (e.g. signed → closed) without unlocking it.
    """
    with transaction.atomic():
        current = record_select_for_update(instance)
        if current.deleted_at is not None:
            raise ValidationFailed("The record was deleted.", code="record_deleted", status=410)
        if current.is_locked and not allow_locked:
            raise RecordLocked("The record is signed off and locked; reopen it to change it.")
        _check_version(current, expected_version)
        current_status = getattr(current, field_name)
        if to not in allowed.get(current_status, set()):
            raise IllegalTransition(
                f"{type(instance).__name__} cannot go from {current_status} to {to}.",
                extra={"from": current_status, "to": to},
            )
        return record_update(
            instance=current,
            changes={field_name: to, **(extra_changes or {})},
            by=by,
            device_id=device_id,
            expected_version=expected_version,
            action=f"transition:{to}",
            allow_locked=allow_locked,
        )
