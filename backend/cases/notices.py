"""The notice chain of approval items (seed 002): who is told, at which level, how often.

- warn7 (7 working days left): the handler (承办人), once.
- remind5: the handler and the department's heads (role department_head in the item's
  department), once.
- supervise3: those and the supervisors (role supervisor), again every working day until done.
- overdue: all of them, every working day until done (`first_overdue_on` is recorded by the
  deadline service).
- At supervise3 (or overdue) a supervision record (督办单) is opened with whom it told and when;
  it is closed when the item is done (a final state).

Supervisors are scoped by region like approval departments: a supervisor whose organisation has
a region sees projects whose code region starts with it; one without a region (or without an
organisation) sees every project.

Also, every working day until done: tolerance promises falling due (the builder's
representatives and the handler), findings past their due date (the responsible department) and
utility requests (报装) still unanswered `UTILITY_UNANSWERED_WORKING_DAYS` working days after they were
made (the addressed company's users).

Run daily on working days (`deadline_notices_run`: the procrastinate periodic task and `manage.py
deadlines_notify`) and after every item change (`item_notices_after_change`, on commit). E-mail:
the daily run sends each person one digest of what it told them; an item change, one message per
person it tells.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Role, User
from backend.cases.deadlines import ItemDeadline, item_deadlines_record, items_deadlines

LEVEL_KINDS = {
    "warn7": "item_warn7",
    "remind5": "item_remind5",
    "supervise3": "item_supervise3",
    "overdue": "item_overdue",
}
# Levels told once per item; the others every working day until the item is done.
ONCE_LEVELS = frozenset({"warn7", "remind5"})
# Levels under supervision (督办单 opened at the first, kept open until the item is done).
SUPERVISED_LEVELS = frozenset({"supervise3", "overdue"})
LEVEL_TITLES = {
    "warn7": "预警：{name}（{case}）剩余 {days} 个工作日",
    "remind5": "提醒：{name}（{case}）剩余 {days} 个工作日",
    "supervise3": "督办：{name}（{case}）剩余 {days} 个工作日",
    "overdue": "超期：{name}（{case}）已超过办理时限",
}


def is_working_day(day: dt.date) -> bool:
    """From the calendar; past its horizon, Monday to Friday (the daily run must not stop)."""
    from backend.cases.models import CalendarDay

    known = CalendarDay.objects.filter(date=day).values_list("is_workday", flat=True).first()
    return known if known is not None else day.weekday() < 5


class Audience:
    """Department heads (per department, loaded when first needed) and supervisors (once), for a
    whole run: not once per item, nor once per chunk."""

    def __init__(self, items: Sequence[Any] = ()) -> None:
        self.heads: dict[Any, list[User]] = {}
        self.users: dict[Any, User] = {}
        self._supervisors: list[User] | None = None
        self.load_heads({item.department_id for item in items})

    def load_users(self, ids: Iterable[Any]) -> None:
        missing = {pk for pk in ids if pk is not None and pk not in self.users}
        if missing:
            self.users.update((user.pk, user) for user in User.objects.filter(pk__in=missing))

    def load_heads(self, departments: Iterable[Any]) -> None:
        missing = {department for department in departments if department not in self.heads}
        if not missing:
            return
        for department in missing:
            self.heads[department] = []
        for user in User.objects.filter(
            is_active=True, organization_id__in=missing, roles__contains=[Role.DEPARTMENT_HEAD]
        ):
            self.heads[user.organization_id].append(user)

    @property
    def supervisors(self) -> list[User]:
        if self._supervisors is None:
            self._supervisors = list(
                User.objects.filter(is_active=True, roles__contains=[Role.SUPERVISOR]).select_related("organization")
            )
        return self._supervisors

    def for_level(self, item: Any, level: str) -> list[User]:
        people: list[User] = []
        if item.handler_id and item.handler.is_active:
            people.append(item.handler)
        if level in {"remind5", "supervise3", "overdue"}:
            self.load_heads([item.department_id])
            people.extend(self.heads[item.department_id])
        if level in {"supervise3", "overdue"}:
            region = item.case.project.region_code
            people.extend(
                user
                for user in self.supervisors
                if user.organization_id is None
                or not user.organization.region
                or region.startswith(user.organization.region)
            )
        return people


def item_notices_send(
    *,
    items: Sequence[Any],
    deadlines: dict[Any, ItemDeadline],
    as_of: dt.date,
    audience: Audience | None = None,
    emailed: set[Any] | None = None,
) -> list[Any]:
    """Send each item's notice of its level at `as_of` to its audience; returns the notices sent now.

    Set-based (backend.notifications.batch): one statement inserts the items' notices (skipping
    what was already sent) and one opens or appends to the supervisions of those under supervision.
    E-mailed after commit, one message per person; with `emailed` (the daily run), the people to
    e-mail are added to it instead, for one digest each at the end of the run.
    """
    from backend.notifications.batch import Notice, notifications_send_many, supervisions_record_many

    audience = audience or Audience(items)
    notices: list[Notice] = []
    told: list[tuple[Any, str]] = []
    for item in items:
        deadline = deadlines.get(item.pk)
        level = deadline.warning_level if deadline else None
        if level not in LEVEL_KINDS or deadline.clock == "stopped":
            continue
        days = deadline.remaining_working_days
        title = LEVEL_TITLES[level].format(
            name=item.name, case=item.case.external_no, days="?" if days is None else days
        )
        due = deadline.due_date.isoformat() if deadline.due_date else None
        notices.append(
            Notice(
                recipients=audience.for_level(item, level),
                kind=LEVEL_KINDS[level],
                subject=f"item:{item.pk}",
                title=title,
                body=f"{title}。办理部门：{item.department.name}；到期日：{due or '未知'}。",
                data={
                    "item": str(item.pk),
                    "case": str(item.case_id),
                    "level": level,
                    "due_date": due,
                    "remaining_working_days": days,
                    "first_overdue_on": item.first_overdue_on.isoformat() if item.first_overdue_on else None,
                },
                once=level in ONCE_LEVELS,
            )
        )
        told.append((item, level))
    with transaction.atomic():
        fresh = notifications_send_many(notices=notices, day=as_of, email=emailed is None, emailed=emailed)
        supervisions_record_many(
            entries=[
                (item, level, sent)
                for (item, level), sent in zip(told, fresh, strict=True)
                if level in SUPERVISED_LEVELS
            ],
            day=as_of,
        )
    return [notice for group in fresh for notice in group]


PROMISE_VOID_STATUSES = frozenset({4, 5, 13, 14, 15})


def _send_batched(notices: Iterable[Any], *, as_of: dt.date, emailed: set[Any] | None) -> list[Any]:
    """Send notices `RUN_CHUNK` at a time (one statement each, see item_notices_send)."""
    from backend.notifications.batch import notifications_send_many

    sent: list[Any] = []
    batch: list[Any] = []

    def flush() -> None:
        groups = notifications_send_many(notices=batch, day=as_of, email=emailed is None, emailed=emailed)
        sent.extend(notice for group in groups for notice in group)
        batch.clear()

    for notice in notices:
        batch.append(notice)
        if len(batch) >= RUN_CHUNK:
            flush()
    if batch:
        flush()
    return sent


def promise_notices_send(*, as_of: dt.date, emailed: set[Any] | None = None) -> list[Any]:
    """Tolerance promises (容缺) falling due: a material promised by `as_of` or earlier and not yet
    received; the builder's representatives and the item's handler, every working day until it
    arrives. (`emailed`: see item_notices_send.)"""
    from backend.cases.models import Material
    from backend.notifications.batch import Notice

    materials = (
        Material.objects.filter(promised_by__lte=as_of, received_at__isnull=True)
        # A promise still binds once the item is approved (that is what tolerance means), not once
        # the application is refused, returned or withdrawn.
        .exclude(item__status__in=PROMISE_VOID_STATUSES)
        .select_related("item__handler", "item__case__project")
        .order_by("promised_by", "id")
    )
    representatives: dict[Any, list[User]] = {}

    def notices() -> Iterator[Any]:
        for material in materials.iterator(chunk_size=RUN_CHUNK):
            item = material.item
            builder_id = item.case.project.builder_id
            if builder_id not in representatives:
                representatives[builder_id] = list(
                    User.objects.filter(
                        is_active=True, organization_id=builder_id, roles__contains=[Role.BUILDER_REPRESENTATIVE]
                    )
                )
            people = list(representatives[builder_id])
            if item.handler_id and item.handler.is_active:
                people.append(item.handler)
            late = material.promised_by < as_of
            title = f"{'容缺材料已逾期' if late else '容缺材料今日到期'}：{material.name}（{item.name}，{item.case.external_no}）"
            yield Notice(
                recipients=people,
                kind="promise_due",
                subject=f"material:{material.pk}",
                title=title,
                body=f"{title}。承诺提交日期：{material.promised_by.isoformat()}。",
                data={
                    "material": str(material.pk),
                    "item": str(item.pk),
                    "case": str(item.case_id),
                    "promised_by": material.promised_by.isoformat(),
                },
            )

    return _send_batched(notices(), as_of=as_of, emailed=emailed)


def finding_notices_send(*, as_of: dt.date, emailed: set[Any] | None = None) -> list[Any]:
    """Findings past their due date: the responsible department's users, every working day until
    resolved. (`emailed`: see item_notices_send.)"""
    from backend.notifications.batch import Notice
    from backend.surveys.models import Finding
    from backend.surveys.selectors import findings_overdue

    staff: dict[Any, list[User]] = {}

    def notices() -> Iterator[Any]:
        findings = findings_overdue(Finding.objects.all(), as_of=as_of).select_related("case")
        for finding in findings.iterator(chunk_size=RUN_CHUNK):
            department_id = finding.responsible_department_id
            if department_id not in staff:
                staff[department_id] = list(User.objects.filter(is_active=True, organization_id=department_id))
            title = f"问题整改超期：{finding.description[:40]}（{finding.case.external_no}）"
            yield Notice(
                recipients=staff[department_id],
                kind="finding_overdue",
                subject=f"finding:{finding.pk}",
                title=title,
                body=f"{title}。整改期限：{finding.due_date.isoformat()}。",
                data={
                    "finding": str(finding.pk),
                    "case": str(finding.case_id),
                    "due_date": finding.due_date.isoformat(),
                },
            )

    return _send_batched(notices(), as_of=as_of, emailed=emailed)


def working_days_back(*, as_of: dt.date, days: int) -> list[dt.date]:
    """The `days` working days ending with `as_of` (newest first), from the calendar, weekdays past it."""
    from backend.cases.models import CalendarDay

    # Even the longest run of rest days (the Spring Festival week plus weekends) leaves more than
    # one working day a week: 3 weeks per 7 working days is ample.
    start = as_of - dt.timedelta(days=21 * (days // 7 + 1) + 7)
    known = dict(CalendarDay.objects.filter(date__gte=start, date__lte=as_of).values_list("date", "is_workday"))
    found: list[dt.date] = []
    day = as_of
    while len(found) < days and day >= start:
        if known.get(day, day.weekday() < 5):
            found.append(day)
        day -= dt.timedelta(days=1)
    return found


def utility_notices_send(*, as_of: dt.date, emailed: set[Any] | None = None) -> list[Any]:
    """Utility requests (报装) the company has not answered `UTILITY_UNANSWERED_WORKING_DAYS` working
    days after they were made: the company's users, every working day until it answers.
    (`emailed`: see item_notices_send.)

    The day a request is made does not count (like an item's acceptance): made on Monday with a
    limit of 5, it is unanswered on the next Monday.
    """
    from backend.notifications.batch import Notice
    from backend.notifications.models import NotificationKind
    from backend.utilities.models import UtilityRequest, UtilityRequestStatus

    limit = settings.UTILITY_UNANSWERED_WORKING_DAYS
    if limit <= 0:
        return []
    working_days = working_days_back(as_of=as_of, days=limit)
    if len(working_days) < limit:
        return []
    # Made on or before the day before the limit-th working day back.
    latest_made = timezone.make_aware(dt.datetime.combine(working_days[-1], dt.time.min))
    requests = (
        UtilityRequest.objects.filter(
            status=UtilityRequestStatus.SUBMITTED, responded_at__isnull=True, created_at__lt=latest_made
        )
        .select_related("case", "company")
        .order_by("company_id", "created_at")
    )
    staff: dict[Any, list[User]] = {}

    def notices() -> Iterator[Any]:
        for request in requests.iterator(chunk_size=RUN_CHUNK):
            if request.company_id not in staff:
                staff[request.company_id] = list(
                    User.objects.filter(is_active=True, organization_id=request.company_id)
                )
            made_on = timezone.localdate(request.created_at)
            title = (
                f"报装申请未答复：{request.get_utility_type_display()}（{request.case.external_no}），"
                f"{made_on.isoformat()} 提交"
            )
            yield Notice(
                recipients=staff[request.company_id],
                kind=NotificationKind.UTILITY_UNANSWERED,
                subject=f"utility_request:{request.pk}",
                title=title,
                body=f"{title}，已超过 {limit} 个工作日未答复。请在系统中答复（受理、需补充资料或不予受理）。",
                data={
                    "utility_request": str(request.pk),
                    "case": str(request.case_id),
                    "utility_type": request.utility_type,
                    "made_on": made_on.isoformat(),
                    "limit_working_days": limit,
                },
            )

    return _send_batched(notices(), as_of=as_of, emailed=emailed)


# What the run reads of an item and of what it is told with (fewer columns, cheaper rows).
ITEM_FIELDS = (
    "id",
    "name",
    "case_id",
    "department_id",
    "handler_id",
    "statutory_days",
    "promised_days",
    "accepted_at",
    "status",
    "completed_at",
    "due_date",
    "first_overdue_on",
    "department__name",
    "handler__username",
    "handler__email",
    "handler__is_active",
    "case__external_no",
    "case__project_id",
    "case__project__region_code",
    "case__project__builder_id",
)


def _items_for_notices(qs: Any) -> list[Any]:
    from django.db.models import Prefetch

    from backend.cases.models import ItemStatusEvent

    events = ItemStatusEvent.objects.only("id", "item_id", "status", "occurred_at").order_by("occurred_at", "id")
    return list(
        qs.prefetch_related(None)
        .select_related("department", "handler", "case", "case__project")
        .only(*ITEM_FIELDS)
        .prefetch_related(Prefetch("status_events", queryset=events))
    )


# Open items are read, computed, recorded and told this many at a time, each chunk in its own
# transaction: memory stays bounded whatever the number of items, and a failure keeps the chunks
# done (a repeat the same day sends nothing twice).
RUN_CHUNK = 2000


RUN_FIELDS = (
    "id",
    "name",
    "case_id",
    "department_id",
    "handler_id",
    "promised_days",
    "accepted_at_text",
    "status",
    "completed_at_text",
    "due_date",
    "first_overdue_on",
    "department__name",
    "case__external_no",
    "case__project__region_code",
    "case__project__builder_id",
    "external_id",
    "accepted_on",
)

# An item's status events in time order, with their local dates (the database converts them; the
# deadline engine reads no more of them).
_EVENTS_OF_ITEMS = """
SELECT item_id, status, (occurred_at AT TIME ZONE %(tz)s)::date
FROM cases_itemstatusevent WHERE item_id = ANY(%(items)s::uuid[]) ORDER BY occurred_at, id
"""


def _timestamp(text: str | None) -> dt.datetime | None:
    """A timestamptz read as text (PostgreSQL's output): far cheaper than the driver's loader."""
    return dt.datetime.fromisoformat(text) if text is not None else None


def _run_items(rows: list[tuple], audience: Audience) -> list[Any]:
    """Plain objects with what the run reads of an item (model instances cost the most of a chunk),
    their local dates computed by the database (see backend.cases.deadlines: `local_events`,
    `accepted_on`); handlers are the users of the run's `audience`, loaded once."""
    from django.db import connection

    events: dict[Any, list[tuple[int, dt.date, dt.datetime]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_OF_ITEMS, {"tz": settings.TIME_ZONE, "items": [row[0] for row in rows]})
        for item_id, status, day in cursor.fetchall():
            events[item_id].append((status, day, None))
    audience.load_users(row[4] for row in rows)
    items = []
    for row in rows:
        (pk, name, case_id, department_id, handler_id, promised_days, accepted_at, status, completed_at) = row[:9]
        due_date, first_overdue_on, department_name, external_no, region_code, builder_id, external_id = row[9:16]
        items.append(
            SimpleNamespace(
                pk=pk,
                id=pk,
                external_id=external_id,
                name=name,
                case_id=case_id,
                department_id=department_id,
                handler_id=handler_id,
                promised_days=promised_days,
                accepted_at=_timestamp(accepted_at),
                accepted_on=row[16],
                status=status,
                completed_at=_timestamp(completed_at),
                due_date=due_date,
                first_overdue_on=first_overdue_on,
                department=SimpleNamespace(pk=department_id, name=department_name),
                handler=audience.users.get(handler_id),
                case=SimpleNamespace(
                    pk=case_id,
                    external_no=external_no,
                    project=SimpleNamespace(region_code=region_code, builder_id=builder_id),
                ),
                local_events=events.get(pk, []),
            )
        )
    return items


def open_item_chunks(*, audience: Audience, chunk: int = RUN_CHUNK) -> Iterator[list[Any]]:
    """Open items in primary-key order, `chunk` at a time (keyset paging: no OFFSET, no long cursor)."""
    from django.db.models import TextField
    from django.db.models.functions import Cast, TruncDate

    from backend.cases.selectors import open_items

    local = timezone.get_default_timezone()
    last = None
    while True:
        qs = open_items().prefetch_related(None).order_by("pk")
        if last is not None:
            qs = qs.filter(pk__gt=last)
        qs = qs.annotate(
            accepted_on=TruncDate("accepted_at", tzinfo=local),
            accepted_at_text=Cast("accepted_at", TextField()),
            completed_at_text=Cast("completed_at", TextField()),
        )
        rows = list(qs.values_list(*RUN_FIELDS)[:chunk])
        if not rows:
            return
        yield _run_items(rows, audience)
        last = rows[-1][0]
        if len(rows) < chunk:
            return


@contextmanager
def _collections_spaced() -> Iterator[None]:
    """Fewer cyclic garbage collections while the run goes: a chunk makes a few hundred thousand
    short-lived (acyclic) objects, and at the default thresholds the collector ran thousands of
    times a run, each also walking every object of the process (a third of the run's time). What
    is alive before the run is frozen (not walked again); the thresholds come back afterwards."""
    thresholds = gc.get_threshold()
    # A server that froze its objects itself (after preloading) keeps them frozen.
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen_before:
            gc.unfreeze()


def deadline_notices_run(*, as_of: dt.date | None = None, keep_sent: bool = True) -> dict[str, Any]:
    """The daily run: record deadlines of open items and send the day's notices (working days only).

    Streams the open items in chunks (`RUN_CHUNK`), each in its own transaction. Also tells
    administrators when the calendar's horizon is near. Safe to repeat the same day. `sent` lists
    the notices sent now unless `keep_sent` is off (the scheduled run: only `sent_count`, so memory
    does not grow with the notices either). E-mail: once the run is committed, one digest per
    person of everything the run told them (`notifications_email_digests`).
    """
    with _collections_spaced():
        return _deadline_notices_run(as_of=as_of, keep_sent=keep_sent)


def _deadline_notices_run(*, as_of: dt.date | None, keep_sent: bool) -> dict[str, Any]:
    from backend.cases.calendar import calendar_horizon_notify
    from backend.cases.deadlines import calendar_load
    from backend.events.services import deadline_levels_observe
    from backend.notifications.services import notifications_email_digests, supervisions_close_finished

    as_of = as_of or timezone.localdate()
    horizon = calendar_horizon_notify(today=as_of)
    supervisions_close_finished()
    if not is_working_day(as_of):
        return {
            "as_of": as_of,
            "working_day": False,
            "items": 0,
            "sent": [],
            "sent_count": 0,
            "horizon_sent": horizon,
        }
    started = timezone.now()
    # The whole calendar (a few thousand rows), once: every chunk computes against the same days.
    calendar = calendar_load()
    audience = Audience()
    # Whom to e-mail (people, not notices: memory bounded by the users).
    emailed: set[Any] = set()
    sent: list[Any] = []
    count = 0
    total = 0

    def collect(notices: list[Any]) -> None:
        nonlocal count
        count += len(notices)
        if keep_sent:
            sent.extend(notices)

    for items in open_item_chunks(audience=audience):
        with transaction.atomic():
            deadlines = item_deadlines_record(items=items, as_of=as_of, calendar=calendar)
            # The approval system hears of each level change once, with the day's run.
            deadline_levels_observe(items=items, deadlines=deadlines, as_of=as_of)
            collect(
                item_notices_send(items=items, deadlines=deadlines, as_of=as_of, audience=audience, emailed=emailed)
            )
        total += len(items)
    with transaction.atomic():
        collect(promise_notices_send(as_of=as_of, emailed=emailed))
        collect(finding_notices_send(as_of=as_of, emailed=emailed))
        collect(utility_notices_send(as_of=as_of, emailed=emailed))
    if emailed:
        transaction.on_commit(lambda: notifications_email_digests(recipient_ids=emailed, day=as_of, since=started))
    return {
        "as_of": as_of,
        "working_day": True,
        "items": total,
        "sent": sent,
        "sent_count": count,
        "horizon_sent": horizon,
    }


def item_notices_for(*, item_ids: Iterable[Any], as_of: dt.date | None = None) -> list[Any]:
    """Notices of the given items now (after a change): the same rule as the daily run."""
    from backend.cases.models import ApprovalItem
    from backend.notifications.services import supervisions_close_finished

    as_of = as_of or timezone.localdate()
    item_ids = list(item_ids)
    with transaction.atomic():
        supervisions_close_finished(item_ids=item_ids)
        items = _items_for_notices(ApprovalItem.objects.filter(pk__in=item_ids))
        deadlines = items_deadlines(items=items, as_of=as_of)
        return item_notices_send(items=items, deadlines=deadlines, as_of=as_of)


def item_notices_after_change(item_ids: Iterable[Any]) -> None:
    """Once the change is committed, tell whoever the item's new level concerns."""
    ids = list(item_ids)
    transaction.on_commit(lambda: item_notices_for(item_ids=ids))
