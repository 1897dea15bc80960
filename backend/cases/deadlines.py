"""Working-day deadlines of approval items and standard times of approval cases.

Conventions (the same everywhere: API, `deadlines_due`, admin):

- Dates are local dates in `settings.TIME_ZONE` (Asia/Shanghai).
- The day an item is accepted is not counted: the clock starts on the next working day, and the
  item is due at the end (23:59:59 local) of the N-th counted working day, N = `promised_days`.
- The clock pauses during corrections (BLZT 6→7) and special procedures (9→10). The day a pause
  starts still counts (the department worked on it); the days after it, up to and including the
  day the pause ends, do not (like acceptance, the clock restarts the day after). While a pause is
  still open, the due date is projected as if it ended today, and the remaining working days stay
  frozen at their value when the pause began.
- Remaining working days at date T: the counted working days after T up to the due date; 0 on the
  due day itself (still due, not yet overdue); negative (working days past the due date) once
  overdue. Overdue means T is after the due date.
- Warning levels by remaining working days: > WARN → ok; ≤ WARN (7) → warn7; ≤ REMIND (5) →
  remind5; ≤ SUPERVISE (3, down to 0) → supervise3; past the due date → overdue.
- The clock stops for good when an item reaches a final state (11–13 approved/tolerance/refused,
  and also 14/15 withdrawn/revoked and 4/5 not accepted/returned: nothing is left for the
  department to do). A stopped item is `overdue` if it was finished after its due date, else `ok`.
- The calendar is the `CalendarDay` table: seeded from `chinesecalendar`, and each later year loaded
  from the State Council's notice (`backend.cases.calendar`); admin overrides win. Its horizon is
  the last day of the last year loaded. Nothing is guessed past it, but what the known days decide
  is kept: an item due inside the horizon stays overdue (or at its level) after it, and only the
  values that truly need unknown days are null (`ItemDeadline.error["unknown"]` lists them).
- Total standard time of a case is in calendar days since `opened_at`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings
from django.utils import timezone

from backend.common.errors import CalendarHorizonExceeded

# --- calendar -------------------------------------------------------------------------------

ONE_DAY = dt.timedelta(days=1)
CORRECTION_START, CORRECTION_END = 6, 7
SPECIAL_START, SPECIAL_END = 9, 10
ACCEPTED_STATUSES = frozenset({3, 8})
# Statuses after which the department has nothing left to do on the item.
CLOCK_STOPPING_STATUSES = frozenset({4, 5, 11, 12, 13, 14, 15})

HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


@dataclass(frozen=True)
class WorkingCalendar:
    """Known days `first..last` (inclusive) and which of them are working days."""

    first: dt.date
    last: dt.date
    workdays: frozenset[dt.date]

    def is_workday(self, day: dt.date, *, purpose: str = "") -> bool:
        if day > self.last or day < self.first:
            raise horizon_error(self, day, purpose=purpose)
        return day in self.workdays

    @cached_property
    def ordered_workdays(self) -> list[dt.date]:
        """The working days in order: counting without pauses is two binary searches, not a walk."""
        return sorted(self.workdays)


def horizon_error(calendar: WorkingCalendar, day: dt.date, *, purpose: str = "") -> CalendarHorizonExceeded:
    what = f" ({purpose})" if purpose else ""
    if day < calendar.first:
        message = (
            f"The working-day calendar starts on {calendar.first.isoformat()}; {day.isoformat()}{what} is before it."
        )
    else:
        message = (
            f"The working-day calendar ends on {calendar.last.isoformat()} (calendar horizon); "
            f"computing {day.isoformat()}{what} would need days after it. An administrator loads the "
            f"State Council's {calendar.last.year + 1} arrangement with PUT /api/v1/calendar/years/"
            f"{calendar.last.year + 1} or `manage.py calendar_load FILE`."
        )
    return CalendarHorizonExceeded(
        message,
        extra={
            "horizon": calendar.last.isoformat(),
            "calendar_starts": calendar.first.isoformat(),
            "needed": day.isoformat(),
        },
    )


def calendar_from_days(days: Iterable[tuple[dt.date, bool]], *, start: dt.date | None = None) -> WorkingCalendar:
    """A calendar of the contiguous run of `days` (sorted by date) from `start` (or the first day)."""
    first: dt.date | None = None
    last: dt.date | None = None
    workdays: set[dt.date] = set()
    for day, is_workday in days:
        if first is None:
            if start is not None and day != start:
                break
            first = day
        elif day != last + dt.timedelta(days=1):
            break
        last = day
        if is_workday:
            workdays.add(day)
    if first is None:
        first = start or dt.date.min + dt.timedelta(days=1)
        last = first - dt.timedelta(days=1)
    return WorkingCalendar(first=first, last=last, workdays=frozenset(workdays))


def calendar_load(*, start: dt.date | None = None) -> WorkingCalendar:
    """The calendar from `start` (default: the first known day) to the horizon, from the database."""
    from backend.cases.models import CalendarDay

    qs = CalendarDay.objects.order_by("date").values_list("date", "is_workday")
    if start is not None:
        qs = qs.filter(date__gte=start)
    calendar = calendar_from_days(qs.iterator(chunk_size=4000))
    if start is not None and calendar.last < calendar.first:
        # Everything asked for is past the data: keep the real horizon, so errors name it.
        last = CalendarDay.objects.filter(date__lt=start).order_by("-date").values_list("date", flat=True).first()
        if last is not None:
            return WorkingCalendar(first=start, last=last, workdays=frozenset())
    return calendar


def calendar_horizon() -> dt.date | None:
    """The last day of the calendar (`None` when the table is empty)."""
    calendar = calendar_load()
    return calendar.last if calendar.last >= calendar.first else None


def chinesecalendar_days(*, start_year: int = 2004) -> list[tuple[dt.date, bool, str]]:
    """Every day of every year the installed `chinesecalendar` knows, from `start_year`."""
    import chinese_calendar

    rows: list[tuple[dt.date, bool, str]] = []
    year = start_year
    while True:
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
        except NotImplementedError:
            break
        day = dt.date(year, 1, 1)
        while day.year == year:
            is_workday = chinese_calendar.is_workday(day)
            _, holiday = chinese_calendar.get_holiday_detail(day)
            name = HOLIDAY_NAMES.get(holiday or "", holiday or "")
            if name and is_workday:
                name = f"{name}调休上班"
            rows.append((day, is_workday, name))
            day += dt.timedelta(days=1)
        year += 1
    return rows


# --- pure working-day arithmetic -----------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Days `after < day <= until` do not count."""

    after: dt.date
    until: dt.date
    kind: str  # correction | special_procedure
    is_open: bool = False

    def covers(self, day: dt.date) -> bool:
        return self.after < day <= self.until


