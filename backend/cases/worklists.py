"""Worklists across cases: approval items by warning level, department, handler and mode.

A level is computed (working days, pauses), not stored, so a level filter first narrows the
items with the stored `due_date` (indexed with department and with handler) to the window that
level can have at `as_of`, then computes the exact level of those candidates only. Paused items
(their due date moves daily) and items whose due date lies past the calendar's horizon are
always candidates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet

from backend.accounts.models import User
from backend.cases.deadlines import (
    CORRECTION_START,
    SPECIAL_START,
    Thresholds,
    add_working_days,
    calendar_load,
    items_deadlines,
)
from backend.cases.models import ApprovalItem, Material
from backend.cases.selectors import cases_visible_to
from backend.common.errors import CalendarHorizonExceeded


def worklist_items(
    *, user: User, department: Any = None, handler: User | None = None, mode: str | None = None
) -> QuerySet[ApprovalItem]:
    """Items of every case the user can see, filtered; ordered by due date (unknown last)."""
    qs = ApprovalItem.objects.filter(case__in=cases_visible_to(user=user))
    if department is not None:
        qs = qs.filter(department_id=department)
    if handler is not None:
        qs = qs.filter(handler=handler)
    if mode:
        qs = qs.filter(modes__contains=[mode])
    return (
        qs.select_related("department", "handler")
        .prefetch_related("status_events", "materials")
        .order_by("due_date", "created_at", "id")
    )


def _nth_working_day(calendar: Any, as_of: dt.date, days: int) -> dt.date | None:
    try:
        return add_working_days(calendar, as_of, days)
    except CalendarHorizonExceeded:
        return None


def level_window(level: str, *, as_of: dt.date) -> Q | None:
    """The due dates an item of `level` can have at `as_of` (None: any)."""
    if level == "ok":
        return None
    if level == "overdue":
        return Q(due_date__lt=as_of)
    thresholds = Thresholds.from_settings()
    calendar = calendar_load(start=as_of)
    bounds = {
        "supervise3": (None, thresholds.supervise),
        "remind5": (thresholds.supervise, thresholds.remind),
        "warn7": (thresholds.remind, thresholds.warn),
    }[level]
    window = Q(due_date__gte=as_of)
    low, high = bounds
    if low is not None:
        after = _nth_working_day(calendar, as_of, low)
        if after is None:
            return window
        window &= Q(due_date__gt=after)
    before = _nth_working_day(calendar, as_of, high)
    if before is not None:
        window &= Q(due_date__lte=before)
    return window


def worklist_at_level(qs: QuerySet[ApprovalItem], *, level: str, as_of: dt.date) -> tuple[list[ApprovalItem], dict]:
    """The items of `qs` at `level` on `as_of`, with their deadlines."""
    window = level_window(level, as_of=as_of)
    if window is not None:
        qs = qs.filter(
            window
            | Q(status__in=[CORRECTION_START, SPECIAL_START])
            | Q(due_date__isnull=True, accepted_at__isnull=False)
        )
    candidates = list(qs)
    deadlines = items_deadlines(items=candidates, as_of=as_of)
    return [item for item in candidates if deadlines[item.pk].warning_level == level], deadlines


def promises_due(
    *,
    user: User,
    due_by: dt.date,
    as_of: dt.date,
    state: str | None = None,
    department: Any = None,
    handler: User | None = None,
    case: Any = None,
) -> QuerySet[Material]:
    """Tolerance promises (容缺承诺) not kept yet and due by `due_by`, across the cases the user can
    see, soonest first: `state` overdue (promised before `as_of`) or pending (not yet). A promise of
    an item refused, returned or withdrawn no longer binds (the same rule as the daily notices)."""
    from backend.cases.notices import PROMISE_VOID_STATUSES

    qs = (
        Material.objects.filter(
            promised_by__isnull=False,
            received_at__isnull=True,
            promised_by__lte=due_by,
            item__case__in=cases_visible_to(user=user),
        )
        .exclude(item__status__in=PROMISE_VOID_STATUSES)
        .select_related("item__department", "item__handler", "item__case")
    )
    if state == "overdue":
        qs = qs.filter(promised_by__lt=as_of)
    elif state == "pending":
        qs = qs.filter(promised_by__gte=as_of)
    if department is not None:
        qs = qs.filter(item__department_id=department)
    if handler is not None:
        qs = qs.filter(item__handler=handler)
    if case is not None:
        qs = qs.filter(item__case_id=case)
    return qs.order_by("promised_by", "id")
