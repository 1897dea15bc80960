"""The record types and the hooks the record apps register when they are ready.

Every entry point (REST, sync push, the admin, imports) reaches a record type's services through
`RECORD_TYPES`; the kernel's services call the listeners, so the kernel imports no app above it.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from backend.records.models import FieldRecord

# The writes of a record type, one keyword-only signature each, so that every entry point
# (REST, sync push, the admin, imports) calls them the same way:
#   create(*, by, device_id, record_id, digest, **fields) -> (record, created)
#   update(*, instance, changes, by, device_id, expected_version) -> record
#   delete(*, instance, by, device_id, expected_version) -> record
CreateService = Callable[..., tuple["FieldRecord", bool]]
UpdateService = Callable[..., "FieldRecord"]
DeleteService = Callable[..., "FieldRecord"]

SERVICE_KEYWORDS = {
    "create": ("by", "device_id", "record_id", "digest"),
    "update": ("instance", "changes", "by", "device_id", "expected_version"),
    "delete": ("instance", "by", "device_id", "expected_version"),
}


@dataclass(frozen=True, kw_only=True)
class RecordType:
    """A kind of field record, as sync, the timeline, signatures and photos name it.

    `create`, `update` and `delete` have no default: a type states its services, or `None` where
    the action is refused for it (inspection items are created and withdrawn with their
    inspection), so no entry point can fall back to the bare `record_*` kernel and skip a rule.
    """

    name: str
    model: type[FieldRecord]
    visible_to: Callable[..., QuerySet]
    create: CreateService | None
    update: UpdateService | None
    delete: DeleteService | None
    # Short human label for the timeline, e.g. "联合踏勘".
    label: str = ""
    summary: Callable[[Any], str] = field(default=lambda record: "")
    # Offered to devices by sync push and pull (API.md, "Sync", lists the types).
    is_synced: bool = True

    def service(self, action: str) -> Callable[..., Any] | None:
        return getattr(self, action)


RECORD_TYPES: dict[str, RecordType] = {}


def _check_service(record_type: RecordType, action: str) -> None:
    service = record_type.service(action)
    if service is None:
        return
    if not callable(service):
        raise ImproperlyConfigured(f"{record_type.name}.{action} is not callable.")
    parameters = inspect.signature(service).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [
        name
        for name in SERVICE_KEYWORDS[action]
        if not (name in parameters and parameters[name].kind is inspect.Parameter.KEYWORD_ONLY) and not accepts_any
    ]
    if missing:
        raise ImproperlyConfigured(
            f"{record_type.name}.{action} ({getattr(service, '__qualname__', service)}) must take the keyword-only "
            f"arguments {', '.join(SERVICE_KEYWORDS[action])}; missing {', '.join(missing)}."
        )


def register_record_type(record_type: RecordType) -> None:
    """Fails at startup when a service does not take the registry's keywords."""
    if record_type.name in RECORD_TYPES and RECORD_TYPES[record_type.name].model is not record_type.model:
        raise ImproperlyConfigured(f"Two models claim the record type {record_type.name}.")
    for action in SERVICE_KEYWORDS:
        _check_service(record_type, action)
    RECORD_TYPES[record_type.name] = record_type


def naming_the_record(keyword: str, service: Callable[..., Any]) -> Callable[..., Any]:
    """Adapt a service that names its record (`inspection=`) to the registry's `instance=`."""

    @functools.wraps(service)
    def adapted(*, instance: FieldRecord, by: Any, device_id: str = "", expected_version: int | None = None) -> Any:
        return service(**{keyword: instance}, by=by, device_id=device_id, expected_version=expected_version)

    del adapted.__wrapped__  # its own signature is the registry's, not the wrapped one's
    return adapted


def record_type_of(instance: FieldRecord) -> str:
    for name, record_type in RECORD_TYPES.items():
        if type(instance) is record_type.model:
            return name
    return instance._meta.label_lower


# Called by `_audit` for every change of every record type, inside the change's transaction, as
# `listener(instance=, record_type=, action=, before=, after=, by=, device_id=, reason=)`: what a
# listener writes commits or rolls back with the change (the events outbox, backend.events).
RecordChangeListener = Callable[..., None]
RECORD_CHANGE_LISTENERS: list[RecordChangeListener] = []


def register_record_change_listener(listener: RecordChangeListener) -> None:
    if listener not in RECORD_CHANGE_LISTENERS:
        RECORD_CHANGE_LISTENERS.append(listener)


def record_type_name_for_model(model: type[FieldRecord]) -> str:
    for name, record_type in RECORD_TYPES.items():
        if record_type.model is model:
            return name
    return model._meta.label_lower


# Called inside `record_reopen`'s transaction with the unlocked record: the signatures app voids
# the record's signatures, for every entry point that reopens (the kernel imports no app above it).
REOPEN_LISTENERS: list[Callable[[FieldRecord], None]] = []

# The cases a user may see, by cases' own rule (`cases_visible_to`, registered when cases is
# ready): the kernel checks the case of every write with it. Cases' material scans are field
# records, so the kernel imports nothing of cases, even when called.
CASES_VISIBLE_TO: list[Callable[..., QuerySet]] = []


def register_cases_visible_to(selector: Callable[..., QuerySet]) -> None:
    CASES_VISIBLE_TO[:] = [selector]


def record_cases_visible_to(*, user: Any) -> QuerySet:
    if not CASES_VISIBLE_TO:
        raise ImproperlyConfigured("No case selector: backend.cases registers cases_visible_to when ready.")
    return CASES_VISIBLE_TO[0](user=user)
