"""Notices and supervision entries for many subjects at once (the daily deadline run).

The same rules as `notifications_send` and `supervision_record_notices` (once per recipient, kind,
subject and day; `once`: never again; e-mail after commit; one open supervision per item), written
set-based: one read of what was already sent and one multi-row insert per chunk, instead of a few
queries per subject, so the daily run over 100,000 open items stays within a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from backend.accounts.models import User
from backend.notifications.models import Notification, Supervision
from backend.notifications.services import notifications_email


@dataclass
class SentNotice:
    """A notification sent now, as inserted (model instances cost more than the insert itself)."""

    pk: uuid.UUID
    recipient: User
    kind: str
    subject: str
    day: dt.date
    title: str
    body: str
    data: dict[str, Any]
    created_at: dt.datetime | None = None

    @property
    def recipient_id(self) -> Any:
        return self.recipient.pk


@dataclass
class Notice:
    """One notice to send to `recipients` (a kind is either always `once` or never)."""

    recipients: Sequence[User]
    kind: str
    subject: str
    title: str
    body: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    once: bool = False


INSERT_BATCH = 1000


@transaction.atomic
def notifications_send_many(*, notices: Sequence[Notice], day: dt.date) -> list[list[SentNotice]]:
    """Send every notice (see `notifications_send`); returns, per notice, the notifications sent now."""
    rows: list[list[SentNotice]] = []
    for notice in notices:
        people = {user.pk: user for user in notice.recipients}.values()
        rows.append(
            [
                SentNotice(
                    pk=uuid.uuid4(),
                    recipient=user,
                    kind=notice.kind,
                    subject=notice.subject,
                    day=day,
                    title=notice.title[:200],
                    body=notice.body,
                    data=notice.data,
                )
                for user in people
            ]
        )
    wanted = [row for group in rows for row in group]
    if not wanted:
        return rows
    once_kinds = {notice.kind for notice in notices if notice.once}
    earlier = Notification.objects.filter(
        recipient_id__in={row.recipient_id for row in wanted},
        kind__in={row.kind for row in wanted},
        subject__in={row.subject for row in wanted},
    ).filter(Q(day=day) | Q(kind__in=once_kinds))
    existing = set(earlier.values_list("recipient_id", "kind", "subject"))
    fresh_rows = [[row for row in group if (row.recipient_id, row.kind, row.subject) not in existing] for group in rows]
    fresh = [row for group in fresh_rows for row in group]
    _insert_notifications(fresh)
    ids = [row.pk for row in fresh if row.recipient.email]
    if ids:
        transaction.on_commit(lambda: notifications_email(ids=ids))
    return fresh_rows


def _insert_notifications(rows: list[SentNotice]) -> None:
    """Insert the rows as one JSON document per batch (a single parameter: far cheaper to send than
    ten per row). A concurrent run that sent one first wins (the unique constraint), as in
    notifications_send."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    now = timezone.now()
    for offset in range(0, len(rows), INSERT_BATCH):
        batch = rows[offset : offset + INSERT_BATCH]
        for row in batch:
            row.created_at = now
        document = json.dumps(
            [
                {
                    "id": str(row.pk),
                    "recipient_id": str(row.recipient_id),
                    "kind": row.kind,
                    "subject": row.subject,
                    "day": row.day.isoformat(),
                    "title": row.title,
                    "body": row.body,
                    "data": row.data,
                }
                for row in batch
            ],
            ensure_ascii=False,
            cls=DjangoJSONEncoder,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (id, recipient_id, kind, subject, day, title, body, data, created_at, "  # noqa: S608
                "email_error) SELECT r.id, r.recipient_id, r.kind, r.subject, r.day, r.title, r.body, r.data, %s, '' "
                "FROM jsonb_to_recordset(%s::jsonb) AS r(id uuid, recipient_id uuid, kind text, subject text, "
                "day date, title text, body text, data jsonb) ON CONFLICT DO NOTHING",
                [now, document],
            )


@transaction.atomic
def supervisions_record_many(*, entries: Sequence[tuple[Any, str, Sequence[SentNotice]]], day: dt.date) -> int:
    """For each (item, level, notices sent now): open the item's supervision if none is open and add
    whom the chain told (see `supervision_record_notices`); returns how many were opened."""
    if not entries:
        return 0
    items = {item.pk: item for item, _, _ in entries}
    already = set(
        Supervision.objects.filter(item_id__in=list(items), closed_at__isnull=True).values_list("item_id", flat=True)
    )
    opening = [
        Supervision(item_id=pk, case_id=item.case_id, department_id=item.department_id, opened_on=day)
        for pk, item in items.items()
        if pk not in already
    ]
    # One open supervision per item (a partial unique index): one opened concurrently is kept.
    Supervision.objects.bulk_create(opening, ignore_conflicts=True, batch_size=INSERT_BATCH)
    additions = [
        (
            str(item.pk),
            json.dumps(
                [
                    {
                        "user": str(notice.recipient_id),
                        "username": notice.recipient.username,
                        "level": level,
                        "day": day.isoformat(),
                        "at": notice.created_at.isoformat(),
                    }
                    for notice in notices
                ],
                ensure_ascii=False,
            ),
        )
        for item, level, notices in entries
        if notices
    ]
    table = connection.ops.quote_name(Supervision._meta.db_table)
    for offset in range(0, len(additions), INSERT_BATCH):
        batch = additions[offset : offset + INSERT_BATCH]
        values = ", ".join(["(%s::uuid, %s::jsonb)"] * len(batch))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET notified = s.notified || v.added, updated_at = now() "  # noqa: S608
                f"FROM (VALUES {values}) AS v(item_id, added) WHERE s.item_id = v.item_id AND s.closed_at IS NULL",
                [value for row in batch for value in row],
            )
    return len(opening)