def pauses_from_events(events: Sequence[tuple[int, dt.date]], *, as_of: dt.date) -> list[Pause]:
    """Pauses from (status, local date) events in time order; an open pause runs until `as_of`."""
    pauses: list[Pause] = []
    open_starts: dict[str, dt.date] = {}
    kinds = {
        CORRECTION_START: ("correction", True),
        CORRECTION_END: ("correction", False),
        SPECIAL_START: ("special_procedure", True),
        SPECIAL_END: ("special_procedure", False),
    }
    for status, day in events:
        if day > as_of or status not in kinds:
            continue
        kind, is_start = kinds[status]
        if is_start:
            open_starts.setdefault(kind, day)
        elif kind in open_starts:
            pauses.append(Pause(after=open_starts.pop(kind), until=day, kind=kind))
    for kind, start in open_starts.items():
        pauses.append(Pause(after=start, until=max(start, as_of), kind=kind, is_open=True))
    return pauses


def _counts(calendar: WorkingCalendar, day: dt.date, pauses: Sequence[Pause], purpose: str) -> bool:
    return calendar.is_workday(day, purpose=purpose) and not any(p.covers(day) for p in pauses)


def _days_outside_pauses(*, after: dt.date, until: dt.date, pauses: Sequence[Pause]) -> int:
    """Calendar days `after < day <= until` no pause covers (by intervals: `until` may be far away)."""
    if until <= after:
        return 0
    covered = 0
    reach = after
    for pause in sorted(pauses, key=lambda p: p.after):
        start, end = max(pause.after, reach), min(pause.until, until)
        if end > start:
            covered += (end - start).days
            reach = end
    return (until - after).days - covered


