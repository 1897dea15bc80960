"""Working-day deadlines on the seeded national calendar (chinesecalendar 2004–2026)."""

import datetime as dt
import io

import pytest
from django.core.management import call_command

from backend.cases.deadlines import (
    Thresholds,
    add_working_days,
    calendar_from_days,
    calendar_load,
    item_deadline,
    item_deadlines_record,
    items_deadlines,
    promise_state,
    standard_days_for,
    working_days_between,
)
from backend.cases.models import ApprovalItem, Blzt, CalendarDay, ItemStatusEvent
from backend.cases.tests.factories import SHANGHAI, ApprovalItemFactory
from backend.common.errors import CalendarHorizonExceeded

pytestmark = pytest.mark.django_db

D = dt.date
T = Thresholds(warn=7, remind=5, supervise=3)


def deadline(accepted_on, days, *, as_of, events=(), stopped_on=None):
    return item_deadline(
        calendar_load(start=D(2026, 1, 1)),
        accepted_on=accepted_on,
        promised_days=days,
        events=list(events),
        stopped_on=stopped_on,
        as_of=as_of,
        thresholds=T,
    )


def test_migration_seeds_the_2026_holidays_and_make_up_days():
    days = dict(
        CalendarDay.objects.filter(date__range=(D(2026, 2, 13), D(2026, 3, 1))).values_list("date", "is_workday")
    )
    assert [d.day for d, work in sorted(days.items()) if not work] == [15, 16, 17, 18, 19, 20, 21, 22, 23, 1]
    assert days[D(2026, 2, 14)] is True  # Saturday make-up workday
    assert days[D(2026, 2, 28)] is True  # Saturday make-up workday
    assert CalendarDay.objects.get(date=D(2026, 9, 20)).is_workday is True  # Sunday make-up
    assert CalendarDay.objects.get(date=D(2026, 10, 10)).is_workday is True  # Saturday make-up
    assert (
        list(
            CalendarDay.objects.filter(date__range=(D(2026, 10, 1), D(2026, 10, 7)), is_workday=True).values_list(
                "date"
            )
        )
        == []
    )
    assert CalendarDay.objects.get(date=D(2026, 10, 1)).name == "国庆节"
    assert CalendarDay.objects.get(date=D(2026, 10, 10)).name == "国庆节调休上班"
    assert calendar_load().last == D(2026, 12, 31)
    assert calendar_load().first == D(2004, 1, 1)


def test_deadline_across_the_2026_spring_festival():
    calendar = calendar_load(start=D(2026, 1, 1))
    # Thu 12 Feb accepted: Fri 13 (1), Sat 14 make-up (2), 15–23 off, Tue 24 (3), 25 (4), 26 (5).
    assert add_working_days(calendar, D(2026, 2, 12), 5) == D(2026, 2, 26)
    # … Fri 27 (6), Sat 28 make-up (7), Mon 2 Mar (8), 3 (9), 4 (10).
    assert add_working_days(calendar, D(2026, 2, 12), 10) == D(2026, 3, 4)
    assert working_days_between(calendar, D(2026, 2, 14), D(2026, 2, 24)) == 1


def test_deadline_across_national_day_2026():
    calendar = calendar_load(start=D(2026, 1, 1))
    # Fri 18 Sep accepted: Sat 19 off, Sun 20 make-up (1), 21–24 (2–5).
    assert add_working_days(calendar, D(2026, 9, 18), 5) == D(2026, 9, 24)
    # Tue 29 Sep accepted: Wed 30 (1), 1–7 Oct off, Thu 8 (2), Fri 9 (3), Sat 10 make-up (4), Mon 12 (5).
    assert add_working_days(calendar, D(2026, 9, 29), 5) == D(2026, 10, 12)


def test_due_at_is_the_end_of_the_last_working_day_in_shanghai_time():
    result = deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 2))
    assert result.due_date == D(2026, 3, 16)
    assert result.due_at.isoformat() == "2026-03-16T23:59:59+08:00"
    assert result.remaining_working_days == 10
    assert result.clock == "running"


