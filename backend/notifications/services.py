"""Writes on in-app notifications: sending (idempotent per subject and day) and reading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.common.errors import NotFound
from backend.notifications.models import Notification


@transaction.atomic
def notifications_send(
    *,
    recipients: Iterable[User],
    kind: str,
    subject: str,
    day: dt.date,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """Notify each recipient once per (kind, subject, day); returns only the notices sent now.

    Runs may repeat (every item change, a retried task): the unique constraint turns a repeat
    into nothing, also when two runs race.
    """
    rows = [
        Notification(recipient=user, kind=kind, subject=subject, day=day, title=title, body=body, data=data or {})
        for user in {user.pk: user for user in recipients}.values()
    ]
    if not rows:
        return []
    existing = set(
        Notification.objects.filter(
            recipient__in=[row.recipient for row in rows], kind=kind, subject=subject, day=day
        ).values_list("recipient_id", flat=True)
    )
    fresh = [row for row in rows if row.recipient_id not in existing]
    Notification.objects.bulk_create(fresh, ignore_conflicts=True)
    return fresh


@transaction.atomic
def notification_mark_read(*, notification_id: Any, by: User) -> Notification:
    """Mark one of the user's own notices read (another user's is not found)."""
    notification = Notification.objects.select_for_update().filter(pk=notification_id, recipient=by).first()
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, by: User) -> int:
    """Mark all of the user's unread notices read; returns how many."""
    return Notification.objects.filter(recipient=by, read_at__isnull=True).update(read_at=timezone.now())
