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
representatives and the handler) and findings past their due date (the responsible department).

Run daily on working days (`deadline_notices_run`: the procrastinate periodic task and `manage.py
deadlines_notify`) and after every item change (`item_notices_after_change`, on commit).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

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
    """Department heads and supervisors, loaded once per run (not once per item)."""

    def __init__(self, items: Sequence[Any]) -> None:
        departments = {item.department_id for item in items}
        self.heads: dict[Any, list[User]] = defaultdict(list)
        for user in User.objects.filter(
            is_active=True, organization_id__in=departments, roles__contains=[Role.DEPARTMENT_HEAD]
        ):
            self.heads[user.organization_id].append(user)
        self.supervisors = list(
            User.objects.filter(is_active=True, roles__contains=[Role.SUPERVISOR]).select_related("organization")
        )

    def for_level(self, item: Any, level: str) -> list[User]:
        people: list[User] = []
        if item.handler_id and item.handler.is_active:
            people.append(item.handler)
        if level in {"remind5", "supervise3", "overdue"}:
            people.extend(self.heads.get(item.department_id, []))
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


def item_notices_send(*, items: Sequence[Any], deadlines: dict[Any, ItemDeadline], as_of: dt.date) -> list[Any]:
    """Send each item's notice of its level at `as_of` to its audience; returns the notices sent now."""
    from backend.notifications.services import notifications_send, supervision_record_notices

    audience = Audience(items)
    sent: list[Any] = []
    for item in items:
        deadline = deadlines.get(item.pk)
        level = deadline.warning_level if deadline else None
        if level not in LEVEL_KINDS or deadline.clock == "stopped":
            continue
        recipients = audience.for_level(item, level)
        days = deadline.remaining_working_days
        title = LEVEL_TITLES[level].format(
            name=item.name, case=item.case.external_no, days="?" if days is None else days
        )
        due = deadline.due_date.isoformat() if deadline.due_date else None
        fresh = notifications_send(
            recipients=recipients,
            kind=LEVEL_KINDS[level],
            subject=f"item:{item.pk}",
            day=as_of,
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
        sent.extend(fresh)
        if level in SUPERVISED_LEVELS:
            supervision_record_notices(item=item, level=level, notices=fresh, day=as_of)
    return sent


PROMISE_VOID_STATUSES = frozenset({4, 5, 13, 14, 15})


def promise_notices_send(*, as_of: dt.date) -> list[Any]:
    """Tolerance promises (容缺) falling due: a material promised by `as_of` or earlier and not yet
    received; the builder's representatives and the item's handler, every working day until it
    arrives."""
    from backend.cases.models import Material
    from backend.notifications.services import notifications_send

    materials = (
        Material.objects.filter(promised_by__lte=as_of, received_at__isnull=True)
        # A promise still binds once the item is approved (that is what tolerance means), not once
        # the application is refused, returned or withdrawn.
        .exclude(item__status__in=PROMISE_VOID_STATUSES)
        .select_related("item__handler", "item__case__project")
    )
    representatives: dict[Any, list[User]] = defaultdict(list)
    sent: list[Any] = []
    for material in materials:
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
        sent.extend(
            notifications_send(
                recipients=people,
                kind="promise_due",
                subject=f"material:{material.pk}",
                day=as_of,
                title=title,
                body=f"{title}。承诺提交日期：{material.promised_by.isoformat()}。",
                data={
                    "material": str(material.pk),
                    "item": str(item.pk),
                    "case": str(item.case_id),
                    "promised_by": material.promised_by.isoformat(),
                },
            )
        )
    return sent


def finding_notices_send(*, as_of: dt.date) -> list[Any]:
    """Findings past their due date: the responsible department's users, every working day until
    resolved."""
    from backend.notifications.services import notifications_send
    from backend.surveys.models import Finding
    from backend.surveys.selectors import findings_overdue

    staff: dict[Any, list[User]] = defaultdict(list)
    sent: list[Any] = []
    for finding in findings_overdue(Finding.objects.all(), as_of=as_of).select_related("case"):
        department_id = finding.responsible_department_id
        if department_id not in staff:
            staff[department_id] = list(User.objects.filter(is_active=True, organization_id=department_id))
        title = f"问题整改超期：{finding.description[:40]}（{finding.case.external_no}）"
        sent.extend(
            notifications_send(
                recipients=staff[department_id],
                kind="finding_overdue",
                subject=f"finding:{finding.pk}",
                day=as_of,
                title=title,
                body=f"{title}。整改期限：{finding.due_date.isoformat()}。",
                data={
                    "finding": str(finding.pk),
                    "case": str(finding.case_id),
                    "due_date": finding.due_date.isoformat(),
                },
            )
        )
    return sent


def _items_for_notices(qs: Any) -> list[Any]:
    return list(qs.select_related("department", "handler", "case", "case__project").prefetch_related("status_events"))


def deadline_notices_run(*, as_of: dt.date | None = None) -> dict[str, Any]:
    """The daily run: record deadlines of open items and send the day's notices (working days only).

    Also tells administrators when the calendar's horizon is near. Safe to repeat the same day.
    """
    from backend.cases.calendar import calendar_horizon_notify
    from backend.cases.selectors import open_items
    from backend.events.services import deadline_levels_observe
    from backend.notifications.services import supervisions_close_finished

    as_of = as_of or timezone.localdate()
    horizon = calendar_horizon_notify(today=as_of)
    supervisions_close_finished()
    if not is_working_day(as_of):
        return {"as_of": as_of, "working_day": False, "items": 0, "sent": [], "horizon_sent": horizon}
    with transaction.atomic():
        items = _items_for_notices(open_items())
        deadlines = item_deadlines_record(items=items, as_of=as_of)
        # The approval system hears of each level change once, with the day's run.
        deadline_levels_observe(items=items, deadlines=deadlines, as_of=as_of)
        sent = item_notices_send(items=items, deadlines=deadlines, as_of=as_of)
        sent += promise_notices_send(as_of=as_of)
        sent += finding_notices_send(as_of=as_of)
    return {"as_of": as_of, "working_day": True, "items": len(items), "sent": sent, "horizon_sent": horizon}


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