def add_working_days(
    calendar: WorkingCalendar, start: dt.date, days: int, *, pauses: Sequence[Pause] = (), purpose: str = ""
) -> dt.date:
    """The day on which the `days`-th counted working day after `start` ends (`start` itself not counted)."""
    if not pauses and days > 0 and start >= calendar.first - ONE_DAY:
        ordered = calendar.ordered_workdays
        target = bisect.bisect_right(ordered, start) + days - 1
        if target < len(ordered):
            return ordered[target]
        # Where the walk below stops: the first day past the horizon.
        raise horizon_error(calendar, max(start, calendar.last) + ONE_DAY, purpose=purpose)
    day = start
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if _counts(calendar, day, pauses, purpose):
            counted += 1
    return day


def working_days_between(
    calendar: WorkingCalendar, after: dt.date, until: dt.date, *, pauses: Sequence[Pause] = (), purpose: str = ""
) -> int:
    """Counted working days `after < day <= until` (0 when `until <= after`)."""
    if not pauses and until > after and after >= calendar.first - ONE_DAY:
        if until > calendar.last:
            raise horizon_error(calendar, max(after, calendar.last) + ONE_DAY, purpose=purpose)
        ordered = calendar.ordered_workdays
        return bisect.bisect_right(ordered, until) - bisect.bisect_right(ordered, after)
    day = after
    counted = 0
    while day < until:
        day += dt.timedelta(days=1)
        if _counts(calendar, day, pauses, purpose):
            counted += 1
    return counted


@dataclass(frozen=True)
class Thresholds:
    warn: int = 7
    remind: int = 5
    supervise: int = 3

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            warn=settings.DEADLINE_WARN_DAYS,
            remind=settings.DEADLINE_REMIND_DAYS,
            supervise=settings.DEADLINE_SUPERVISE_DAYS,
        )


def warning_level_for(remaining: int, *, is_overdue: bool, thresholds: Thresholds) -> str:
    if is_overdue:
        return "overdue"
    if remaining <= thresholds.supervise:
        return "supervise3"
    if remaining <= thresholds.remind:
        return "remind5"
    if remaining <= thresholds.warn:
        return "warn7"
    return "ok"


@dataclass(frozen=True)
class ItemDeadline:
    clock: str  # not_started | running | paused | stopped | unknown (calendar problem)
    due_date: dt.date | None = None
    remaining_working_days: int | None = None
    warning_level: str | None = None
    paused_working_days: int = 0
    pauses: tuple[Pause, ...] = ()
    error: dict[str, Any] | None = None

    @property
    def is_overdue(self) -> bool:
        return self.warning_level == "overdue"

    @property
    def first_overdue_on(self) -> dt.date | None:
        return self.due_date + dt.timedelta(days=1) if self.is_overdue and self.due_date else None

    @property
    def due_at(self) -> dt.datetime | None:
        if self.due_date is None:
            return None
        end = dt.datetime.combine(self.due_date, dt.time(23, 59, 59))
        return timezone.make_aware(end, timezone.get_default_timezone())


