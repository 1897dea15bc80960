"""Reads of the audit log as a feed: what changed after a position, never skipping a late commit.

Any reader that follows the log (sync pull, event feeds, exports) reads it through
`audit_feed_entries`: in feed order `(txid, id)` and only below the horizon. Ids alone are not
commit order any more (writers share no lock), so a reader that pages by id can skip an entry.
"""

from django.db.models import QuerySet

from backend.audit.models import AuditEntry
from backend.audit.services import audit_feed_horizon

FeedPosition = tuple[int, int]
FEED_START: FeedPosition = (0, 0)


def audit_feed_entries(
    *, after: FeedPosition = FEED_START, horizon: int | None = None, queryset: QuerySet | None = None
) -> QuerySet[AuditEntry]:
    """Entries after `after` in feed order, below `horizon` (read now when not given: read it once
    per page and pass it, so every query of the page uses the same one)."""
    if horizon is None:
        horizon = audit_feed_horizon()
    qs = AuditEntry.objects.all() if queryset is None else queryset
    return (
        qs.filter(txid__lt=horizon)
        .extra(where=["(audit_auditentry.txid, audit_auditentry.id) > (%s, %s)"], params=list(after))
        .order_by("txid", "id")
    )


def audit_feed_head(*, horizon: int | None = None) -> FeedPosition:
    """The newest position below the horizon (FEED_START for an empty log)."""
    if horizon is None:
        horizon = audit_feed_horizon()
    return (
        AuditEntry.objects.filter(txid__lt=horizon).order_by("-txid", "-id").values_list("txid", "id").first()
        or FEED_START
    )
