"""Loading a year's holiday arrangement as one document: the 2027 example, each refusal, iCalendar."""

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command

from backend.accounts.tests.factories import UserFactory
from backend.cases.calendar import (
    InvalidCalendarYear,
    calendar_status,
    calendar_year_load,
    calendar_year_summaries,
    document_from_ics,
)
from backend.cases.deadlines import add_working_days, calendar_horizon, calendar_load, items_deadlines
from backend.cases.models import ApprovalItem, CalendarDay, CalendarYear
from backend.cases.tests.factories import EXAMPLE_2027, SHANGHAI, ApprovalItemFactory, notice_2027
from backend.common.errors import PermissionDenied

pytestmark = pytest.mark.django_db

D = dt.date


def calendar_snapshot():
    """Everything a load may write: the years and every day from 2026 on."""
    return (
        list(CalendarYear.objects.order_by("year").values_list("year", "origin", "source", "holidays", "workdays")),
        list(CalendarDay.objects.filter(date__gte=D(2026, 1, 1)).order_by("date").values_list()),
    )


def refused(document, *, year=2027):
    before = calendar_snapshot()
    with pytest.raises(InvalidCalendarYear) as error:
        calendar_year_load(year=year, document=document, by=None)
    assert error.value.code == "invalid_calendar_year"
    assert error.value.status == 400
    assert calendar_snapshot() == before
    return error.value.errors


# --- loading 2027 ---------------------------------------------------------------------------


def test_loading_2027_from_the_notice_shaped_file_moves_the_horizon_and_counts_across_its_spring_festival():
    out = io.StringIO()
    call_command("calendar_load", str(EXAMPLE_2027), stdout=out)
    assert "Loaded 2027" in out.getvalue()
    assert "250 working days, 7 holidays (28 days), 6 make-up workdays" in out.getvalue()
    assert "The calendar now ends on 2027-12-31." in out.getvalue()
    assert calendar_horizon() == D(2027, 12, 31)
    calendar = calendar_load(start=D(2026, 12, 1))
    # Thu 4 Feb accepted: Fri 5 (1), 6–13 off, Sun 14 make-up (2), Mon 15 (3), Tue 16 (4), Wed 17 (5).
    assert add_working_days(calendar, D(2027, 2, 4), 5) == D(2027, 2, 17)
    # … Thu 18 (6), Fri 19 (7), Sat 20 make-up (8), Mon 22 (9), Tue 23 (10).
    assert add_working_days(calendar, D(2027, 2, 4), 10) == D(2027, 2, 23)
    # Across the year end: Mon 28 Dec 2026 accepted: 29, 30, 31 (3), 1–3 Jan off, Mon 4 (4), Tue 5 (5).
    assert add_working_days(calendar, D(2026, 12, 28), 5) == D(2027, 1, 5)
    days = {day.date: day for day in CalendarDay.objects.filter(date__year=2027)}
    assert len(days) == 365
    assert (days[D(2027, 2, 8)].is_workday, days[D(2027, 2, 8)].name, days[D(2027, 2, 8)].source) == (
        False,
        "春节",
        "notice",
    )
    assert (days[D(2027, 2, 14)].is_workday, days[D(2027, 2, 14)].name) == (True, "春节调休上班")
    assert (days[D(2027, 9, 26)].is_workday, days[D(2027, 9, 26)].name) == (True, "国庆节调休上班")
    assert (days[D(2027, 3, 6)].is_workday, days[D(2027, 3, 6)].name) == (False, "")  # an ordinary Saturday
    assert (days[D(2027, 3, 8)].is_workday, days[D(2027, 3, 8)].name) == (True, "")
    row = CalendarYear.objects.get(year=2027)
    assert (row.origin, row.loaded_by) == ("notice", None)
    summary = calendar_year_summaries([row])[2027]
    assert summary["holidays"][1] == {"name": "春节", "start": "2027-02-06", "end": "2027-02-13", "days": 8}
    assert summary["workdays"] == ["2027-02-14", "2027-02-20", "2027-04-25", "2027-05-08", "2027-09-26", "2027-10-09"]
    assert (summary["working_days"], summary["holiday_days"]) == (250, 28)