def test_computing_past_the_calendar_horizon_raises_a_clear_error():
    calendar = calendar_load(start=D(2026, 1, 1))
    with pytest.raises(CalendarHorizonExceeded) as error:
        add_working_days(calendar, D(2026, 12, 20), 10)
    assert error.value.code == "calendar_horizon"
    assert error.value.status == 409
    assert error.value.extra == {"horizon": "2026-12-31", "calendar_starts": "2026-01-01", "needed": "2027-01-01"}
    assert "ends on 2026-12-31" in error.value.message
    # Within the horizon it still works: 21 Dec … 31 Dec holds 9 working days.
    assert add_working_days(calendar, D(2026, 12, 20), 9) == D(2026, 12, 31)


def test_horizon_problem_is_reported_per_item_not_raised():
    near = ApprovalItemFactory(accepted_at=dt.datetime(2026, 12, 20, 10, tzinfo=SHANGHAI), promised_days=10)
    fine = ApprovalItemFactory(accepted_at=dt.datetime(2026, 12, 1, 10, tzinfo=SHANGHAI), promised_days=5)
    items = list(ApprovalItem.objects.filter(pk__in=[near.pk, fine.pk]).prefetch_related("status_events"))
    result = items_deadlines(items=items, as_of=D(2026, 12, 21))
    assert result[near.pk].due_date is None
    # Ten days minus Mon 21 Dec: the remaining days and the level are known without 2027.
    assert (result[near.pk].remaining_working_days, result[near.pk].warning_level) == (9, "ok")
    assert result[near.pk].error["code"] == "calendar_horizon"
    assert result[near.pk].error["horizon"] == "2026-12-31"
    assert result[near.pk].error["unknown"] == ["due_date"]
    assert result[fine.pk].due_date == D(2026, 12, 8)
    assert result[fine.pk].warning_level == "overdue"


def test_correction_pause_moves_the_due_date_by_the_paused_working_days():
    # Without a pause: accepted Mon 2 Mar, 10 working days → Mon 16 Mar.
    events = [(Blzt.CORRECTION_START, D(2026, 3, 4)), (Blzt.CORRECTION_END, D(2026, 3, 10))]
    result = deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 11), events=events)
    # Paused: 5, 6, 9, 10 March (4 working days); the start day 4 March still counts.
    assert result.due_date == D(2026, 3, 20)
    assert result.paused_working_days == 4
    assert result.remaining_working_days == 7
    assert result.clock == "running"


def test_special_procedure_pause_and_correction_pause_add_up():
    events = [
        (Blzt.CORRECTION_START, D(2026, 3, 4)),
        (Blzt.CORRECTION_END, D(2026, 3, 10)),
        (Blzt.SPECIAL_PROCEDURE_START, D(2026, 3, 11)),
        (Blzt.SPECIAL_PROCEDURE_END, D(2026, 3, 12)),
    ]
    result = deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 13), events=events)
    assert result.due_date == D(2026, 3, 23)
    assert result.paused_working_days == 5


def test_open_pause_freezes_the_remaining_days_and_projects_the_due_date():
    events = [(Blzt.SPECIAL_PROCEDURE_START, D(2026, 3, 4))]
    on_10th = deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 10), events=events)
    on_12th = deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 12), events=events)
    assert on_10th.clock == "paused"
    assert on_10th.remaining_working_days == 8  # 3 and 4 March were counted before the pause
    assert on_10th.due_date == D(2026, 3, 20)
    assert on_12th.remaining_working_days == 8
    assert on_12th.due_date == D(2026, 3, 24)


def test_events_after_as_of_are_ignored():
    events = [(Blzt.CORRECTION_START, D(2026, 3, 4)), (Blzt.CORRECTION_END, D(2026, 3, 10))]
    result = deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 3), events=events)
    assert result.due_date == D(2026, 3, 16)
    assert result.paused_working_days == 0