def item_deadline(
    calendar: WorkingCalendar,
    *,
    accepted_on: dt.date | None,
    promised_days: int,
    events: Sequence[tuple[int, dt.date]],
    stopped_on: dt.date | None,
    as_of: dt.date,
    thresholds: Thresholds,
) -> ItemDeadline:
    """The deadline state of one item at `as_of` (pure).

    Past the calendar's horizon it keeps what the known days decide. A due date inside the horizon
    gives the level at any later date (overdue stays overdue). A due date beyond it is unknown, but
    while `as_of` is inside the horizon the remaining working days are still exact (the limit minus
    the days already counted), and past it the level is kept whenever every possible value of the
    unknown days leads to the same level. Only what truly needs unknown days is null; `error` says
    why and lists it in `unknown`. Raises CalendarHorizonExceeded only for days before the calendar.
    """
    if accepted_on is None or accepted_on > as_of:
        return ItemDeadline(clock="not_started")
    if accepted_on < calendar.first:
        raise horizon_error(calendar, accepted_on, purpose="acceptance")
    if stopped_on is not None and stopped_on > as_of:
        stopped_on = None
    evaluated_on = min(as_of, stopped_on) if stopped_on else as_of
    pauses = tuple(pauses_from_events(events, as_of=evaluated_on))
    if stopped_on is not None:
        clock = "stopped"
    else:
        clock = "paused" if any(p.is_open for p in pauses) else "running"
    unknown: list[str] = []
    problem: CalendarHorizonExceeded | None = None
    remaining: int | None = None
    level: str | None = None
    try:
        due: dt.date | None = add_working_days(calendar, accepted_on, promised_days, pauses=pauses, purpose="due date")
    except CalendarHorizonExceeded as error:
        due, problem = None, error
        unknown.append("due_date")
    if due is not None:
        is_overdue = evaluated_on > due
        if not is_overdue:
            remaining = working_days_between(calendar, evaluated_on, due, pauses=pauses, purpose="remaining days")
        else:
            try:
                remaining = -working_days_between(calendar, due, evaluated_on, purpose="days overdue")
            except CalendarHorizonExceeded as error:
                problem = error
                unknown.append("remaining_working_days")
        if stopped_on is not None:
            level = "overdue" if is_overdue else "ok"
        else:
            level = warning_level_for(remaining or 0, is_overdue=is_overdue, thresholds=thresholds)
    else:
        # The due date lies after the horizon, so after every known day: the counted days up to the
        # horizon are fewer than the limit, and each unknown day may or may not count.
        counted = working_days_between(calendar, accepted_on, min(evaluated_on, calendar.last), pauses=pauses)
        unknown_days = _days_outside_pauses(after=max(calendar.last, accepted_on), until=evaluated_on, pauses=pauses)
        most = promised_days - counted
        least = most - unknown_days
        if unknown_days == 0:
            remaining = most
        else:
            unknown.append("remaining_working_days")
        # At least one counted day still ahead: not due yet, so not overdue whatever the unknown days are.
        if least >= 1:
            if stopped_on is not None:
                level = "ok"
            else:
                low = warning_level_for(least, is_overdue=False, thresholds=thresholds)
                high = warning_level_for(most, is_overdue=False, thresholds=thresholds)
                level = low if low == high else None
    if level is None:
        unknown.append("warning_level")
        clock = "unknown"
    paused_days = 0
    for p in pauses:
        until = min(p.until, due) if due is not None else p.until
        if until > calendar.last:
            until = calendar.last
            if "paused_working_days" not in unknown:
                unknown.append("paused_working_days")
        paused_days += working_days_between(calendar, max(p.after, accepted_on), until)
    return ItemDeadline(
        clock=clock,
        due_date=due,
        remaining_working_days=remaining,
        warning_level=level,
        paused_working_days=paused_days,
        pauses=pauses,
        error={**deadline_error_of(problem), "unknown": unknown} if problem is not None and unknown else None,
    )


def deadline_error_of(error: CalendarHorizonExceeded) -> dict[str, Any]:
    return {"code": error.code, "detail": error.message, **error.extra}


# --- promises of tolerance acceptance ------------------------------------------------------


