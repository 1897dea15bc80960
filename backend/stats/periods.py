"""The reporting period and the set-based working-day figures the statistics share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest, Least, TruncDate
from django.utils import timezone

from backend.cases.models import TERMINAL_BLZT, ApprovalItem, CalendarDay
from backend.common.errors import ValidationFailed

# A period longer than this is refused: figures are for months and years, not for all time.
MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def as_of(self) -> dt.date:
        """The day levels and open counts are read on: the period's end, or today if it ends later."""
        return min(self.end, timezone.localdate())

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start 00:00, day after end 00:00) in local time."""
        zone = timezone.get_default_timezone()
        return (
            dt.datetime.combine(self.start, dt.time.min, tzinfo=zone),
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        )

    def contains(self, field: str) -> Q:
        """Q for a datetime `field` inside the period."""
        start, end = self.bounds()
        return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def period_from(*, start: str | None, end: str | None) -> Period:
    """`from` and `to` (YYYY-MM-DD, inclusive); default: the 1st of January of `to`'s year to today."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, dt.date | None] = {}
    for name, raw in (("from", start), ("to", end)):
        parsed[name] = None
        if raw:
            try:
                parsed[name] = dt.date.fromisoformat(raw)
            except ValueError:
                errors[name] = ["Expected a date YYYY-MM-DD."]
    if errors:
        raise ValidationFailed("from and to are dates YYYY-MM-DD.", errors=errors)
    to = parsed["to"] or timezone.localdate()
    since = parsed["from"] or dt.date(to.year, 1, 1)
    if since > to:
        message = f"from ({since.isoformat()}) is after to ({to.isoformat()})."
        raise ValidationFailed(message, code="invalid_period", errors={"from": [message]})
    if (to - since).days > MAX_PERIOD_DAYS:
        message = f"A period is at most {MAX_PERIOD_DAYS} days."
        raise ValidationFailed(message, code="invalid_period", errors={"to": [message]})
    return Period(start=since, end=to)


def completed_in(items: QuerySet[ApprovalItem], period: Period) -> QuerySet[ApprovalItem]:
    """Items done with a result (11–13) inside the period."""
    return items.filter(period.contains("completed_at"), status__in=TERMINAL_BLZT)


def _workdays_between(low: Any, high: Any) -> Subquery:
    """Working days `low < day <= high` of the calendar, for each row (a correlated count)."""
    days = (
        CalendarDay.objects.filter(is_workday=True, date__gt=low, date__lte=high)
        .order_by()
        .annotate(group=Value(1))
        .values("group")
        .annotate(n=Count("date"))
        .values("n")
    )
    return Coalesce(Subquery(days, output_field=IntegerField()), 0)


def with_working_days_used(items: QuerySet[ApprovalItem]) -> QuerySet[ApprovalItem]:
    """Annotate `used_working_days` of finished items with a recorded due date.

    The due date already carries the pauses, so the days used are the promised days minus the
    working days left between completion and due date, or plus the working days past it.
    """
    items = items.filter(due_date__isnull=False, completed_at__isnull=False).annotate(
        completed_on=TruncDate("completed_at", tzinfo=timezone.get_default_timezone())
    )
    between = _workdays_between(
        Least(OuterRef("completed_on"), OuterRef("due_date")), Greatest(OuterRef("completed_on"), OuterRef("due_date"))
    )
    return items.annotate(
        used_working_days=Case(
            When(completed_on__lte=F("due_date"), then=F("promised_days") - between),
            default=F("promised_days") + between,
            output_field=IntegerField(),
        )
    )


def _used_aggregates() -> dict[str, Any]:
    return {
        "items": Count("pk"),
        "average_used_working_days": Avg("used_working_days"),
        "average_statutory_days": Avg("statutory_days"),
        "average_promised_days": Avg("promised_days"),
        "over_statutory": Count("pk", filter=Q(used_working_days__gt=F("statutory_days"))),
        "over_promised": Count("pk", filter=Q(used_working_days__gt=F("promised_days"))),
    }


def _used_figures(row: dict[str, Any]) -> dict[str, Any]:
    statutory = row["average_statutory_days"]
    used = row["average_used_working_days"]
    return {
        "items": row["items"],
        "average_used_working_days": round(used, 2) if used is not None else None,
        "average_statutory_days": round(statutory, 2) if statutory is not None else None,
        "average_promised_days": round(row["average_promised_days"], 2) if row["average_promised_days"] else None,
        "used_of_statutory": round(used / statutory, 3) if used is not None and statutory else None,
        "over_statutory": row["over_statutory"],
        "over_promised": row["over_promised"],
    }


def working_days_used(items: QuerySet[ApprovalItem]) -> dict[str, Any]:
    """Finished items: how many, the average working days used, the average statutory and promised
    limits, the share of the statutory limit used, and how many exceeded each limit."""
    return _used_figures(with_working_days_used(items).aggregate(**_used_aggregates()))


def working_days_used_rows(items: QuerySet[ApprovalItem], *, by: str) -> list[dict[str, Any]]:
    """`working_days_used` per value of `by` (a field path: `name`, `department__name`), as `key`."""
    rows = with_working_days_used(items).values(by).annotate(**_used_aggregates()).order_by(by)
    return [{"key": row[by], **_used_figures(row)} for row in rows]