def test_an_item_due_across_the_2027_spring_festival_gets_its_exact_due_date():
    item = ApprovalItemFactory(accepted_at=dt.datetime(2027, 2, 4, 10, tzinfo=SHANGHAI), promised_days=10)
    calendar_year_load(year=2027, document=notice_2027(), by=UserFactory(is_superuser=True))
    items = list(ApprovalItem.objects.filter(pk=item.pk).prefetch_related("status_events"))
    deadline = items_deadlines(items=items, as_of=D(2027, 2, 10))[item.pk]
    assert (deadline.due_date, deadline.remaining_working_days, deadline.warning_level) == (D(2027, 2, 23), 9, "ok")
    assert deadline.error is None
    on_19th = items_deadlines(items=items, as_of=D(2027, 2, 19))[item.pk]
    assert (on_19th.remaining_working_days, on_19th.warning_level) == (3, "supervise3")


def test_loading_recomputes_the_stored_due_dates_that_needed_the_year():
    waiting = ApprovalItemFactory(accepted_at=dt.datetime(2026, 11, 30, 10, tzinfo=SHANGHAI), promised_days=25)
    earlier = ApprovalItemFactory(accepted_at=dt.datetime(2026, 12, 1, 10, tzinfo=SHANGHAI), promised_days=5)
    ApprovalItem.objects.filter(pk=earlier.pk).update(due_date=D(2026, 12, 8))
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    waiting.refresh_from_db()
    # 1–4, 7–11, 14–18, 21–25 and 28–31 Dec (23), 1–3 Jan off, Mon 4 (24), Tue 5 Jan (25).
    assert waiting.due_date == D(2027, 1, 5)
    earlier.refresh_from_db()
    assert earlier.due_date == D(2026, 12, 8)


def test_reloading_a_year_replaces_it_and_recomputes():
    item = ApprovalItemFactory(accepted_at=dt.datetime(2026, 11, 30, 10, tzinfo=SHANGHAI), promised_days=25)
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    item.refresh_from_db()
    assert item.due_date == D(2027, 1, 5)
    corrected = notice_2027()
    corrected["source"] = "更正后的通知"
    corrected["holidays"][0] = {"name": "元旦", "start": "2027-01-01", "end": "2027-01-04"}
    admin = UserFactory(is_superuser=True)
    calendar_year_load(year=2027, document=corrected, by=admin)
    row = CalendarYear.objects.get(year=2027)
    assert (row.source, row.loaded_by, row.holidays[0]["end"]) == ("更正后的通知", admin, "2027-01-04")
    assert CalendarDay.objects.get(date=D(2027, 1, 4)).is_workday is False
    assert CalendarYear.objects.filter(year=2027).count() == 1
    item.refresh_from_db()
    # … 1–4 Jan off, Tue 5 (24), Wed 6 (25).
    assert item.due_date == D(2027, 1, 6)


def test_loading_keeps_administrators_single_day_overrides():
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    CalendarDay.objects.filter(date=D(2027, 3, 9)).update(is_workday=False, name="台风停工", source="override")
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    day = CalendarDay.objects.get(date=D(2027, 3, 9))
    assert (day.is_workday, day.name, day.source) == (False, "台风停工", "override")
    summary = calendar_year_summaries([CalendarYear.objects.get(year=2027)])[2027]
    assert (summary["working_days"], summary["overridden_days"]) == (249, ["2027-03-09"])


def test_a_year_after_2027_loads_once_2027_is_loaded():
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    document = {"source": "示例", "holidays": [{"name": "元旦", "start": "2028-01-01", "end": "2028-01-03"}]}
    calendar_year_load(year=2028, document=document, by=None)
    assert calendar_horizon() == D(2028, 12, 31)
    assert CalendarDay.objects.get(date=D(2028, 1, 3)).is_workday is False  # Monday


def test_reseeding_from_chinesecalendar_keeps_a_year_loaded_from_a_notice():
    corrected = {"source": "通知", "holidays": [{"name": "元旦", "start": "2026-01-01", "end": "2026-01-05"}]}
    calendar_year_load(year=2026, document=corrected, by=None)
    out = io.StringIO()
    call_command("reseed_calendar", stdout=out)
    assert "kept 0 overrides and 1 years loaded from a notice" in out.getvalue()
    assert CalendarDay.objects.get(date=D(2026, 1, 5)).is_workday is False
    assert CalendarYear.objects.get(year=2026).origin == "notice"
    assert CalendarYear.objects.get(year=2025).origin == "seed"