@pytest.mark.parametrize(
    ("as_of", "remaining", "level"),
    [
        (D(2026, 3, 4), 8, "ok"),
        (D(2026, 3, 5), 7, "warn7"),
        (D(2026, 3, 6), 6, "warn7"),
        (D(2026, 3, 9), 5, "remind5"),
        (D(2026, 3, 10), 4, "remind5"),
        (D(2026, 3, 11), 3, "supervise3"),
        (D(2026, 3, 14), 1, "supervise3"),  # Saturday: Monday the 16th is left
        (D(2026, 3, 16), 0, "supervise3"),  # the due day itself: due, not yet overdue
        (D(2026, 3, 17), -1, "overdue"),
        (D(2026, 3, 21), -4, "overdue"),  # Saturday: 17–20 March are past
    ],
)
def test_warning_levels_at_exact_remaining_working_days(as_of, remaining, level):
    result = deadline(D(2026, 3, 2), 10, as_of=as_of)
    assert result.due_date == D(2026, 3, 16)
    assert (result.remaining_working_days, result.warning_level) == (remaining, level)


def test_thresholds_come_from_settings(settings):
    settings.DEADLINE_WARN_DAYS = 9
    item = ApprovalItemFactory(accepted_at=dt.datetime(2026, 3, 2, 9, tzinfo=SHANGHAI), promised_days=10)
    items = list(ApprovalItem.objects.filter(pk=item.pk).prefetch_related("status_events"))
    assert items_deadlines(items=items, as_of=D(2026, 3, 3))[item.pk].warning_level == "warn7"
    settings.DEADLINE_WARN_DAYS = 7
    assert items_deadlines(items=items, as_of=D(2026, 3, 3))[item.pk].warning_level == "ok"


def test_terminal_item_stops_the_clock():
    on_time = deadline(D(2026, 3, 2), 10, as_of=D(2026, 4, 1), stopped_on=D(2026, 3, 12))
    late = deadline(D(2026, 3, 2), 10, as_of=D(2026, 4, 1), stopped_on=D(2026, 3, 18))
    assert (on_time.clock, on_time.warning_level, on_time.remaining_working_days) == ("stopped", "ok", 2)
    assert (late.clock, late.warning_level, late.remaining_working_days) == ("stopped", "overdue", -2)


def test_not_yet_accepted_item_has_no_deadline():
    result = deadline(None, 10, as_of=D(2026, 3, 2))
    assert (result.clock, result.due_date, result.warning_level) == ("not_started", None, None)


def test_first_overdue_on_is_recorded_once():
    item = ApprovalItemFactory(accepted_at=dt.datetime(2026, 3, 2, 9, tzinfo=SHANGHAI), promised_days=10)
    items = list(ApprovalItem.objects.filter(pk=item.pk).prefetch_related("status_events"))
    item_deadlines_record(items=items, as_of=D(2026, 3, 16))
    item.refresh_from_db()
    assert (item.due_date, item.first_overdue_on) == (D(2026, 3, 16), None)
    item_deadlines_record(items=items, as_of=D(2026, 3, 20))
    item.refresh_from_db()
    assert item.first_overdue_on == D(2026, 3, 17)
    # A later correction moves the due date but the first overdue date stays recorded.
    ItemStatusEvent.objects.create(
        item=item, status=Blzt.CORRECTION_START, occurred_at=dt.datetime(2026, 3, 3, tzinfo=SHANGHAI)
    )
    ItemStatusEvent.objects.create(
        item=item, status=Blzt.CORRECTION_END, occurred_at=dt.datetime(2026, 3, 13, tzinfo=SHANGHAI)
    )
    items = list(ApprovalItem.objects.filter(pk=item.pk).prefetch_related("status_events"))
    item_deadlines_record(items=items, as_of=D(2026, 3, 20))
    item.refresh_from_db()
    assert (item.due_date, item.first_overdue_on) == (D(2026, 3, 26), D(2026, 3, 17))


