"""The domain part of the pull feed: which records a page carries, and where the page ends.

Every change to a record appends an audit entry, stamped by the database with its transaction's
id (`txid`); the feed is read in *feed order* `(txid, id)`, and only below the horizon
(`audit_feed_horizon()`: the oldest transaction of this database still in flight). Every entry
below the horizon is committed or gone for good, and every entry still to commit has a txid at or
above it, so it sorts after everything a reader has passed: a transaction that started earlier but
commits later is read on a later pull, never skipped, and writers share no lock to make it so.

A page is the first `limit` distinct records (type, id) after the cursor, each at its *last*
position before the page's end, so a record changed twice is sent once. Rendering the records
(the API's representation, tombstones, the byte budget) is the caller's part.

When the caller's organisation is given a case (backend.sync.services.sync_case_access_granted),
the case's older records lie before the device's cursor: the page then carries a `case_access`
key for it, and the device pulls that case from the start with `?case=<id>`.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from backend.audit.models import AuditEntry
from backend.audit.selectors import FEED_START, FeedPosition, audit_feed_entries, audit_feed_head
from backend.audit.services import audit_feed_horizon
from backend.cases.selectors import cases_visible_to
from backend.sync.services import CASE_ACCESS_GRANTED

CASE_ACCESS = "case_access"
# Audit entries read per query while filling a page.
SCAN_CHUNK = 2000

RecordKey = tuple[str, uuid.UUID]


@dataclass
class FeedPage:
    """(type, id) → its last position on the page, in feed order of first sight; `after` is the
    last position read, `has_more` whether entries the caller may see follow it."""

    latest: dict[RecordKey, FeedPosition] = field(default_factory=dict)
    after: FeedPosition = FEED_START
    has_more: bool = False
    # What the page read: entries of `types` after `cursor`, up to `after`, below `horizon`.
    cursor: FeedPosition = FEED_START
    horizon: int = 0
    types: list[str] = field(default_factory=list)
    case_id: uuid.UUID | None = None


def feed_entries(
    *, user: Any, after: FeedPosition, horizon: int, types: list[str], case_id: uuid.UUID | None = None
) -> QuerySet[AuditEntry]:
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
        # Only a cheap pre-filter; the type's own selector decides what the caller sees.
        qs = qs.filter(Q(case_id__in=cases_visible_to(user=user).values("pk")) | Q(case_id__isnull=True))
    return qs


def feed_page(
    *,
    user: Any,
    cursor: FeedPosition,
    limit: int,
    types: list[str],
    case_id: uuid.UUID | None = None,
    horizon: int | None = None,
) -> FeedPage:
    """The records of the page after `cursor`, read below one horizon (read now when not given)."""
    if horizon is None:
        # Read once, before the entries (a later statement sees every transaction below it ended).
        horizon = audit_feed_horizon()
    # A pull from the start reads every entry of every case visible when its scan began: access
    # granted before then needs no resync. Entries committed from now on are after this position.
    granted_before_scan: FeedPosition = FEED_START
    if cursor == FEED_START and case_id is None:
        granted_before_scan = audit_feed_head(horizon=horizon)
    page = FeedPage(after=cursor, cursor=cursor, horizon=horizon, types=types, case_id=case_id)
    latest = page.latest
    filled = False
    while not filled:
        chunk = list(
            feed_entries(user=user, after=page.after, horizon=horizon, types=types, case_id=case_id).values_list(
                "txid", "id", "record_type", "record_id"
            )[:SCAN_CHUNK]
        )
        if not chunk:
            break
        for txid, entry_id, record_type, record_id in chunk:
            position = (txid, entry_id)
            # Only case_access_granted entries have the record type "case" here (see feed_entries).
            if record_type == "case" and position <= granted_before_scan:
                page.after = position
                continue
            key = (CASE_ACCESS if record_type == "case" else record_type, record_id)
            if key not in latest and len(latest) >= limit:
                filled = True
                break
            latest[key] = position
            page.after = position
        if len(chunk) < SCAN_CHUNK and not filled:
            break
    if filled:
        page.has_more = True
    elif latest or page.after > cursor:
        page.has_more = feed_entries(
            user=user, after=page.after, horizon=horizon, types=types, case_id=case_id
        ).exists()
    return page


def case_access_changes(*, user: Any, case_ids: list[uuid.UUID]) -> dict[RecordKey, dict[str, Any]]:
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