def promise_state(*, promised_by: dt.date | None, received_on: dt.date | None, as_of: dt.date) -> str | None:
    """received | pending | overdue for a material promised under tolerance acceptance."""
    if promised_by is None:
        return "received" if received_on else None
    if received_on is not None and received_on <= as_of:
        return "received" if received_on <= promised_by else "received_late"
    return "overdue" if as_of > promised_by else "pending"


# --- total standard time of a case ---------------------------------------------------------


def standard_days_for(*, investment_type: str, is_simple_low_risk: bool, override: int | None) -> int:
    if override is not None:
        return override
    if is_simple_low_risk:
        return settings.STANDARD_DAYS_SIMPLE_LOW_RISK
    if investment_type in {"state_owned", "government"}:
        return settings.STANDARD_DAYS_STATE_OWNED
    return settings.STANDARD_DAYS_PRIVATE


@dataclass
class CaseDeadline:
    standard_days: int
    elapsed_days: int
    remaining_days: int
    is_over_standard: bool
    item_levels: dict[str, int] = field(default_factory=dict)
    next_due_at: dt.datetime | None = None
    items_with_errors: int = 0
    items_level_unknown: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "standard_days": self.standard_days,
            "elapsed_days": self.elapsed_days,
            "remaining_days": self.remaining_days,
            "is_over_standard": self.is_over_standard,
            "item_levels": self.item_levels,
            "next_due_at": self.next_due_at,
            "items_with_errors": self.items_with_errors,
            "items_level_unknown": self.items_level_unknown,
        }


def case_deadline(
    *, standard_days: int, opened_on: dt.date, as_of: dt.date, items: Iterable[ItemDeadline]
) -> CaseDeadline:
    elapsed = max(0, (as_of - opened_on).days)
    levels = {level: 0 for level in ("ok", "warn7", "remind5", "supervise3", "overdue")}
    next_due: dt.datetime | None = None
    errors = 0
    level_unknown = 0
    for item in items:
        if item.error:
            errors += 1
        if item.clock == "unknown":
            level_unknown += 1
        if item.warning_level:
            levels[item.warning_level] += 1
        if item.clock in {"running", "paused"} and item.due_at and (next_due is None or item.due_at < next_due):
            next_due = item.due_at
    return CaseDeadline(
        standard_days=standard_days,
        elapsed_days=elapsed,
        remaining_days=standard_days - elapsed,
        is_over_standard=elapsed > standard_days,
        item_levels=levels,
        next_due_at=next_due,
        items_with_errors=errors,
        items_level_unknown=level_unknown,
    )


def local_date(value: dt.datetime | None) -> dt.date | None:
    return timezone.localdate(value) if value is not None else None


# --- services: deadlines of stored items ---------------------------------------------------


# An item read for many at once (the daily run) may come with its local dates already computed by
# the database: `local_events` [(status, local date, occurred_at or None)] in time order, and
# `accepted_on` (the local date of `accepted_at`), so 100,000 items cost no time-zone conversion.


def _events_of(item: Any) -> list[tuple[int, dt.date, dt.datetime]]:
    local = getattr(item, "local_events", None)
    if local is not None:
        return local
    return [
        (event.status, timezone.localdate(event.occurred_at), event.occurred_at) for event in item.status_events.all()
    ]


def item_accepted_on(item: Any, events: Sequence[tuple[int, dt.date, dt.datetime]] | None = None) -> dt.date | None:
    if item.accepted_at is not None:
        return getattr(item, "accepted_on", None) or timezone.localdate(item.accepted_at)
    for status, day, _ in events if events is not None else _events_of(item):
        if status in ACCEPTED_STATUSES:
            return day
    return None


def item_stopped_on(
    item: Any, events: Sequence[tuple[int, dt.date, dt.datetime]] | None, *, as_of: dt.date
) -> dt.date | None:
    if item.status not in CLOCK_STOPPING_STATUSES:
        return None
    if item.completed_at is not None:
        return timezone.localdate(item.completed_at)
    stopping = [day for status, day, _ in (events if events is not None else _events_of(item)) if status == item.status]
    return stopping[-1] if stopping else as_of


