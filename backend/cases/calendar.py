"""A year's official holiday arrangement, validated as one document and loaded atomically.

Every December the State Council publishes the next year's arrangement (国务院办公厅关于部分节假日
安排的通知): named holiday ranges and the weekend days worked in exchange (调休上班). It is loaded as
one document per year, `{"source", "holidays": [{"name", "start", "end"}], "workdays": [date]}`;
`PUT /api/v1/calendar/years/{year}` and `manage.py calendar_load` (JSON or iCalendar) both reach
`calendar_year_load`, which refuses the whole document, listing every problem, or writes every day
of the year. A loaded year's days follow the usual rule (Monday–Friday work, weekends off) plus the
notice; administrators' single-day overrides (typhoon closures …) are kept, as on reseeding.

The calendar's horizon is the last day of the last year loaded; years are loaded in order (a year
only after the one before it), so the run of known days never has a gap.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import ExtractYear
from django.utils import timezone

from backend.accounts.models import User
from backend.cases.deadlines import CLOCK_STOPPING_STATUSES, calendar_horizon, item_deadlines_record
from backend.cases.models import ApprovalItem, CalendarDay, CalendarYear
from backend.common.errors import PermissionDenied, ValidationFailed

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_SOURCE_LENGTH = 500
MAKE_UP_SUFFIX = "调休上班"
# CalendarDay.name holds the holiday's name, and on make-up days the name plus the suffix.
MAX_HOLIDAY_NAME_LENGTH = 50 - len(MAKE_UP_SUFFIX)
DOCUMENT_KEYS = {"year", "source", "holidays", "workdays"}
HOLIDAY_KEYS = {"name", "start", "end"}
# A notice names about seven holidays and a dozen make-up days; far more is not a notice.
MAX_ENTRIES = 100
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidCalendarYear(ValidationFailed):
    code = "invalid_calendar_year"


@dataclass(frozen=True)
class Holiday:
    name: str
    start: dt.date
    end: dt.date

    def covers(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Arrangement:
    """A validated year: its holidays in date order and its make-up workdays."""

    year: int
    source: str
    holidays: tuple[Holiday, ...]
    workdays: tuple[dt.date, ...]

    def days(self) -> list[tuple[dt.date, bool, str]]:
        """(date, is_workday, name) for every day of the year."""
        make_up = set(self.workdays)
        rows = []
        day = dt.date(self.year, 1, 1)
        while day.year == self.year:
            holiday = next((h for h in self.holidays if h.covers(day)), None)
            if holiday is not None:
                rows.append((day, False, holiday.name))
            elif day in make_up:
                rows.append((day, True, f"{self._nearest_holiday(day)}{MAKE_UP_SUFFIX}"))
            else:
                rows.append((day, day.weekday() < 5, ""))
            day += dt.timedelta(days=1)
        return rows

    def _nearest_holiday(self, day: dt.date) -> str:
        # The notice names each make-up day under a holiday; the document only lists dates, and the
        # make-up day always adjoins its holiday, so the nearest one is the one it belongs to.
        def distance(holiday: Holiday) -> int:
            return min(abs((holiday.start - day).days), abs((day - holiday.end).days))

        return min(self.holidays, key=distance).name if self.holidays else ""


# --- validating a document ------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    @property
    def count(self) -> int:
        return sum(len(messages) for messages in self.errors.values())


def _date(value: Any, field: str, year: int, problems: _Problems) -> dt.date | None:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        problems.add(field, f"{value!r} is not a date YYYY-MM-DD.")
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        problems.add(field, f"{value} is not a date of the calendar.")
        return None
    if day.year != year:
        problems.add(field, f"{value} is not in {year}; each year's notice is loaded as its own document.")
        return None
    return day


def _year_problem(year: Any) -> str | None:
    if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
        return f"The year is a number from {FIRST_YEAR} to {LAST_YEAR}, not {year!r}."
    return None


def arrangement_from_document(*, year: int, document: Any) -> tuple[Arrangement | None, dict[str, list[str]]]:
    """The arrangement of `document` for `year`, or every problem found (field → messages); no database."""
    problems = _Problems()
    problem = _year_problem(year)
    if problem:
        problems.add("year", problem)
        return None, problems.errors
    if not isinstance(document, dict):
        problems.add("non_field_errors", "The arrangement is a JSON object {source, holidays, workdays}.")
        return None, problems.errors
    for key in sorted(set(document) - DOCUMENT_KEYS, key=str):
        problems.add(str(key), "Unknown field; a year is {source, holidays, workdays}.")
    if "year" in document and document["year"] != year:
        problems.add("year", f"The document is for {document['year']!r}, not {year}.")

    source = document.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.add("source", "Name the notice the arrangement comes from (e.g. 国办发明电〔2026〕N号).")
    elif len(source.strip()) > MAX_SOURCE_LENGTH:
        problems.add("source", f"At most {MAX_SOURCE_LENGTH} characters.")

    holidays: list[tuple[int, Holiday]] = []
    raw_holidays = document.get("holidays")
    if not isinstance(raw_holidays, list) or not raw_holidays:
        problems.add("holidays", "A list of the year's holidays [{name, start, end}, …]; a notice names at least one.")
        raw_holidays = []
    elif len(raw_holidays) > MAX_ENTRIES:
        problems.add("holidays", f"At most {MAX_ENTRIES} holidays in a year, not {len(raw_holidays)}.")
        raw_holidays = []
    for index, raw in enumerate(raw_holidays):
        field = f"holidays[{index}]"
        if not isinstance(raw, dict):
            problems.add(field, "A holiday is {name, start, end}.")
            continue
        for key in sorted(set(raw) - HOLIDAY_KEYS, key=str):
            problems.add(f"{field}.{key}", "Unknown field; a holiday is {name, start, end}.")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.add(f"{field}.name", "A holiday needs a name (e.g. 春节).")
            name = None
        elif len(name.strip()) > MAX_HOLIDAY_NAME_LENGTH:
            problems.add(f"{field}.name", f"At most {MAX_HOLIDAY_NAME_LENGTH} characters.")
            name = None
        start = _date(raw.get("start"), f"{field}.start", year, problems)
        end = _date(raw.get("end"), f"{field}.end", year, problems)
        if start and end and start > end:
            problems.add(f"{field}.end", f"The holiday ends ({end}) before it starts ({start}).")
        elif start and end and name:
            holidays.append((index, Holiday(name=name.strip(), start=start, end=end)))

    holidays.sort(key=lambda pair: (pair[1].start, pair[1].end))
    for (_, earlier), (index, later) in zip(holidays, holidays[1:], strict=False):
        if later.start <= earlier.end:
            problems.add(
                f"holidays[{index}]",
                f"{later.name} {later.start}..{later.end} overlaps {earlier.name} {earlier.start}..{earlier.end}.",
            )

    workdays: list[dt.date] = []
    raw_workdays = document.get("workdays", [])
    if not isinstance(raw_workdays, list):
        problems.add("workdays", "A list of the make-up workdays [YYYY-MM-DD, …] (may be empty).")
        raw_workdays = []
    elif len(raw_workdays) > MAX_ENTRIES:
        problems.add("workdays", f"At most {MAX_ENTRIES} make-up workdays in a year, not {len(raw_workdays)}.")
        raw_workdays = []
    for index, raw in enumerate(raw_workdays):
        field = f"workdays[{index}]"
        day = _date(raw, field, year, problems)
        if day is None:
            continue
        inside = next((h for _, h in holidays if h.covers(day)), None)
        if inside is not None:
            problems.add(field, f"{day} is inside {inside.name} {inside.start}..{inside.end}; it cannot be worked.")
        elif day.weekday() < 5:
            problems.add(
                field, f"{day} is a {day.strftime('%A')}, already a working day; make-up days fall on weekends."
            )
        elif day in workdays:
            problems.add(field, f"{day} is listed twice.")
        else:
            workdays.append(day)

    if problems:
        return None, problems.errors
    arrangement = Arrangement(
        year=year,
        source=source.strip(),
        holidays=tuple(holiday for _, holiday in holidays),
        workdays=tuple(sorted(workdays)),
    )
    return arrangement, {}


def _refuse(year: Any, errors: dict[str, list[str]]) -> InvalidCalendarYear:
    count = sum(len(messages) for messages in errors.values())
    return InvalidCalendarYear(
        f"The arrangement for {year} has {count} problem{'s' if count != 1 else ''}; nothing was loaded.",
        errors=errors,
    )


# --- loading --------------------------------------------------------------------------------


def calendar_year_load(*, year: int, document: Any, by: User | None) -> CalendarYear:
    """Load (or replace) `year` from its notice; `by=None` is the operator's command.

    Refuses the whole document with `invalid_calendar_year`, listing every problem; otherwise
    writes every day of the year, keeps administrators' overrides and recomputes the stored due
    dates that may depend on the year, all in one transaction.
    """
    if by is not None and not by.is_administrator:
        raise PermissionDenied("Only administrators may load a year's holiday arrangement.")
    arrangement, errors = arrangement_from_document(year=year, document=document)
    if _year_problem(year) is not None:
        raise _refuse(year, errors)
    with transaction.atomic():
        known = set(
            CalendarYear.objects.select_for_update().filter(year__in=[year - 1, year]).values_list("year", flat=True)
        )
        if "year" not in errors and year - 1 not in known:
            errors = {
                **errors,
                "year": [
                    f"{year - 1} is not loaded; load the years in order, {year - 1} before {year}, "
                    "so the calendar has no gap."
                ],
            }
        if errors or arrangement is None:
            raise _refuse(year, errors)
        overrides = set(
            CalendarDay.objects.filter(date__year=year, source=CalendarDay.Source.OVERRIDE).values_list(
                "date", flat=True
            )
        )
        CalendarDay.objects.bulk_create(
            [
                CalendarDay(date=day, is_workday=is_workday, name=name, source=CalendarDay.Source.NOTICE)
                for day, is_workday, name in arrangement.days()
                if day not in overrides
            ],
            update_conflicts=True,
            unique_fields=["date"],
            update_fields=["is_workday", "name", "source"],
        )
        row, _ = CalendarYear.objects.update_or_create(
            year=year,
            defaults={
                "origin": CalendarYear.Origin.NOTICE,
                "source": arrangement.source,
                "holidays": [
                    {"name": h.name, "start": h.start.isoformat(), "end": h.end.isoformat()}
                    for h in arrangement.holidays
                ],
                "workdays": [day.isoformat() for day in arrangement.workdays],
                "loaded_at": timezone.now(),
                "loaded_by": by,
            },
        )
        _recompute_due_dates(year=year)
    return row


def _recompute_due_dates(*, year: int) -> None:
    # A due date before the year cannot depend on it (days are counted forwards from acceptance);
    # every other open item may have moved, or become computable. Only the fields the arithmetic
    # reads are loaded: no case, project or department rows (about half the time for 10 000 items).
    items = list(
        ApprovalItem.objects.exclude(status__in=CLOCK_STOPPING_STATUSES)
        .filter(Q(due_date__isnull=True) | Q(due_date__gte=dt.date(year, 1, 1)))
        .only("id", "accepted_at", "promised_days", "status", "completed_at", "due_date", "first_overdue_on")
        .prefetch_related("status_events")
        .order_by("id")
    )
    if items:
        item_deadlines_record(items=items, as_of=timezone.localdate())


# --- the iCalendar form ---------------------------------------------------------------------

# Holiday feeds mark the worked weekend days by their summary: 补班, 上班, 调休上班, "班".
WORKDAY_MARK = "班"
NAME_SUFFIXES = ("假期", "放假", "（休）", "(休)", "休")


def _feed_name(summary: str) -> str:
    # Feeds write one event per day or range, e.g. "春节 假期 第1天/共8天" or "国庆节（休）".
    name = summary.split()[0] if summary.split() else ""
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def _event_days(component: Any) -> tuple[dt.date, dt.date] | None:
    start = component.get("DTSTART")
    if start is None:
        return None
    first = start.dt
    if isinstance(first, dt.datetime):
        first = timezone.localtime(first).date() if timezone.is_aware(first) else first.date()
    end = component.get("DTEND")
    if end is not None:
        after = end.dt
        if isinstance(after, dt.datetime):
            after = timezone.localtime(after).date() if timezone.is_aware(after) else after.date()
    elif component.get("DURATION") is not None:
        after = first + component.get("DURATION").dt
    else:
        after = first + dt.timedelta(days=1)  # RFC 5545: a DATE event without DTEND lasts one day
    last = max(first, after - dt.timedelta(days=1))  # DTEND is exclusive
    return first, last


def document_from_ics(content: bytes, *, year: int | None = None, source: str = "") -> tuple[int, dict[str, Any]]:
    """(year, document) from an iCalendar holiday feed: VEVENTs naming holidays, and make-up days
    whose summary contains 班. A feed of several years needs `year`; events are clipped to it."""
    from icalendar import Calendar

    try:
        calendar = Calendar.from_ical(content)
    except ValueError as error:
        raise InvalidCalendarYear(
            f"The file is not an iCalendar file: {error}", errors={"file": [f"Not iCalendar: {error}"]}
        ) from error
    events = []
    for component in calendar.walk("VEVENT"):
        days = _event_days(component)
        if days is not None:
            events.append((str(component.get("SUMMARY", "")).strip(), *days))
    years = sorted({day.year for _, first, last in events for day in (first, last)})
    if year is None:
        if len(years) != 1:
            found = ", ".join(map(str, years)) or "none"
            message = f"The file holds events of the years {found}; say which year to load."
            raise InvalidCalendarYear(message, errors={"year": [message]})
        year = years[0]
    holidays: list[dict[str, Any]] = []
    workdays: list[str] = []
    year_start, year_end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    for summary, first, last in sorted(events, key=lambda e: (e[1], e[2])):
        first, last = max(first, year_start), min(last, year_end)
        if first > last:
            continue
        if WORKDAY_MARK in summary:
            day = first
            while day <= last:
                if day.isoformat() not in workdays:
                    workdays.append(day.isoformat())
                day += dt.timedelta(days=1)
            continue
        name = _feed_name(summary)
        previous = holidays[-1] if holidays else None
        # Feeds with one event per day: join a day to the range of the same name it continues.
        if previous and previous["name"] == name and first <= previous["_last"] + dt.timedelta(days=1):
            previous["_last"] = max(previous["_last"], last)
        else:
            holidays.append({"name": name, "_first": first, "_last": last})
    label = source or str(calendar.get("X-WR-CALNAME", "")).strip() or "iCalendar holiday feed"
    return year, {
        "source": label,
        "holidays": [
            {"name": h["name"], "start": h["_first"].isoformat(), "end": h["_last"].isoformat()} for h in holidays
        ],
        "workdays": sorted(workdays),
    }


def document_from_file(
    content: bytes, *, name: str = "", year: int | None = None, source: str = ""
) -> tuple[Any, dict[str, Any]]:
    """(year, document) from an uploaded or local file: the JSON document (with its `year`, or
    `year` given) or an iCalendar feed. The year itself is validated by `calendar_year_load`."""
    if name.lower().endswith(".ics") or content.lstrip().startswith(b"BEGIN:VCALENDAR"):
        return document_from_ics(content, year=year, source=source)
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        message = f"The file is neither JSON nor iCalendar: {error}"
        raise InvalidCalendarYear(message, errors={"file": [message]}) from error
    if not isinstance(document, dict):
        message = "The JSON document is an object {year, source, holidays, workdays}."
        raise InvalidCalendarYear(message, errors={"file": [message]})
    chosen = year if year is not None else document.get("year")
    if chosen is None:
        message = "The document has no `year`; say which year it is."
        raise InvalidCalendarYear(message, errors={"year": [message]})
    return chosen, document


# --- reads ----------------------------------------------------------------------------------


def calendar_years() -> Any:
    """Every year the calendar knows (seeded or loaded); anyone signed in may read them."""
    return CalendarYear.objects.select_related("loaded_by").order_by("year")


def calendar_year_summaries(years: Sequence[CalendarYear]) -> dict[int, dict[str, Any]]:
    """Summaries of `years` with their working days as stored (overrides included), one query."""
    numbers = [row.year for row in years]
    counts = {
        row["year"]: row
        for row in CalendarDay.objects.filter(date__year__in=numbers)
        .annotate(year=ExtractYear("date"))
        .values("year")
        .annotate(
            working_days=Count("date", filter=Q(is_workday=True)),
            days=Count("date"),
            overridden=Count("date", filter=Q(source=CalendarDay.Source.OVERRIDE)),
        )
    }
    overridden: dict[int, list[str]] = {}
    if any(counts.get(n, {}).get("overridden") for n in numbers):
        for day in CalendarDay.objects.filter(date__year__in=numbers, source=CalendarDay.Source.OVERRIDE).values_list(
            "date", flat=True
        ):
            overridden.setdefault(day.year, []).append(day.isoformat())
    return {
        row.year: {
            "year": row.year,
            "origin": row.origin,
            "source": row.source,
            "working_days": counts.get(row.year, {}).get("working_days", 0),
            "holidays": [
                {**h, "days": (dt.date.fromisoformat(h["end"]) - dt.date.fromisoformat(h["start"])).days + 1}
                for h in row.holidays
            ],
            "workdays": list(row.workdays),
            "holiday_days": sum(
                (dt.date.fromisoformat(h["end"]) - dt.date.fromisoformat(h["start"])).days + 1 for h in row.holidays
            ),
            "overridden_days": sorted(overridden.get(row.year, [])),
            "loaded_at": row.loaded_at,
            "loaded_by": row.loaded_by.username if row.loaded_by_id else None,
        }
        for row in years
    }


def calendar_status(*, today: dt.date | None = None) -> dict[str, Any]:
    """How far the calendar reaches and whether administrators must load the next year."""
    today = today or timezone.localdate()
    horizon = calendar_horizon()
    days_to_horizon = (horizon - today).days if horizon else None
    warning_days = settings.CALENDAR_HORIZON_WARNING_DAYS
    return {
        "horizon": horizon,
        "days_to_horizon": days_to_horizon,
        "horizon_warning": days_to_horizon is None or days_to_horizon <= warning_days,
        "horizon_warning_days": warning_days,
        "next_year": horizon.year + 1 if horizon else None,
    }


def horizon_warning_text(status: dict[str, Any]) -> str:
    if status["horizon"] is None:
        return "The working-day calendar is empty: load a year (`manage.py calendar_load FILE`)."
    return (
        f"The working-day calendar ends on {status['horizon'].isoformat()}, in {status['days_to_horizon']} days: "
        f"load the State Council's {status['next_year']} arrangement "
        f"(PUT /api/v1/calendar/years/{status['next_year']} or `manage.py calendar_load FILE`)."
    )


# --- seeded years ---------------------------------------------------------------------------


def arrangement_of_days(days: Iterable[tuple[dt.date, bool, str]]) -> tuple[list[dict[str, str]], list[str]]:
    """(holidays, workdays) of one year's stored days: runs of named rest days, worked weekends."""
    holidays: list[dict[str, str]] = []
    workdays: list[str] = []
    previous: dt.date | None = None
    for day, is_workday, name in sorted(days):
        if is_workday and day.weekday() >= 5:
            workdays.append(day.isoformat())
        elif not is_workday and name and not name.endswith(MAKE_UP_SUFFIX):
            last = holidays[-1] if holidays else None
            if last and last["name"] == name and previous == day - dt.timedelta(days=1):
                last["end"] = day.isoformat()
            else:
                holidays.append({"name": name, "start": day.isoformat(), "end": day.isoformat()})
            previous = day
            continue
        previous = None
    return holidays, workdays


