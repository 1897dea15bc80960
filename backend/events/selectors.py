"""Reads of the outbox: the feed in commit order, subscriptions and their deliveries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from backend.accounts.models import OrganizationKind, User
from backend.cases.selectors import cases_visible_to
from backend.common.errors import ValidationFailed
from backend.events.models import Delivery, Event, Subscription

BIGINT_MAX = 2**63 - 1


def cursor_decode(raw: str | None) -> int:
    """The position after which to read; "" or absent: from the start."""
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or int(raw) > BIGINT_MAX:
        raise ValidationFailed(
            "cursor is the `cursor` of an earlier answer.", code="invalid_cursor", errors={"cursor": ["Invalid."]}
        )
    return int(raw)


def events_after(*, position: int) -> QuerySet[Event]:
    """Committed events after `position`, in commit order.

    Positions are given at commit under a lock held until the commit is done (models.Event), so
    whoever sees a position also sees every smaller one: a reader that continues after the last
    position it saw never skips a transaction that committed late.
    """
    return Event.objects.filter(position__gt=position).order_by("position")


def events_feed(
    *, user: User, cursor: str | None, types: list[str] | None, case_id: Any | None, limit: int
) -> tuple[list[Event], str, bool]:
    """A page of the caller's events in commit order: (events, next cursor, has_more)."""
    position = cursor_decode(cursor)
    qs = events_after(position=position).filter(case_id__in=cases_visible_to(user=user).values("pk"))
    if types:
        qs = qs.filter(type__in=types)
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    rows = list(qs[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, str(rows[-1].position if rows else position), has_more


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
