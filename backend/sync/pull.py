"""The domain part of the pull feed: which records a page carries, and where the page ends.

Every change to a record appends an audit entry, stamped by the database with its transaction's
id (`txid`); the feed is read in *feed order* `(txid, id)`, and only below the horizon
(`audit_feed_horizon()`: the oldest transaction of this database still in flight). Every entry
below the horizon is committed or gone for good, and every entry still to commit has a txid at or
above it, so it sorts after everything a reader has passed: a transaction that started earlier but
commits later is read on a later pull, never skipped, and writers share no lock to make it so.

A page is the first `limit` distinct records (type, id) after the cursor, each at its *last*
position before the page's end, so a record changed twice is sent once; PostgreSQL picks them
(one query per page, `_PAGE_SQL`). Rendering the records
(the API's representation, tombstones, the byte budget) is the caller's part.

When the caller's organisation is given a case (backend.cases.services.case_organizations_add),
the case's older records lie before the device's cursor: the page then carries a `case_access`
key for it, and the device pulls that case from the start with `?case=<id>`.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet

from backend.audit.models import AuditEntry
from backend.audit.selectors import FEED_START, FeedPosition, audit_feed_entries, audit_feed_head
from backend.audit.services import audit_feed_horizon
from backend.cases.selectors import cases_visible_to
from backend.cases.services import CASE_ACCESS_GRANTED

CASE_ACCESS = "case_access"

# (type, id as text, txid, entry id): a record of the page at its last position on it. The type of
# a case given to the caller's organisation is CASE_ACCESS.
FeedChange = tuple[str, str, int, int]


@dataclass
class FeedPage:
    """The page's records in feed order of their last position on it; `after` is the last
    position read, `has_more` whether entries the caller may see follow it."""

    changes: list[FeedChange] = field(default_factory=list)
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


# One page from a window of the feed's next entries (`{entries}`: the caller's, in feed order,
# at most the window's size), numbered in feed order (`n`; the entries come in that order, so no
# sort). Case_access entries at or before the scan's start position are read but skipped. The
# page ends before the (limit + 1)-th record's first entry (`page_end`); each record of the page
# comes at its last entry before that. The last row sums up: the page's last entry read, the
# window's rows, and whether a record not on the page follows (the page is full).
_PAGE_SQL = """
WITH window_entries AS (
    SELECT txid, id, record_type, record_id, row_number() OVER (ORDER BY txid, id) AS n,
           record_type = 'case' AND (txid, id) <= (%s, %s) AS skipped
    FROM ({entries}) entries
),
firsts AS (
    SELECT min(n) AS first FROM window_entries WHERE NOT skipped GROUP BY record_type, record_id
),
page_end AS (SELECT (SELECT first FROM firsts ORDER BY first OFFSET %s LIMIT 1) AS n),
latest AS (
    SELECT w.record_type, w.record_id, max(w.n) AS n, max(ARRAY[w.txid, w.id]) AS position
    FROM window_entries w, page_end
    WHERE NOT w.skipped AND (page_end.n IS NULL OR w.n < page_end.n) GROUP BY w.record_type, w.record_id
)
SELECT false AS summary, record_type, record_id::text, position[1], position[2], n FROM latest
UNION ALL
SELECT true, (SELECT count(*) FROM window_entries)::text, (page_end.n IS NOT NULL)::text, last.txid, last.id, 0
FROM page_end LEFT JOIN LATERAL (
    SELECT txid, id FROM window_entries w WHERE page_end.n IS NULL OR w.n < page_end.n ORDER BY w.n DESC LIMIT 1
) last ON true
ORDER BY summary, n
"""


def feed_page(
    *,
    user: Any,
    cursor: FeedPosition,
    limit: int,
    types: list[str],
    case_id: uuid.UUID | None = None,
    horizon: int | None = None,
) -> FeedPage:
    """The records of the page after `cursor`, read below one horizon (read now when not given):
    the first `limit` distinct records, each at its last position before the page's end, in one
    query over a window of the next entries (a wider window when the records of a window changed
    so often that it holds fewer)."""
    if horizon is None:
        # Read once, before the entries (a later statement sees every transaction below it ended).
        horizon = audit_feed_horizon()
    # A pull from the start reads every entry of every case visible when its scan began: access
    # granted before then needs no resync. Entries committed from now on are after this position.
    granted_before_scan: FeedPosition = FEED_START
    if cursor == FEED_START and case_id is None:
        granted_before_scan = audit_feed_head(horizon=horizon)
    page = FeedPage(after=cursor, cursor=cursor, horizon=horizon, types=types, case_id=case_id)
    entries = feed_entries(user=user, after=cursor, horizon=horizon, types=types, case_id=case_id).values_list(
        "txid", "id", "record_type", "record_id"
    )
    window = 2 * limit + 2
    while True:
        try:
            entries_sql, entries_params = entries[:window].query.sql_with_params()
        except EmptyResultSet:
            return page
        with connection.cursor() as db:
            db.execute(_PAGE_SQL.format(entries=entries_sql), (*granted_before_scan, *entries_params, limit))
            rows = db.fetchall()
        *changes, (_summary, read, filled, last_txid, last_id, _n) = rows
        if filled == "true" or int(read) < window:
            break
        window *= 4  # every entry of the window is of the page's records: read further
    page.changes = [
        (CASE_ACCESS if record_type == "case" else record_type, record_id, txid, entry_id)
        for _summary, record_type, record_id, txid, entry_id, _n in changes
    ]
    if last_txid is not None:
        page.after = (last_txid, last_id)
    # Below the horizon nothing more commits: the page is followed by entries only when full.
    page.has_more = filled == "true"
    return page


def case_access_changes(*, user: Any, case_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Case id → its `case_access` change, for the cases among `case_ids` the caller sees."""
    visible = cases_visible_to(user=user).filter(pk__in=case_ids).values_list("pk", flat=True)
    return {
        str(case_id): {
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
