"""Notices and supervision entries for many subjects at once (the daily deadline run).

The same rules as `notifications_send` and `supervision_record_notices` (once per recipient, kind,
subject and day; `once`: never again; e-mail after commit; one open supervision per item), written
set-based: each chunk's notices are one statement (the database skips what was already sent, by
the unique constraint and, for `once` kinds, by a look-up on its index) and its supervisions are
another (opened where none is open, whom the chain told appended), each with a single JSON
parameter, so the daily run over 100,000 open items stays within a minute.
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


# Notices per statement (each with its recipients): a chunk of the run is one or two statements.
INSERT_BATCH = 5000

_INSERT_NOTICES = """
INSERT INTO {table} (id, recipient_id, kind, subject, day, title, body, data, created_at, email_error)
SELECT gen_random_uuid(), u.recipient_id, r.kind, r.subject, %(day)s, r.title, r.body, r.data, %(now)s, ''
FROM jsonb_to_recordset(%(notices)s::jsonb) AS r(
    kind text, subject text, title text, body text, data jsonb, once boolean, recipients uuid[]
)
CROSS JOIN LATERAL unnest(r.recipients) AS u(recipient_id)
WHERE NOT (
    r.once AND EXISTS (
        SELECT 1 FROM {table} AS e
        WHERE e.recipient_id = u.recipient_id AND e.kind = r.kind AND e.subject = r.subject
    )
)
ON CONFLICT DO NOTHING
RETURNING id, recipient_id, kind, subject
"""


@transaction.atomic
def notifications_send_many(
    *, notices: Sequence[Notice], day: dt.date, email: bool = True, emailed: set[Any] | None = None
) -> list[list[SentNotice]]:
    """Send every notice (see `notifications_send`); returns, per notice, the notifications sent now.

    `email`: e-mail them after commit (one message per recipient); off, the recipients with an
    address are added to `emailed` instead (the daily run sends each one digest at its end).
    A concurrent run that sent one first wins (the unique constraint), as in notifications_send.
    """
    result: list[list[SentNotice]] = [[] for _ in notices]
    # (kind, subject, recipient) → (notice index, recipient): what the database returns maps back.
    wanted: dict[tuple[str, str, str], tuple[int, User]] = {}
    documents: list[dict[str, Any]] = []
    # The same few users recur in every notice: their ids as text, once each.
    texts: dict[int, str] = {}
    for index, notice in enumerate(notices):
        recipients = []
        kind = str(notice.kind)  # a NotificationKind is its value
        for user in notice.recipients:
            text = texts.get(id(user))
            if text is None:
                text = texts[id(user)] = str(user.pk)
            key = (kind, notice.subject, text)
            if key not in wanted:
                wanted[key] = (index, user)
                recipients.append(key[2])
        if recipients:
            documents.append(
                {
                    "kind": kind,
                    "subject": notice.subject,
                    "title": notice.title[:200],
                    "body": notice.body,
                    "data": notice.data,
                    "once": notice.once,
                    "recipients": recipients,
                }
            )
    if not documents:
        return result
    table = connection.ops.quote_name(Notification._meta.db_table)
    now = timezone.now()
    for offset in range(0, len(documents), INSERT_BATCH):
        document = json.dumps(documents[offset : offset + INSERT_BATCH], ensure_ascii=False, cls=DjangoJSONEncoder)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_NOTICES.format(table=table), {"day": day, "now": now, "notices": document})
            inserted = cursor.fetchall()
        for pk, recipient_id, kind, subject in inserted:
            index, user = wanted[(kind, subject, str(recipient_id))]
            notice = notices[index]
            result[index].append(
                SentNotice(
                    pk=pk,
                    recipient=user,
                    kind=kind,
                    subject=subject,
                    day=day,
                    title=notice.title[:200],
                    body=notice.body,
                    data=notice.data,
                    created_at=now,
                )
            )
    if email:
        ids = [row.pk for group in result for row in group if row.recipient.email]
        if ids:
            transaction.on_commit(lambda: notifications_email(ids=ids))
    elif emailed is not None:
        emailed.update(row.recipient.pk for group in result for row in group if row.recipient.email)
    return result


_RECORD_SUPERVISIONS = """
INSERT INTO {table} AS s (id, item_id, case_id, department_id, opened_on, notified, response, version,
                          created_at, updated_at)
SELECT gen_random_uuid(), r.item, r.case, r.department, %(day)s, r.notified, '', 1, %(now)s, %(now)s
FROM jsonb_to_recordset(%(entries)s::jsonb) AS r(item uuid, "case" uuid, department uuid, notified jsonb)
ON CONFLICT (item_id) WHERE closed_at IS NULL
DO UPDATE SET notified = s.notified || EXCLUDED.notified, updated_at = EXCLUDED.updated_at
    WHERE EXCLUDED.notified <> '[]'::jsonb
RETURNING xmax = 0
"""


@transaction.atomic
def supervisions_record_many(*, entries: Sequence[tuple[Any, str, Sequence[SentNotice]]], day: dt.date) -> int:
    """For each (item, level, notices sent now): open the item's supervision if none is open and add
    whom the chain told (see `supervision_record_notices`); returns how many were opened.

    One statement per batch: an insert that, where the item already has an open supervision (the
    partial unique index), appends to it instead; one opened concurrently is kept."""
    if not entries:
        return 0
    documents: dict[Any, dict[str, Any]] = {}
    for item, level, notices in entries:
        document = documents.setdefault(
            item.pk,
            {"item": str(item.pk), "case": str(item.case_id), "department": str(item.department_id), "notified": []},
        )
        document["notified"].extend(
            {
                "user": str(notice.recipient_id),
                "username": notice.recipient.username,
                "level": level,
                "day": day.isoformat(),
                "at": (notice.created_at or timezone.now()).isoformat(),
            }
            for notice in notices
        )
    table = connection.ops.quote_name(Supervision._meta.db_table)
    rows = list(documents.values())
    opened = 0
    now = timezone.now()
    for offset in range(0, len(rows), INSERT_BATCH):
        document = json.dumps(rows[offset : offset + INSERT_BATCH], ensure_ascii=False)
        with connection.cursor() as cursor:
            cursor.execute(_RECORD_SUPERVISIONS.format(table=table), {"day": day, "now": now, "entries": document})
            opened += sum(1 for (inserted,) in cursor.fetchall() if inserted)
    return opened
