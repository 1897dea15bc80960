"""The change feed: what the caller may see that changed after a cursor, never skipping one.

Every change to a record appends an audit entry, stamped by the database with its transaction's
id (`txid`); the feed is read in *feed order* `(txid, id)`, and only below the horizon
(`audit_feed_horizon()`: the oldest transaction of this database still in flight). Every entry
below the horizon is committed or gone for good, and every entry still to commit has a txid at or
above it, so it sorts after everything a reader has passed: a transaction that started earlier but
commits later is read on a later pull, never skipped, and writers share no lock to make it so.
The cursor is the position last read, `txid.id` (a plain integer N, as sent before feed order, is
`0.N`: entries written then have txid 0 and were in commit order by id).

Each change carries the record's current state, serialized by the type's REST serializer and
scoped by its REST selector (with tombstones), so a record changed twice is sent once.

When the caller's organisation is given a case (backend.sync.services.sync_case_access_granted),
the case's older records lie before the device's cursor: the feed then carries a `case_access`
change, and the device pulls that case from the start with `?case=<id>` (only that case's entries,
read through the (case_id, id) index, same scoping).
"""

import json
import uuid
from typing import Any

from django.conf import settings
from django.db.models import Q
from rest_framework.request import Request

from backend.audit.models import AuditEntry
from backend.audit.selectors import audit_feed_entries
from backend.audit.services import audit_feed_horizon
from backend.cases.selectors import cases_visible_to
from backend.common.errors import ValidationFailed
from backend.sync.selectors import attachments_missing_by_record
from backend.sync.services import CASE_ACCESS_GRANTED
from mobile_api.parsers import parse_non_negative_int
from mobile_api.sync.push import jsonable, tombstone_data
from mobile_api.sync.registry import including_tombstones, sync_types

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
# Audit entries read per query while filling a page.
_SCAN_CHUNK = 2000
CASE_ACCESS = "case_access"


Position = tuple[int, int]


def parse_cursor(raw: str | None) -> Position:
    if raw in (None, ""):
        return (0, 0)
    txid_raw, dot, id_raw = raw.partition(".")
    txid = parse_non_negative_int(txid_raw) if dot else 0
    entry_id = parse_non_negative_int(id_raw if dot else txid_raw)
    if txid is None or entry_id is None:
        raise ValidationFailed("Unknown cursor; use the cursor of a previous pull.", code="invalid_cursor")
    return (txid, entry_id)


def format_cursor(position: Position) -> str:
    txid, entry_id = position
    return str(entry_id) if txid == 0 else f"{txid}.{entry_id}"


def parse_limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    limit = parse_non_negative_int(raw)
    if limit is None and raw.isascii() and raw.isdigit() and raw.strip("0"):
        limit = MAX_LIMIT  # more digits than bigint is still more than the maximum
    if limit is None or limit < 1:
        raise ValidationFailed(
            "limit must be a positive integer.", code="invalid_limit", errors={"limit": ["Invalid."]}
        )
    return min(limit, MAX_LIMIT)


def parse_types(raw: str | None) -> list[str]:
    available = sync_types()
    if raw in (None, ""):
        return sorted(available)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValidationFailed(
            f"Unknown or unsupported types: {', '.join(unknown)}.",
            code="unsupported_type",
            errors={"types": [f"Supported: {', '.join(sorted(available))}."]},
        )
    return names


def parse_case(raw: str | None) -> uuid.UUID | None:
    if raw in (None, ""):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise ValidationFailed(
            "case must be a UUID.", code="invalid_case", errors={"case": ["Expected a UUID."]}
        ) from error


def _entries(*, user: Any, after: Position, horizon: int, types: list[str], case_id: uuid.UUID | None = None):
    condition = Q(record_type__in=types)
    organization_id = getattr(user, "organization_id", None)
    if case_id is None and organization_id is not None:
        # Cases given to the caller's organisation; always sent, whatever `types`, since the device
        # would otherwise never learn of the case's older records.
        condition |= Q(
            action=CASE_ACCESS_GRANTED, record_type="case", after__contains={"organizations": [str(organization_id)]}
        )
    qs = audit_feed_entries(after=after, horizon=horizon, queryset=AuditEntry.objects.filter(condition))
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    if not user.is_administrator:
        # Only a cheap pre-filter; the type's own selector decides below.
        qs = qs.filter(Q(case_id__in=cases_visible_to(user=user).values("pk")) | Q(case_id__isnull=True))
    return qs