def calendar_seed(*, start_year: int = 2004) -> dict[str, int]:
    """Write the installed `chinesecalendar`'s days and years, keeping administrators' overrides and
    the years loaded from a notice (an administrator's explicit choice wins over a package upgrade)."""
    from importlib.metadata import version

    from backend.cases.deadlines import chinesecalendar_days

    with transaction.atomic():
        notice_years = set(
            CalendarYear.objects.filter(origin=CalendarYear.Origin.NOTICE).values_list("year", flat=True)
        )
        overrides = set(CalendarDay.objects.filter(source=CalendarDay.Source.OVERRIDE).values_list("date", flat=True))
        days = [row for row in chinesecalendar_days(start_year=start_year) if row[0].year not in notice_years]
        CalendarDay.objects.bulk_create(
            [
                CalendarDay(date=day, is_workday=is_workday, name=name, source=CalendarDay.Source.SEED)
                for day, is_workday, name in days
                if day not in overrides
            ],
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["date"],
            update_fields=["is_workday", "name", "source"],
        )
        by_year: dict[int, list[tuple[dt.date, bool, str]]] = {}
        for row in days:
            by_year.setdefault(row[0].year, []).append(row)
        source = f"chinesecalendar {version('chinesecalendar')}"
        for year, rows in by_year.items():
            holidays, workdays = arrangement_of_days(rows)
            CalendarYear.objects.update_or_create(
                year=year,
                defaults={
                    "origin": CalendarYear.Origin.SEED,
                    "source": source,
                    "holidays": holidays,
                    "workdays": workdays,
                    "loaded_at": timezone.now(),
                    "loaded_by": None,
                },
            )
    return {
        "seeded": sum(1 for row in days if row[0] not in overrides),
        "overrides_kept": len(overrides),
        "notice_years_kept": len(notice_years),
    }