def test_seeded_years_are_listed_with_their_holidays():
    row = CalendarYear.objects.get(year=2026)
    assert row.origin == "seed"
    assert row.source.startswith("chinesecalendar")
    assert {"name": "春节", "start": "2026-02-15", "end": "2026-02-23"} in row.holidays
    assert row.workdays == ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]
    assert CalendarYear.objects.order_by("year").first().year == 2004


def test_only_administrators_load_a_year():
    before = calendar_snapshot()
    with pytest.raises(PermissionDenied):
        calendar_year_load(year=2027, document=notice_2027(), by=UserFactory())
    assert calendar_snapshot() == before


# --- every refusal, nothing written ---------------------------------------------------------


def test_a_date_outside_the_year_is_refused():
    document = notice_2027()
    document["holidays"][0] = {"name": "元旦", "start": "2026-12-31", "end": "2027-01-03"}
    errors = refused(document)
    assert errors == {
        "holidays[0].start": ["2026-12-31 is not in 2027; each year's notice is loaded as its own document."]
    }


def test_a_make_up_day_outside_the_year_is_refused():
    document = notice_2027()
    document["workdays"].append("2028-01-08")
    assert refused(document) == {
        "workdays[6]": ["2028-01-08 is not in 2027; each year's notice is loaded as its own document."]
    }


def test_a_range_ending_before_it_starts_is_refused():
    document = notice_2027()
    document["holidays"][1] = {"name": "春节", "start": "2027-02-13", "end": "2027-02-06"}
    document["workdays"] = ["2027-04-25"]
    assert refused(document) == {"holidays[1].end": ["The holiday ends (2027-02-06) before it starts (2027-02-13)."]}


def test_overlapping_holidays_are_refused():
    document = notice_2027()
    document["holidays"].append({"name": "国庆中秋", "start": "2027-10-07", "end": "2027-10-08"})
    assert refused(document) == {
        "holidays[7]": ["国庆中秋 2027-10-07..2027-10-08 overlaps 国庆节 2027-10-01..2027-10-07."]
    }


def test_a_make_up_day_inside_a_holiday_is_refused():
    document = notice_2027()
    document["workdays"].append("2027-02-07")
    assert refused(document) == {
        "workdays[6]": ["2027-02-07 is inside 春节 2027-02-06..2027-02-13; it cannot be worked."]
    }


def test_a_make_up_weekday_is_refused():
    document = notice_2027()
    document["workdays"].append("2027-02-15")
    assert refused(document) == {
        "workdays[6]": ["2027-02-15 is a Monday, already a working day; make-up days fall on weekends."]
    }


def test_a_make_up_day_listed_twice_is_refused():
    document = notice_2027()
    document["workdays"].append("2027-02-14")
    assert refused(document) == {"workdays[6]": ["2027-02-14 is listed twice."]}


def test_a_holiday_without_a_name_is_refused():
    document = notice_2027()
    document["holidays"][2]["name"] = "  "
    assert refused(document) == {"holidays[2].name": ["A holiday needs a name (e.g. 春节)."]}


def test_a_document_without_source_or_holidays_is_refused():
    assert refused({"workdays": []}) == {
        "source": ["Name the notice the arrangement comes from (e.g. 国办发明电〔2026〕N号)."],
        "holidays": ["A list of the year's holidays [{name, start, end}, …]; a notice names at least one."],
    }


def test_malformed_dates_and_unknown_fields_are_refused():
    document = notice_2027()
    document["holidays"][0] = {"name": "元旦", "start": "2027-02-30", "end": "01/03/2027", "days": 3}
    document["workday"] = []
    assert refused(document) == {
        "workday": ["Unknown field; a year is {source, holidays, workdays}."],
        "holidays[0].days": ["Unknown field; a holiday is {name, start, end}."],
        "holidays[0].start": ["2027-02-30 is not a date of the calendar."],
        "holidays[0].end": ["'01/03/2027' is not a date YYYY-MM-DD."],
    }


def test_a_document_far_larger_than_a_notice_is_refused():
    document = notice_2027()
    document["workdays"] = ["2027-03-06"] * 101
    assert refused(document) == {"workdays": ["At most 100 make-up workdays in a year, not 101."]}