def _case_access_changes(*, user: Any, case_ids: list[uuid.UUID]) -> dict[tuple[str, uuid.UUID], dict[str, Any]]:
    visible = cases_visible_to(user=user).filter(pk__in=case_ids).values_list("pk", flat=True)
    return {
        (CASE_ACCESS, case_id): {
            "type": CASE_ACCESS,
            "id": str(case_id),
            "version": 0,
            "deleted": False,
            "data": {"case": str(case_id), "resync": True},
            "complete": True,
            "missing_attachments": [],
        }
        for case_id in visible
    }


def pull(
    *, request: Request, cursor: Position, limit: int, types: list[str], case_id: uuid.UUID | None = None
) -> dict[str, Any]:
    user = request.user
    # Read once, before the entries (a later statement sees every transaction below it ended).
    horizon = audit_feed_horizon()
    # A pull from the start reads every entry of every case visible when its scan began: access
    # granted before then needs no resync. Entries committed from now on are after this position.
    granted_before_scan: Position = (0, 0)
    if cursor == (0, 0) and case_id is None:
        granted_before_scan = AuditEntry.objects.filter(txid__lt=horizon).order_by("-txid", "-id").values_list(
            "txid", "id"
        ).first() or (0, 0)
    # (type, id) → last feed position seen; dict order is re-established below by that position.
    latest: dict[tuple[str, uuid.UUID], Position] = {}
    after = cursor
    has_more = False
    filled = False
    while not filled:
        chunk = list(
            _entries(user=user, after=after, horizon=horizon, types=types, case_id=case_id).values_list(
                "txid", "id", "record_type", "record_id"
            )[:_SCAN_CHUNK]
        )
        if not chunk:
            break
        for txid, entry_id, record_type, record_id in chunk:
            position = (txid, entry_id)
            # Only case_access_granted entries have the record type "case" here (see _entries).
            if record_type == "case" and position <= granted_before_scan:
                after = position
                continue
            key = (CASE_ACCESS if record_type == "case" else record_type, record_id)
            if key not in latest and len(latest) >= limit:
                filled = True
                break
            latest[key] = position
            after = position
        if len(chunk) < _SCAN_CHUNK and not filled:
            break
    if filled:
        has_more = True
    elif latest or after > cursor:
        has_more = _entries(user=user, after=after, horizon=horizon, types=types, case_id=case_id).exists()

    available = sync_types()
    by_type: dict[str, list[uuid.UUID]] = {}
    for record_type, record_id in latest:
        by_type.setdefault(record_type, []).append(record_id)
    rendered: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
    if CASE_ACCESS in by_type:
        rendered.update(_case_access_changes(user=user, case_ids=by_type.pop(CASE_ACCESS)))
    for record_type, ids in by_type.items():
        sync_type = available[record_type]
        view = sync_type.view(request, "list")
        records = list(including_tombstones(view.get_queryset()).filter(pk__in=ids))
        live = [record for record in records if record.deleted_at is None]
        data = jsonable(view.get_serializer(live, many=True).data) if live else []
        data_by_id = {str(item.get("id")): item for item in data}
        missing = attachments_missing_by_record(record_type=record_type, record_ids=[r.pk for r in records], user=user)
        for record in records:
            deleted = record.deleted_at is not None
            rendered[(record_type, record.pk)] = {
                "type": record_type,
                "id": str(record.pk),
                "version": record.version,
                "deleted": deleted,
                "data": tombstone_data(record) if deleted else data_by_id.get(str(record.pk), {}),
                "complete": not missing.get(record.pk),
                "missing_attachments": missing.get(record.pk, []),
            }
    ordered = [(rendered[key], entry) for key, entry in sorted(latest.items(), key=lambda kv: kv[1]) if key in rendered]
    changes = []
    size = 0
    for change, (txid, entry_id) in ordered:
        size += len(json.dumps(change, ensure_ascii=False).encode())
        if changes and size > settings.SYNC_PULL_MAX_BYTES:
            # The rest comes on the next page: every later change's last entry is at or after
            # this one, and what lies before it was sent or is not the caller's.
            after = (txid, entry_id - 1)
            has_more = True
            break
        changes.append(change)
    return {"changes": changes, "cursor": format_cursor(after), "has_more": has_more}
