"""Writes on in-app notifications: sending (idempotent per subject and day) and reading."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
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
    """E-mail the given notices (after commit): one message per recipient; returns how many sent.

    A recipient with several notices gets one digest listing them (see `_digest_message`). A
    failure (server down, refused address) is logged and recorded on each notice of the message,
    so the run that sent it never breaks and an operator sees what was not delivered.
    """
    # A notice lost to a concurrent duplicate (ignore_conflicts) is not in the table: skipped.
    recipients = (
        Notification.objects.filter(pk__in=ids, emailed_at__isnull=True)
        .order_by()
        .values_list("recipient_id", flat=True)
        .distinct()
    )
    return _email_digests(
        recipient_ids=list(recipients), pending=lambda recipient_id: {"pk__in": ids, "recipient_id": recipient_id}
    )


def notifications_email_digests(*, recipient_ids: Iterable[Any], day: dt.date, since: dt.datetime) -> int:
    """One e-mail per recipient with every notice of `day` sent to them since `since` and not yet
    e-mailed (the daily run: a digest per person, whatever the number of items); returns how many
    messages were sent. Memory is bounded by the people, not by the notices."""
    return _email_digests(
        recipient_ids=sorted(set(recipient_ids), key=str),
        pending=lambda recipient_id: {"recipient_id": recipient_id, "day": day, "created_at__gte": since},
    )


# A digest lists at most this many notices (the rest by number: the app lists them all), so a
# supervisor told of thousands of overdue items gets a readable message and the sender's memory
# stays bounded.
DIGEST_LISTED = 100


def _email_digests(*, recipient_ids: list[Any], pending: Any) -> int:
    from django.core.mail import EmailMessage, get_connection

    sent = 0
    mailer = get_connection()
    try:
        try:
            mailer.open()  # one session for all the messages
        except Exception:  # noqa: BLE001, S110 - each message tries again and records its failure
            pass
        for recipient_id in recipient_ids:
            recipient = User.objects.filter(pk=recipient_id).only("pk", "username", "email").first()
            if recipient is None or not recipient.email:
                continue
            # The notices stay locked while their message is sent: a concurrent sender skips them,
            # and a crash before the commit leaves them to send again.
            with transaction.atomic():
                ids = list(
                    Notification.objects.select_for_update(skip_locked=True)
                    .filter(emailed_at__isnull=True, email_error="", **pending(recipient_id))
                    .order_by("created_at", "kind", "subject", "id")
                    .values_list("pk", flat=True)
                )
                if not ids:
                    continue
                listed = list(
                    Notification.objects.filter(pk__in=ids[:DIGEST_LISTED])
                    .order_by("created_at", "kind", "subject", "id")
                    .only("title", "body", "day")
                )
                subject, body = _digest_message(listed, total=len(ids))
                message = EmailMessage(
                    subject=subject,
                    body=body,
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=[recipient.email],
                    connection=mailer,
                )
                try:
                    message.send()
                except Exception as error:  # noqa: BLE001 - any transport failure is recorded, not raised
                    logger.warning("E-mail of %d notification(s) to %s failed: %s", len(ids), recipient, error)
                    Notification.objects.filter(pk__in=ids).update(
                        email_error=f"{type(error).__name__}: {error}"[:2000]
                    )
                    mailer.close()  # a broken session is opened anew for the next message
                    continue
                Notification.objects.filter(pk__in=ids).update(emailed_at=timezone.now(), email_error="")
                sent += 1
    finally:
        mailer.close()
    return sent


def _digest_message(notices: list[Notification], *, total: int) -> tuple[str, str]:
    """One notice: its title and body. Several: a digest listing each one (the first
    `DIGEST_LISTED`, then how many more)."""
    if total == 1:
        return notices[0].title, notices[0].body or notices[0].title
    subject = f"待办提醒 {max(notice.day for notice in notices).isoformat()}：共 {total} 条"
    lines = [f"您有 {total} 条提醒：", ""]
    for number, notice in enumerate(notices, start=1):
        # A notice's body starts with its title (see backend.cases.notices).
        body = notice.body if notice.body.startswith(notice.title) else f"{notice.title}\n   {notice.body}".rstrip()
        lines.append(f"{number}. {body}")
    if total > len(notices):
        lines += ["", f"另有 {total - len(notices)} 条，请登录系统查看。"]
    return subject, "\n".join(lines) + "\n"


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


# --- supervision records (督办单) ------------------------------------------------------------


def supervision_record_notices(*, item: Any, level: str, notices: list[Notification], day: dt.date) -> Any:
    """Open the item's supervision (if none is open) and add whom the chain told now."""
    from backend.notifications.models import Supervision

    with transaction.atomic():
        supervision = Supervision.objects.select_for_update().filter(item=item, closed_at__isnull=True).first()
        if supervision is None:
            supervision = Supervision.objects.create(
                item=item, case_id=item.case_id, department_id=item.department_id, opened_on=day
            )
        if notices:
            supervision.notified = [
                *supervision.notified,
                *(
                    {
                        "user": str(notice.recipient_id),
                        "username": notice.recipient.username,
                        "level": level,
                        "day": day.isoformat(),
                        "at": (notice.created_at or timezone.now()).isoformat(),
                    }
                    for notice in notices
                ),
            ]
            supervision.save(update_fields=["notified", "updated_at"])
    return supervision


def supervisions_close_finished(*, item_ids: Iterable[Any] | None = None) -> int:
    """Close the open supervisions of items that are done (a final state); returns how many."""
    from backend.cases.deadlines import CLOCK_STOPPING_STATUSES
    from backend.notifications.models import Supervision

    qs = Supervision.objects.filter(closed_at__isnull=True, item__status__in=CLOCK_STOPPING_STATUSES)
    if item_ids is not None:
        qs = qs.filter(item_id__in=list(item_ids))
    return qs.update(closed_at=timezone.now(), updated_at=timezone.now())


@transaction.atomic
def supervision_respond(*, supervision_id: Any, by: User, response: Any) -> Any:
    """The department's answer: the first one also acknowledges the supervision; later ones
    replace the answer. Only users of the item's department; a closed supervision is final."""
    from backend.common.errors import Conflict, PermissionDenied, ValidationFailed
    from backend.notifications.models import Supervision
    from backend.notifications.selectors import supervisions_visible_to

    supervision = supervisions_visible_to(user=by).select_for_update(of=("self",)).filter(pk=supervision_id).first()
    if supervision is None:
        raise NotFound("No such supervision.")
    if by.organization_id != supervision.department_id:
        raise PermissionDenied("Only the item's department responds to its supervision.")
    if not isinstance(response, str) or not response.strip():
        raise ValidationFailed("A response is required.", errors={"response": ["Write the department's response."]})
    if len(response) > 5000:
        raise ValidationFailed("The response is too long.", errors={"response": ["At most 5000 characters."]})
    if supervision.closed_at is not None:
        raise Conflict("The supervision is closed: the item is done.", code="supervision_closed")
    now = timezone.now()
    if supervision.acknowledged_at is None:
        supervision.acknowledged_at, supervision.acknowledged_by = now, by
    supervision.response, supervision.responded_at, supervision.responded_by = response.strip(), now, by
    supervision.version += 1
    supervision.save()
    return Supervision.objects.select_related("item", "department").get(pk=supervision.pk)
