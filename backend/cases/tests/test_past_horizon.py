"""Past the calendar's horizon (2026-12-31 with chinesecalendar 1.11.0) what the known days decide is kept."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import user_of_kind
from backend.cases.calendar import calendar_year_load
from backend.cases.deadlines import Thresholds, calendar_load, item_deadline, item_deadlines_record, items_deadlines
from backend.cases.models import ApprovalItem, Blzt
from backend.cases.tests.factories import SHANGHAI, ApprovalCaseFactory, ApprovalItemFactory, notice_2027

pytestmark = pytest.mark.django_db

D = dt.date
T = Thresholds(warn=7, remind=5, supervise=3)


def deadline(accepted_on, days, *, as_of, events=(), stopped_on=None):
    return item_deadline(
        calendar_load(start=D(2026, 11, 1)),
        accepted_on=accepted_on,
        promised_days=days,
        events=list(events),
        stopped_on=stopped_on,
        as_of=as_of,
        thresholds=T,
    )


def test_an_item_overdue_since_8_december_stays_overdue_in_january():
    # Mon 30 Nov accepted, 5 days: 1–4 and Mon 7 Dec; overdue from Tue 8 Dec.
    result = deadline(D(2026, 11, 30), 5, as_of=D(2027, 1, 5))
    assert (result.clock, result.due_date, result.warning_level) == ("running", D(2026, 12, 7), "overdue")
    assert result.first_overdue_on == D(2026, 12, 8)
    assert result.due_at.isoformat() == "2026-12-07T23:59:59+08:00"
    # How many working days overdue needs 1–5 January.
    assert result.remaining_working_days is None
    assert result.error["unknown"] == ["remaining_working_days"]
    assert (result.error["code"], result.error["horizon"], result.error["needed"]) == (
        "calendar_horizon",
        "2026-12-31",
        "2027-01-01",
    )


def test_an_item_finished_late_in_january_stays_overdue():
    result = deadline(D(2026, 11, 30), 5, as_of=D(2027, 1, 8), stopped_on=D(2027, 1, 4))
    assert (result.clock, result.warning_level, result.remaining_working_days) == ("stopped", "overdue", None)


def test_due_date_past_the_horizon_but_remaining_days_exact_while_today_is_inside():
    # Mon 21 Dec accepted, 10 days: 22–25 and Mon 28 Dec counted (5) by the 28th, 5 to go.
    result = deadline(D(2026, 12, 21), 10, as_of=D(2026, 12, 28))
    assert (result.due_date, result.remaining_working_days, result.warning_level) == (None, 5, "remind5")
    assert result.clock == "running"
    assert result.error["unknown"] == ["due_date"]


def test_a_level_every_unknown_day_agrees_on_is_kept():
    # Sun 20 Dec accepted, 25 days: 21–31 Dec give 9; 1–5 Jan may give 0–5, so 11–16 remain: ok either way.
    result = deadline(D(2026, 12, 20), 25, as_of=D(2027, 1, 5))
    assert (result.clock, result.due_date, result.remaining_working_days, result.warning_level) == (
        "running",
        None,
        None,
        "ok",
    )
    assert result.error["unknown"] == ["due_date", "remaining_working_days"]
    # Mon 28 Dec accepted, 10 days: 29–31 give 3; 1 Jan may give 0 or 1, so 6 or 7 remain: warn7 either way.
    assert deadline(D(2026, 12, 28), 10, as_of=D(2027, 1, 1)).warning_level == "warn7"


def test_only_a_level_that_needs_unknown_days_is_unknown():
    # Mon 21 Dec accepted, 10 days: 22–31 give 8; 1–5 Jan may give 0–5, so −3 … 2 remain: truly unknown.
    result = deadline(D(2026, 12, 21), 10, as_of=D(2027, 1, 5))
    assert (result.clock, result.due_date, result.remaining_working_days, result.warning_level) == (
        "unknown",
        None,
        None,
        None,
    )
    assert result.error["unknown"] == ["due_date", "remaining_working_days", "warning_level"]


def test_an_open_pause_covering_the_unknown_days_keeps_the_remaining_days_exact():
    # Special procedure since Mon 28 Dec, still open: 1–5 Jan would not count anyway.
    events = [(Blzt.SPECIAL_PROCEDURE_START, D(2026, 12, 28))]
    result = deadline(D(2026, 12, 21), 10, as_of=D(2027, 1, 5), events=events)
    assert (result.clock, result.remaining_working_days, result.warning_level) == ("paused", 5, "remind5")
    assert result.error["unknown"] == ["due_date", "paused_working_days"]


def test_the_case_summary_counts_every_overdue_item_past_the_horizon():
    official = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, region="370211")
    case = ApprovalCaseFactory()
    overdue = ApprovalItemFactory(case=case, accepted_at=dt.datetime(2026, 11, 30, 9, tzinfo=SHANGHAI), promised_days=5)
    ApprovalItemFactory(case=case, accepted_at=dt.datetime(2026, 12, 20, 9, tzinfo=SHANGHAI), promised_days=25)
    ApprovalItemFactory(case=case, accepted_at=dt.datetime(2026, 12, 21, 9, tzinfo=SHANGHAI), promised_days=10)
    client = APIClient()
    client.force_authenticate(official)
    summary = client.get(f"/api/v1/cases/{case.pk}/?as_of=2027-01-05").json()["deadline"]
    assert summary["item_levels"] == {"ok": 1, "warn7": 0, "remind5": 0, "supervise3": 0, "overdue": 1}
    assert (summary["items_with_errors"], summary["items_level_unknown"]) == (3, 1)
    assert summary["next_due_at"] == "2026-12-07T23:59:59+08:00"
    rows = {row["id"]: row for row in client.get(f"/api/v1/cases/{case.pk}/items/?as_of=2027-01-05").json()["results"]}
    row = rows[str(overdue.pk)]
    assert (row["warning_level"], row["due_date"], row["first_overdue_on"], row["remaining_working_days"]) == (
        "overdue",
        "2026-12-07",
        "2026-12-08",
        None,
    )
    overdue_only = client.get(f"/api/v1/cases/{case.pk}/items/?as_of=2027-01-05&warning_level=overdue").json()
    assert [r["id"] for r in overdue_only["results"]] == [str(overdue.pk)]


def test_recording_past_the_horizon_keeps_the_known_due_date_and_records_first_overdue():
    overdue = ApprovalItemFactory(accepted_at=dt.datetime(2026, 11, 30, 9, tzinfo=SHANGHAI), promised_days=5)
    unknown = ApprovalItemFactory(accepted_at=dt.datetime(2026, 12, 21, 9, tzinfo=SHANGHAI), promised_days=10)
    items = list(ApprovalItem.objects.filter(pk__in=[overdue.pk, unknown.pk]).prefetch_related("status_events"))
    item_deadlines_record(items=items, as_of=D(2027, 1, 5))
    overdue.refresh_from_db()
    unknown.refresh_from_db()
    assert (overdue.due_date, overdue.first_overdue_on) == (D(2026, 12, 7), D(2026, 12, 8))
    assert (unknown.due_date, unknown.first_overdue_on) == (None, None)


def test_deadlines_due_lists_an_item_overdue_past_the_horizon():
    item = ApprovalItemFactory(accepted_at=dt.datetime(2026, 11, 30, 9, tzinfo=SHANGHAI), promised_days=5)
    out = io.StringIO()
    call_command("deadlines_due", "--as-of", "2027-01-05", stdout=out)
    assert (
        f"\n{item.department.name}\n  overdue    due 2026-12-07 (? working days) {item.case.external_no} {item.name} "
        "first overdue 2026-12-08" in out.getvalue()
    )


def test_once_2027_is_loaded_everything_is_exact_again():
    overdue = ApprovalItemFactory(accepted_at=dt.datetime(2026, 11, 30, 9, tzinfo=SHANGHAI), promised_days=5)
    late = ApprovalItemFactory(accepted_at=dt.datetime(2026, 12, 21, 9, tzinfo=SHANGHAI), promised_days=10)
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    items = list(ApprovalItem.objects.filter(pk__in=[overdue.pk, late.pk]).prefetch_related("status_events"))
    result = items_deadlines(items=items, as_of=D(2027, 1, 5))
    # 8–31 Dec hold 18 working days, 4 and 5 Jan two more.
    assert (result[overdue.pk].remaining_working_days, result[overdue.pk].error) == (-20, None)
    # 22–31 Dec (8), 1–3 Jan off, Mon 4 (9), Tue 5 Jan (10): due today.
    assert (result[late.pk].due_date, result[late.pk].remaining_working_days, result[late.pk].warning_level) == (
        D(2027, 1, 5),
        0,
        "supervise3",
    )


def test_a_far_away_as_of_is_answered_at_once():
    events = [(Blzt.CORRECTION_START, D(2026, 12, 24)), (Blzt.CORRECTION_END, D(2027, 3, 1))]
    result = deadline(D(2026, 12, 21), 10, as_of=D(2099, 12, 31), events=events)
    assert (result.clock, result.warning_level, result.remaining_working_days) == ("unknown", None, None)
    # Accepted after the horizon, on 1 Jan: 2–10 Jan are the only unknown days on the 10th, so 1 … 10
    # of 10 days remain (supervise3 … ok: unknown), and 11 … 20 of 20 (ok either way).
    assert deadline(D(2027, 1, 1), 10, as_of=D(2027, 1, 10)).warning_level is None
    assert deadline(D(2027, 1, 1), 20, as_of=D(2027, 1, 10)).warning_level == "ok"
