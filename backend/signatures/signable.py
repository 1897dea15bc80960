"""How each record type is signed, declared by the app that owns it.

The signatures app knows no record type by name: surveys, inspections (and later on-site
decisions, meetings) register a `Signable` from their app's `ready()`, saying who signs, when a
record is ready to be signed, what happens once everyone required has signed, and which child
rows the signed content includes. A registered record type without a `Signable` may still be
signed by anyone who may see it (photos of a site, say), with nothing further happening.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# (departments allowed to sign — None: any —, departments required before the record locks)
Slots = tuple[set[uuid.UUID] | None, set[uuid.UUID]]


def _any_signer(record: Any) -> Slots:
    return None, set()


def _always_ready(record: Any) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Signable:
    # record → Slots
    signers: Callable[[Any], Slots] = _any_signer
    # Raises a Conflict (`not_ready_for_signing`) while the record may not be signed yet.
    check_ready: Callable[[Any], None] = _always_ready
    # Called once every required department has signed: (*, record, by, device_id, required, signed).
    on_signed: Callable[..., None] | None = None
    # record → {"participants": [...], ...}: child rows of the signed content (see content.content_rows).
    children: Callable[[Any], dict[str, Any]] | None = None
    # Fields of the record left out of its signed content besides the bookkeeping (e.g. its status,
    # which the signing itself moves).
    excluded_fields: frozenset[str] = field(default_factory=frozenset)


SIGNABLES: dict[str, Signable] = {}
# Fields left out of a record type's rows when they appear as children of a signed record.
CHILD_EXCLUDED_FIELDS: dict[str, frozenset[str]] = {}


def register_signable(record_type: str, signable: Signable) -> None:
    if record_type in SIGNABLES and SIGNABLES[record_type] != signable:
        raise ImproperlyConfigured(f"{record_type} is registered as signable twice.")
    SIGNABLES[record_type] = signable


def register_child_content(record_type: str, *, excluded_fields: frozenset[str]) -> None:
    CHILD_EXCLUDED_FIELDS[record_type] = excluded_fields


def signable_of(record_type: str) -> Signable:
    return SIGNABLES.get(record_type) or Signable()


def excluded_fields_of(record_type: str) -> frozenset[str]:
    return signable_of(record_type).excluded_fields | CHILD_EXCLUDED_FIELDS.get(record_type, frozenset())