# --- telling administrators -----------------------------------------------------------------


def calendar_horizon_notify(*, today: dt.date | None = None) -> list[Any]:
    """From CALENDAR_HORIZON_WARNING_DAYS before the horizon, tell every active administrator, once
    a day, to load the next year (in-app). Returns the notices sent now (none on a repeat run)."""
    from backend.accounts.models import Role
    from backend.notifications.models import NotificationKind
    from backend.notifications.services import notifications_send

    today = today or timezone.localdate()
    status = calendar_status(today=today)
    if not status["horizon_warning"]:
        return []
    administrators = User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(roles__contains=[Role.ADMINISTRATOR])
    )
    horizon = status["horizon"]
    return notifications_send(
        recipients=administrators,
        kind=NotificationKind.CALENDAR_HORIZON,
        subject=f"calendar:{horizon.isoformat() if horizon else 'empty'}",
        day=today,
        title=(
            f"工作日历将于 {horizon.isoformat()} 到期，请加载 {status['next_year']} 年节假日安排"
            if horizon
            else "工作日历为空，请加载节假日安排"
        ),
        body=horizon_warning_text(status),
        data={
            "horizon": horizon.isoformat() if horizon else None,
            "days_to_horizon": status["days_to_horizon"],
            "next_year": status["next_year"],
        },
    )
