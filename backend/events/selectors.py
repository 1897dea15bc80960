"""Reads of the outbox: the commit horizon, the feed, subscriptions and their deliveries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from backend.accounts.models import OrganizationKind, User
from backend.cases.selectors import cases_visible_to
from backend.common.errors import ValidationFailed
from backend.events.models import Delivery, Event, Subscription

BIGINT_MAX = 2**63 - 1
XID_MODULUS = 2**32


def event_horizon() -> int:
    """A transaction id below which every transaction of this database has ended.

    Rows of a transaction become visible all at once when it commits, so once every transaction
    below the horizon has ended, no event with a smaller `transaction_id` can still appear: a
    reader that stops at the horizon never skips a late commit. It is the smallest transaction of
    this database still running, found in three statements, in this order:

    1. the snapshot S0 (its running transactions, and xmax: the first id not yet given out);
    2. the transactions running in this database (pg_stat_activity), read after S0;
    3. the caller's query, whose snapshot (READ COMMITTED: a new one per statement) comes later.

    An event of a transaction T < horizon that the query does not see must come from a T still
    running at 3, so running at 2, so listed there; T < xmax(S0) was running at S0 (else it had
    ended), so it is in S0's list and in the running list, and the horizon is at most T. Running
    transactions of other databases of the server are left out, so they do not hold events back.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        xmin, xmax, running = cursor.fetchone()[0].split(":")
        in_progress = [int(x) for x in running.split(",") if x]
        if not in_progress:
            return int(xmax)
        # The activity view is read once per transaction unless cleared.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT backend_xid::text::bigint FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_xid IS NOT NULL"
        )
        here = {row[0] for row in cursor.fetchall()}
    ours = [x for x in in_progress if x % XID_MODULUS in here]
    return min([*ours, int(xmax)])


@dataclass(frozen=True)
class FeedPosition:
    transaction_id: int
    event_id: int

    def encode(self) -> str:
        return f"{self.transaction_id}.{self.event_id}"

    @classmethod
    def decode(cls, raw: str | None) -> FeedPosition:
        if not raw:
            return cls(0, 0)
        parts = raw.split(".")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts):
            raise ValidationFailed(
                "cursor is the `cursor` of an earlier answer.", code="invalid_cursor", errors={"cursor": ["Invalid."]}
            )
        transaction_id, event_id = (int(p) for p in parts)
        if transaction_id > BIGINT_MAX or event_id > BIGINT_MAX:
            raise ValidationFailed("cursor is out of range.", code="invalid_cursor", errors={"cursor": ["Invalid."]})
        return cls(transaction_id, event_id)

    def after(self) -> Q:
        return Q(transaction_id__gt=self.transaction_id) | Q(transaction_id=self.transaction_id, id__gt=self.event_id)


def events_after(*, position: FeedPosition, horizon: int) -> QuerySet[Event]:
    """Committed events after `position`, below the horizon, in the feed's order."""
    return (
        Event.objects.filter(position.after(), transaction_id__lt=horizon)
        .select_related(None)
        .order_by("transaction_id", "id")
    )


def events_feed(
    *, user: User, cursor: str | None, types: list[str] | None, case_id: Any | None, limit: int
) -> tuple[list[Event], str, bool]:
    """A page of the caller's events in commit order: (events, next cursor, has_more)."""
    position = FeedPosition.decode(cursor)
    horizon = event_horizon()
    qs = events_after(position=position, horizon=horizon).filter(case_id__in=cases_visible_to(user=user).values("pk"))
    if types:
        qs = qs.filter(type__in=types)
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    rows = list(qs[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if has_more:
        next_position = FeedPosition(rows[-1].transaction_id, rows[-1].id)
    else:
        # Everything matching below the horizon was returned: the next read may start there.
        next_position = max(
            FeedPosition(horizon - 1, BIGINT_MAX) if horizon > 0 else position,
            position,
            key=lambda p: (p.transaction_id, p.event_id),
        )
    return rows, next_position.encode(), has_more


def event_envelope(event: Event) -> dict[str, Any]:
    """`{id, type, timestamp, case, external_no, data}`: the same for webhooks and the feed."""
    return {
        "id": str(event.uuid),
        "type": event.type,
        "timestamp": event.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "case": str(event.case_id),
        "external_no": event.external_no,
        "data": event.data,
    }


# --- subscriptions ---------------------------------------------------------------------------


def webhook_may_manage(*, user: User, organization_id: Any) -> bool:
    """Administrators, and an external system's own users for their organisation."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_administrator:
        return True
    return user.organization_id == organization_id and user.organization_kind == OrganizationKind.EXTERNAL_SYSTEM


def subscriptions_visible_to(*, user: User) -> QuerySet[Subscription]:
    qs = Subscription.objects.select_related("organization")
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    if user.organization_id is None or user.organization_kind != OrganizationKind.EXTERNAL_SYSTEM:
        return qs.none()
    return qs.filter(organization_id=user.organization_id)


def deliveries_of(*, subscription: Subscription, status: str | None = None) -> QuerySet[Delivery]:
    qs = Delivery.objects.filter(subscription=subscription).select_related("event")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")
