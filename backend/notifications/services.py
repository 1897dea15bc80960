"""Writes on in-app notifications: sending (idempotent per subject and day) and reading."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import User
from backend.common.errors import NotFound
from backend.notifications.models import Notification

logger = logging.getLogger(__name__)


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
    once: bool = False,
) -> list[Notification]:
    """Notify each recipient once per (kind, subject, day); returns only the notices sent now.

    Runs may repeat (every item change, a retried task): the unique constraint turns a repeat
    into nothing, also when two runs race. `once`: not again on a later day either. Recipients
    with an e-mail address also get it by e-mail once the notice is committed.
    """
    rows = [
        Notification(recipient=user, kind=kind, subject=subject, day=day, title=title, body=body, data=data or {})
        for user in {user.pk: user for user in recipients}.values()
    ]
    if not rows:
        return []
    earlier = Notification.objects.filter(recipient__in=[row.recipient for row in rows], kind=kind, subject=subject)
    if not once:
        earlier = earlier.filter(day=day)
    existing = set(earlier.values_list("recipient_id", flat=True))
    fresh = [row for row in rows if row.recipient_id not in existing]
    Notification.objects.bulk_create(fresh, ignore_conflicts=True)
    ids = [row.pk for row in fresh if row.recipient.email]
    if ids:
        transaction.on_commit(lambda: notifications_email(ids=ids))
    return fresh


def notifications_email(*, ids: list[Any]) -> int:
    """E-mail the given notices (after commit); returns how many were sent.

    One message per notice; a failure (server down, refused address) is logged and recorded on
    the notice, so the run that sent it never breaks and an operator sees what was not delivered.
    """
    sent = 0
    # A notice lost to a concurrent duplicate (ignore_conflicts) is not in the table: skipped.
    for notification in Notification.objects.filter(pk__in=ids, emailed_at__isnull=True).select_related("recipient"):
        try:
            send_mail(
                subject=notification.title,
                message=notification.body or notification.title,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[notification.recipient.email],
            )
        except Exception as error:  # noqa: BLE001 - any transport failure is recorded, not raised
            logger.warning("E-mail of notification %s to %s failed: %s", notification.pk, notification.recipient, error)
            Notification.objects.filter(pk=notification.pk).update(
                email_error=f"{type(error).__name__}: {error}"[:2000]
            )
            continue
        Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now(), email_error="")
        sent += 1
    return sent


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