def items_deadlines(
    *, items: Sequence[Any], as_of: dt.date, calendar: WorkingCalendar | None = None
) -> dict[Any, ItemDeadline]:
    """Deadline state of each item (status_events prefetched); calendar problems are per item, never raised."""
    thresholds = Thresholds.from_settings()
    prepared = []
    starts = []
    for item in items:
        events = _events_of(item)
        accepted_on = item_accepted_on(item, events)
        prepared.append((item, events, accepted_on))
        if accepted_on is not None:
            starts.append(accepted_on)
    if calendar is None and starts:
        calendar = calendar_load(start=min(min(starts), as_of))
    result: dict[Any, ItemDeadline] = {}
    for item, events, accepted_on in prepared:
        try:
            result[item.pk] = item_deadline(
                calendar,
                accepted_on=accepted_on,
                promised_days=item.promised_days,
                events=[(status, day) for status, day, _ in events],
                stopped_on=item_stopped_on(item, events, as_of=as_of),
                as_of=as_of,
                thresholds=thresholds,
            )
        except CalendarHorizonExceeded as error:
            result[item.pk] = ItemDeadline(
                clock="unknown",
                error={**deadline_error_of(error), "unknown": ["due_date", "remaining_working_days", "warning_level"]},
            )
    return result


RECORD_BATCH = 5000


def item_deadlines_record(
    *, items: Sequence[Any], as_of: dt.date, calendar: WorkingCalendar | None = None
) -> dict[Any, ItemDeadline]:
    """Compute and store `due_date`, and `first_overdue_on` the first time an item is found overdue.

    Changed items are written in batches (one UPDATE per 5,000, from one JSON parameter): loading a year
    may move every open item's due date. `first_overdue_on` is only ever filled, never replaced,
    also against a concurrent run.
    """
    from django.db import connection

    from backend.cases.models import ApprovalItem

    deadlines = items_deadlines(items=items, as_of=as_of, calendar=calendar)
    changed: list[tuple[Any, dt.date | None, dt.date | None]] = []
    for item in items:
        deadline = deadlines[item.pk]
        # A due date the calendar no longer decides is cleared, never left stale.
        due_changes = item.due_date != deadline.due_date
        first_overdue = deadline.first_overdue_on if item.first_overdue_on is None else None
        if due_changes or first_overdue is not None:
            changed.append((item.pk, deadline.due_date, first_overdue))
            item.due_date = deadline.due_date
            item.first_overdue_on = item.first_overdue_on or first_overdue
    table = connection.ops.quote_name(ApprovalItem._meta.db_table)
    for offset in range(0, len(changed), RECORD_BATCH):
        document = json.dumps(
            [
                {
                    "id": str(pk),
                    "due_date": due.isoformat() if due else None,
                    "first": first.isoformat() if first else None,
                }
                for pk, due, first in changed[offset : offset + RECORD_BATCH]
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS item SET due_date = v.due_date, "  # noqa: S608 - one parameter only
                "first_overdue_on = COALESCE(item.first_overdue_on, v.first) "
                "FROM jsonb_to_recordset(%s::jsonb) AS v(id uuid, due_date date, first date) WHERE item.id = v.id",
                [document],
            )
    return deadlines


def case_standard_days(case: Any) -> int:
    return standard_days_for(
        investment_type=case.project.investment_type,
        is_simple_low_risk=case.project.is_simple_low_risk,
        override=case.standard_days_override,
    )


def case_deadline_of(*, case: Any, as_of: dt.date, item_deadlines: Iterable[ItemDeadline]) -> CaseDeadline:
    return case_deadline(
        standard_days=case_standard_days(case),
        opened_on=timezone.localdate(case.opened_at),
        as_of=as_of,
        items=item_deadlines,
    )
