"""`stats/deadlines/`: how the approval items of the cases a user can see keep their time limits.

Read set-based from what the deadline service records on every item change and in the daily run
(`due_date`, `first_overdue_on`, `completed_at`), never by computing item by item:

- `levels`: items open on the period's last day (or today) by warning level, from their recorded
  due dates and the working days ahead (`backend.cases.worklists.level_window`); `unknown` when
  the due date needs days past the calendar's horizon, `not_started` when not accepted yet;
- `completed`: items done with a result (11–13) inside the period, on time or late against their
  due date;
- `working_days`: their average working days used against the statutory and promised limits,
  overall and per department;
- `supervisions`: supervision records (督办单) opened, closed, acknowledged and responded in the
  period, and open at its end.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from backend.accounts.models import User
from backend.cases.deadlines import CLOCK_STOPPING_STATUSES
from backend.cases.models import ApprovalItem
from backend.cases.selectors import cases_visible_to
from backend.cases.worklists import level_window
from backend.notifications.models import Supervision
from backend.stats.periods import Period, completed_in, working_days_used, working_days_used_rows

LEVELS = ("ok", "warn7", "remind5", "supervise3", "overdue")


def items_for_stats(*, user: User, department: Any = None) -> QuerySet[ApprovalItem]:
    items = ApprovalItem.objects.filter(case__in=cases_visible_to(user=user))
    if department is not None:
        items = items.filter(department_id=department)
    return items


def open_on(items: QuerySet[ApprovalItem], period: Period) -> QuerySet[ApprovalItem]:
    """Items accepted by the end of `period.as_of` and not finished by then."""
    _, end = Period(start=period.as_of, end=period.as_of).bounds()
    return items.filter(Q(accepted_at__isnull=True) | Q(accepted_at__lt=end)).filter(
        Q(completed_at__isnull=True, status__in=_open_statuses()) | Q(completed_at__gte=end)
    )


def _open_statuses() -> list[int]:
    from backend.cases.models import Blzt

    return [status for status in Blzt.values if status not in CLOCK_STOPPING_STATUSES]


def level_counts(items: QuerySet[ApprovalItem], period: Period) -> dict[str, int]:
    as_of = period.as_of
    _, end = Period(start=as_of, end=as_of).bounds()
    accepted = Q(accepted_at__lt=end)
    known = accepted & Q(due_date__isnull=False)
    windows = {level: level_window(level, as_of=as_of) for level in LEVELS if level != "ok"}
    aggregates = {level: Count("pk", filter=known & window) for level, window in windows.items()}
    counts = open_on(items, period).aggregate(
        **aggregates,
        known=Count("pk", filter=known),
        unknown=Count("pk", filter=accepted & Q(due_date__isnull=True)),
        not_started=Count("pk", filter=~accepted | Q(accepted_at__isnull=True)),
    )
    result = {level: counts[level] for level in windows}
    result["ok"] = counts["known"] - sum(result.values())
    return {
        **{level: result[level] for level in LEVELS},
        "unknown": counts["unknown"],
        "not_started": counts["not_started"],
    }


def completion_counts(items: QuerySet[ApprovalItem], period: Period) -> dict[str, int]:
    done = completed_in(items, period).annotate(
        completed_on=TruncDate("completed_at", tzinfo=timezone.get_default_timezone())
    )
    return done.aggregate(
        total=Count("pk"),
        on_time=Count("pk", filter=Q(due_date__isnull=False, completed_on__lte=F("due_date"))),
        late=Count("pk", filter=Q(due_date__isnull=False, completed_on__gt=F("due_date"))),
        unknown=Count("pk", filter=Q(due_date__isnull=True)),
    )


def supervision_counts(*, user: User, department: Any, period: Period) -> dict[str, int]:
    supervisions = Supervision.objects.filter(case__in=cases_visible_to(user=user))
    if department is not None:
        supervisions = supervisions.filter(department_id=department)
    _, end = period.bounds()
    opened = Q(opened_on__gte=period.start, opened_on__lte=period.end)
    return supervisions.aggregate(
        opened=Count("pk", filter=opened),
        closed=Count("pk", filter=period.contains("closed_at")),
        acknowledged=Count("pk", filter=opened & Q(acknowledged_at__isnull=False)),
        responded=Count("pk", filter=opened & Q(responded_at__isnull=False)),
        open_at_end=Count(
            "pk",
            filter=Q(opened_on__lte=period.end) & (Q(closed_at__isnull=True) | Q(closed_at__gte=end)),
        ),
    )


def deadline_stats(*, user: User, period: Period, department: Any = None) -> dict[str, Any]:
    items = items_for_stats(user=user, department=department)
    done = completed_in(items, period)
    by_department = working_days_used_rows(done, by="department__name")
    return {
        "from": period.start,
        "to": period.end,
        "as_of": period.as_of,
        "department": department,
        "levels": level_counts(items, period),
        "completed": completion_counts(items, period),
        "working_days": working_days_used(done),
        "working_days_by_department": [{"department": row.pop("key"), **row} for row in by_department],
        "supervisions": supervision_counts(user=user, department=department, period=period),
    }