def test_a_year_whose_previous_year_is_not_loaded_is_refused():
    document = {"source": "示例", "holidays": [{"name": "元旦", "start": "2028-01-01", "end": "2028-01-03"}]}
    assert refused(document, year=2028) == {
        "year": ["2027 is not loaded; load the years in order, 2027 before 2028, so the calendar has no gap."]
    }


def test_every_problem_is_listed_not_only_the_first():
    document = notice_2027()
    document["holidays"][0]["end"] = "2026-01-03"
    document["holidays"].append({"name": "国庆中秋", "start": "2027-10-07", "end": "2027-10-08"})
    document["workdays"] += ["2027-02-07", "2027-02-15"]
    errors = refused(document)
    assert errors == {
        "holidays[0].end": ["2026-01-03 is not in 2027; each year's notice is loaded as its own document."],
        "holidays[7]": ["国庆中秋 2027-10-07..2027-10-08 overlaps 国庆节 2027-10-01..2027-10-07."],
        "workdays[6]": ["2027-02-07 is inside 春节 2027-02-06..2027-02-13; it cannot be worked."],
        "workdays[7]": ["2027-02-15 is a Monday, already a working day; make-up days fall on weekends."],
    }


def test_a_year_that_is_not_a_number_is_refused(tmp_path):
    assert refused(notice_2027(), year="2027") == {"year": ["The year is a number from 2000 to 2100, not '2027'."]}
    path = tmp_path / "2027.json"
    path.write_text(json.dumps({**notice_2027(), "year": "next"}), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("calendar_load", str(path))
    assert "year: The year is a number from 2000 to 2100, not 'next'." in str(error.value)


def test_the_command_prints_every_problem_and_writes_nothing(tmp_path):
    document = notice_2027()
    document["year"] = 2027
    document["workdays"] += ["2027-02-07", "2027-02-15"]
    path = tmp_path / "2027.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    before = calendar_snapshot()
    with pytest.raises(CommandError) as error:
        call_command("calendar_load", str(path))
    assert str(error.value).splitlines() == [
        "The arrangement for 2027 has 2 problems; nothing was loaded.",
        "  workdays[6]: 2027-02-07 is inside 春节 2027-02-06..2027-02-13; it cannot be worked.",
        "  workdays[7]: 2027-02-15 is a Monday, already a working day; make-up days fall on weekends.",
    ]
    assert calendar_snapshot() == before


# --- iCalendar ------------------------------------------------------------------------------

FEED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//example//holiday feed//ZH
X-WR-CALNAME:示例节假日 2027
BEGIN:VEVENT
UID:1@example
SUMMARY:元旦
DTSTART;VALUE=DATE:20270101
DTEND;VALUE=DATE:20270104
END:VEVENT
{spring}
BEGIN:VEVENT
UID:3@example
SUMMARY:春节 补班
DTSTART;VALUE=DATE:20270214
DTEND;VALUE=DATE:20270215
END:VEVENT
BEGIN:VEVENT
UID:4@example
SUMMARY:春节调休上班
DTSTART;VALUE=DATE:20270220
END:VEVENT
BEGIN:VEVENT
UID:5@example
SUMMARY:国庆节（休）
DTSTART;VALUE=DATE:20271001
DTEND;VALUE=DATE:20271008
END:VEVENT
END:VCALENDAR
"""


def spring_days():
    # One event per day, as many feeds publish them.
    return "\n".join(
        f"BEGIN:VEVENT\nUID:2-{n}@example\nSUMMARY:春节 假期 第{n}天/共8天\n"
        f"DTSTART;VALUE=DATE:{(D(2027, 2, 5) + dt.timedelta(days=n)):%Y%m%d}\nEND:VEVENT"
        for n in range(1, 9)
    )


def test_an_icalendar_feed_is_read_with_exclusive_ends_and_make_up_days_marked_by_ban():
    year, document = document_from_ics(FEED.format(spring=spring_days()).encode())
    assert year == 2027
    assert document == {
        "source": "示例节假日 2027",
        "holidays": [
            {"name": "元旦", "start": "2027-01-01", "end": "2027-01-03"},
            {"name": "春节", "start": "2027-02-06", "end": "2027-02-13"},
            {"name": "国庆节", "start": "2027-10-01", "end": "2027-10-07"},
        ],
        "workdays": ["2027-02-14", "2027-02-20"],
    }


def test_the_command_loads_an_icalendar_file(tmp_path):
    path = tmp_path / "holidays.ics"
    path.write_text(FEED.format(spring=spring_days()), encoding="utf-8")
    out = io.StringIO()
    call_command("calendar_load", str(path), "--source", "示例订阅", stdout=out)
    assert "Loaded 2027 from 示例订阅" in out.getvalue()
    row = CalendarYear.objects.get(year=2027)
    assert (row.source, len(row.holidays), row.workdays) == ("示例订阅", 3, ["2027-02-14", "2027-02-20"])
    calendar = calendar_load(start=D(2027, 1, 1))
    assert add_working_days(calendar, D(2027, 2, 4), 10) == D(2027, 2, 23)


def test_a_feed_of_several_years_needs_the_year_and_is_clipped_to_it(tmp_path):
    feed = FEED.format(
        spring="BEGIN:VEVENT\nUID:x@example\nSUMMARY:元旦\nDTSTART;VALUE=DATE:20271231\n"
        "DTEND;VALUE=DATE:20280103\nEND:VEVENT\n" + spring_days()
    )
    with pytest.raises(InvalidCalendarYear) as error:
        document_from_ics(feed.encode())
    assert error.value.errors == {"year": ["The file holds events of the years 2027, 2028; say which year to load."]}
    year, document = document_from_ics(feed.encode(), year=2027)
    assert document["holidays"][-1] == {"name": "元旦", "start": "2027-12-31", "end": "2027-12-31"}


def test_an_icalendar_feed_with_a_make_up_weekday_is_refused_like_json(tmp_path):
    path = tmp_path / "bad.ics"
    path.write_text(
        FEED.format(spring=spring_days()).replace(
            "SUMMARY:春节调休上班\nDTSTART;VALUE=DATE:20270220", "SUMMARY:春节调休上班\nDTSTART;VALUE=DATE:20270222"
        ),
        encoding="utf-8",
    )
    before = calendar_snapshot()
    with pytest.raises(CommandError) as error:
        call_command("calendar_load", str(path))
    assert "workdays[1]: 2027-02-22 is a Monday, already a working day" in str(error.value)
    assert calendar_snapshot() == before


def test_a_file_that_is_not_icalendar_is_refused(tmp_path):
    path = tmp_path / "bad.ics"
    path.write_text("BEGIN:VCALENDAR\nthis is not\n", encoding="utf-8")
    before = calendar_snapshot()
    with pytest.raises(CommandError) as error:
        call_command("calendar_load", str(path))
    assert "not an iCalendar file" in str(error.value)
    assert calendar_snapshot() == before


# --- the horizon warning --------------------------------------------------------------------


def test_administrators_are_warned_60_days_before_the_horizon():
    assert calendar_status(today=D(2026, 11, 1)) == {
        "horizon": D(2026, 12, 31),
        "days_to_horizon": 60,
        "horizon_warning": True,
        "horizon_warning_days": 60,
        "next_year": 2027,
    }
    assert calendar_status(today=D(2026, 10, 31))["horizon_warning"] is False
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    assert calendar_status(today=D(2026, 12, 1))["horizon_warning"] is False
    assert calendar_status(today=D(2026, 12, 1))["days_to_horizon"] == 395


def test_deadlines_due_warns_about_the_horizon():
    out = io.StringIO()
    call_command("deadlines_due", "--as-of", "2026-12-01", stdout=out)
    assert out.getvalue().splitlines()[1] == (
        "The working-day calendar ends on 2026-12-31, in 30 days: load the State Council's 2027 arrangement "
        "(PUT /api/v1/calendar/years/2027 or `manage.py calendar_load FILE`)."
    )
    out = io.StringIO()
    call_command("deadlines_due", "--as-of", "2026-12-01", "--json", stdout=out)
    calendar = json.loads(out.getvalue())["calendar"]
    assert (calendar["horizon"], calendar["days_to_horizon"], calendar["horizon_warning"]) == ("2026-12-31", 30, True)
    out = io.StringIO()
    call_command("deadlines_due", "--as-of", "2026-10-01", stdout=out)
    assert "working-day calendar ends" not in out.getvalue()


def test_example_file_is_labelled_as_not_official():
    document = json.loads(EXAMPLE_2027.read_text(encoding="utf-8"))
    assert document["source"].startswith("EXAMPLE ONLY, NOT OFFICIAL DATA")
    assert document["year"] == 2027