def test_admin_override_changes_the_deadline_and_survives_reseed():
    CalendarDay.objects.filter(date=D(2026, 3, 9)).update(is_workday=False, name="台风停工", source="override")
    assert deadline(D(2026, 3, 2), 10, as_of=D(2026, 3, 2)).due_date == D(2026, 3, 17)
    out = io.StringIO()
    call_command("reseed_calendar", stdout=out)
    assert "the calendar now ends on 2026-12-31" in out.getvalue()
    day = CalendarDay.objects.get(date=D(2026, 3, 9))
    assert (day.is_workday, day.name, day.source) == (False, "台风停工", "override")
    assert CalendarDay.objects.get(date=D(2026, 3, 10)).source == "seed"
    assert CalendarDay.objects.count() == (D(2026, 12, 31) - D(2004, 1, 1)).days + 1


def test_a_gap_in_the_calendar_is_its_horizon():
    calendar = calendar_from_days([(D(2027, 1, 1), False), (D(2027, 1, 2), True), (D(2027, 1, 4), True)])
    assert calendar.last == D(2027, 1, 2)
    with pytest.raises(CalendarHorizonExceeded):
        add_working_days(calendar, D(2027, 1, 1), 2)


def test_promise_of_a_tolerance_material_has_its_own_state():
    assert promise_state(promised_by=D(2026, 3, 10), received_on=None, as_of=D(2026, 3, 10)) == "pending"
    assert promise_state(promised_by=D(2026, 3, 10), received_on=None, as_of=D(2026, 3, 11)) == "overdue"
    assert promise_state(promised_by=D(2026, 3, 10), received_on=D(2026, 3, 9), as_of=D(2026, 3, 11)) == "received"
    assert promise_state(promised_by=D(2026, 3, 10), received_on=D(2026, 3, 12), as_of=D(2026, 3, 13)) == (
        "received_late"
    )
    assert promise_state(promised_by=None, received_on=None, as_of=D(2026, 3, 13)) is None


def test_standard_days_by_project_type(settings):
    assert standard_days_for(investment_type="private", is_simple_low_risk=False, override=None) == 160
    assert standard_days_for(investment_type="foreign", is_simple_low_risk=False, override=None) == 160
    assert standard_days_for(investment_type="private", is_simple_low_risk=True, override=None) == 60
    assert standard_days_for(investment_type="state_owned", is_simple_low_risk=False, override=None) == 210
    assert standard_days_for(investment_type="government", is_simple_low_risk=False, override=None) == 210
    assert standard_days_for(investment_type="government", is_simple_low_risk=False, override=90) == 90


def test_recording_never_replaces_a_first_overdue_date_another_run_set():
    item = ApprovalItemFactory(accepted_at=dt.datetime(2026, 3, 2, 9, tzinfo=SHANGHAI), promised_days=10)
    items = list(ApprovalItem.objects.filter(pk=item.pk).prefetch_related("status_events"))
    # Another run recorded it first (our copy still says None).
    ApprovalItem.objects.filter(pk=item.pk).update(first_overdue_on=D(2026, 3, 18))
    item_deadlines_record(items=items, as_of=D(2026, 3, 20))
    item.refresh_from_db()
    assert (item.due_date, item.first_overdue_on) == (D(2026, 3, 16), D(2026, 3, 18))


def test_recording_writes_many_items_in_batches(monkeypatch):
    from backend.cases import deadlines

    monkeypatch.setattr(deadlines, "RECORD_BATCH", 2)
    items = [
        ApprovalItemFactory(accepted_at=dt.datetime(2026, 3, 2, 9, tzinfo=SHANGHAI), promised_days=days)
        for days in (1, 2, 3)
    ]
    fresh = list(ApprovalItem.objects.filter(pk__in=[i.pk for i in items]).prefetch_related("status_events"))
    item_deadlines_record(items=fresh, as_of=D(2026, 3, 5))
    stored = dict(ApprovalItem.objects.filter(pk__in=[i.pk for i in items]).values_list("promised_days", "due_date"))
    assert stored == {1: D(2026, 3, 3), 2: D(2026, 3, 4), 3: D(2026, 3, 5)}
    overdue = dict(ApprovalItem.objects.values_list("promised_days", "first_overdue_on"))
    assert overdue == {1: D(2026, 3, 4), 2: D(2026, 3, 5), 3: None}
