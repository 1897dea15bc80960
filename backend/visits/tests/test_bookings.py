"""One vehicle, one booking at a time: the database refuses overlaps, the services name the clash;
booking requests and monthly service plans book through the same rule."""

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.audit.models import AuditEntry
from backend.cases.models import CalendarDay
from backend.common.errors import PermissionDenied, ValidationFailed
from backend.notifications.models import Notification, NotificationKind
from backend.visits.bookings import (
    booking_request_confirm,
    booking_request_create,
    booking_request_decline,
    service_plan_create,
)
from backend.visits.models import BookingRequest, ServicePlan, Visit, VisitStatus
from backend.visits.selectors import visits_overlapping
from backend.visits.services import VehicleBooked, visit_transition, visit_update
from backend.visits.tests.factories import SHANGHAI, VehicleFactory, key_project_case, make_visit, team_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)


def test_an_overlapping_visit_of_the_same_vehicle_is_refused_naming_the_clash():
    vehicle = VehicleFactory()
    first = make_visit(vehicle=vehicle, scheduled_for=T0, duration_minutes=120)
    audit_before = AuditEntry.objects.count()

    with pytest.raises(VehicleBooked) as refused:
        make_visit(vehicle=vehicle, scheduled_for=T0 + dt.timedelta(hours=1), duration_minutes=60)

    assert refused.value.status == 409
    assert refused.value.code == "vehicle_booked"
    assert refused.value.extra["clashing_visit"] == {
        "id": str(first.pk),
        "vehicle": str(vehicle.pk),
        "scheduled_for": "2026-03-10T09:00:00+08:00",
        "scheduled_until": "2026-03-10T11:00:00+08:00",
        "status": "booked",
    }
    assert str(first.pk) in refused.value.message
    assert Visit.all_objects.count() == 1
    assert AuditEntry.objects.count() == audit_before


def test_back_to_back_visits_and_other_vehicles_are_free():
    vehicle = VehicleFactory()
    make_visit(vehicle=vehicle, scheduled_for=T0, duration_minutes=120)

    after = make_visit(vehicle=vehicle, scheduled_for=T0 + dt.timedelta(hours=2), duration_minutes=30)
    other = make_visit(scheduled_for=T0, duration_minutes=120)

    assert after.scheduled_until == T0 + dt.timedelta(hours=2, minutes=30)
    assert other.vehicle != vehicle
    assert Visit.objects.count() == 3


def test_a_cancelled_visit_frees_its_time():
    vehicle = VehicleFactory()
    first = make_visit(vehicle=vehicle, scheduled_for=T0)
    visit_transition(visit=first, to=VisitStatus.CANCELLED, by=None, reason="改期")

    again = make_visit(vehicle=vehicle, scheduled_for=T0)

    assert again.status == VisitStatus.BOOKED


def test_the_database_itself_refuses_an_overlap_written_past_the_services():
    vehicle = VehicleFactory()
    first = make_visit(vehicle=vehicle, scheduled_for=T0)

    with pytest.raises(IntegrityError, match="visit_vehicle_no_overlap"), transaction.atomic():
        Visit.objects.create(
            case=first.case,
            vehicle=vehicle,
            scheduled_for=T0 + dt.timedelta(minutes=30),
            scheduled_until=T0 + dt.timedelta(minutes=90),
            booked_via="phone",
            purpose=["intake"],
        )
    assert Visit.objects.count() == 1


def test_rescheduling_onto_another_booking_is_refused_and_changes_nothing():
    vehicle = VehicleFactory()
    first = make_visit(vehicle=vehicle, scheduled_for=T0)
    second = make_visit(vehicle=vehicle, scheduled_for=T0 + dt.timedelta(hours=3))

    with pytest.raises(VehicleBooked) as refused:
        visit_update(instance=second, changes={"scheduled_for": T0 + dt.timedelta(hours=1)}, by=None)

    assert refused.value.extra["clashing_visit"]["id"] == str(first.pk)
    second.refresh_from_db()
    assert (second.scheduled_for, second.version) == (T0 + dt.timedelta(hours=3), 1)

    # Longer, into the next booking: refused too; shorter and later: fine.
    with pytest.raises(VehicleBooked):
        visit_update(instance=first, changes={"duration_minutes": 240}, by=None)
    moved = visit_update(
        instance=second, changes={"scheduled_for": T0 + dt.timedelta(hours=2), "duration_minutes": 60}, by=None
    )
    assert (moved.scheduled_until, moved.version) == (T0 + dt.timedelta(hours=3), 2)


def test_a_duration_out_of_bounds_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        make_visit(duration_minutes=5)

    assert refused.value.errors == {"duration_minutes": ["Whole minutes, 15..720."]}
    assert Visit.all_objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_transactions_booking_the_same_hour_exactly_one_wins():
    vehicle = VehicleFactory()
    cases = [key_project_case(), key_project_case()]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def book(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = make_visit(
                vehicle=vehicle, case=cases[index], scheduled_for=T0 + dt.timedelta(minutes=30 * index)
            )
        except Exception as error:  # reported through the results
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    won = [result for result in results if isinstance(result, Visit)]
    lost = [result for result in results if isinstance(result, VehicleBooked)]
    assert (len(won), len(lost)) == (1, 1), results
    assert lost[0].extra["clashing_visit"]["id"] == str(won[0].pk)
    assert list(Visit.all_objects.values_list("pk", flat=True)) == [won[0].pk]
    assert AuditEntry.objects.filter(record_type="visit").count() == 1


# --- booking requests ------------------------------------------------------------------------


def _soon(days: int, hour: int) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI)


def _windows(*starts: dt.datetime, hours: int = 2) -> list[dict]:
    return [{"start": s.isoformat(), "end": (s + dt.timedelta(hours=hours)).isoformat()} for s in starts]


def _builder_of(case):
    return UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])


def _staff():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL, Role.BACK_OFFICE], region="37")


def test_a_builder_files_for_its_own_case_and_staff_and_builder_are_told():
    case = key_project_case()
    builder, staff = _builder_of(case), _staff()

    request, created = booking_request_create(
        by=builder, case=case, purpose=["intake"], preferred_windows=_windows(_soon(3, 9))
    )

    assert created
    assert (request.status, request.channel, request.created_by) == ("pending", "wechat", builder)
    told = set(Notification.objects.filter(kind=NotificationKind.BOOKING_REQUESTED).values_list("recipient", flat=True))
    assert told == {builder.pk, staff.pk}


def test_another_builder_and_a_builder_phoning_in_are_refused():
    case = key_project_case()
    other = user_of_kind(OrganizationKind.BUILDER, roles=[Role.BUILDER_REPRESENTATIVE])

    with pytest.raises(Exception) as invisible:
        booking_request_create(by=other, case=case, purpose=["intake"], preferred_windows=_windows(_soon(3, 9)))
    with pytest.raises(ValidationFailed) as phone:
        booking_request_create(
            by=_builder_of(case),
            case=case,
            purpose=["intake"],
            preferred_windows=_windows(_soon(3, 9)),
            channel="phone",
        )

    assert invisible.value.code == "not_found"
    assert phone.value.errors == {"channel": ["One of: wechat."]}
    assert BookingRequest.all_objects.count() == 0


def test_preferred_windows_are_validated():
    case = key_project_case()
    staff = _staff()
    cases = [
        ([], "preferred_windows"),
        ([{"start": "tomorrow", "end": "later"}], "preferred_windows[0].start"),
        (_windows(_soon(3, 9), hours=30), "preferred_windows[0].end"),
        (_windows(_soon(-3, 9)), "preferred_windows[0].end"),
    ]
    for windows, key in cases:
        with pytest.raises(ValidationFailed) as refused:
            booking_request_create(by=staff, case=case, purpose=["intake"], preferred_windows=windows, channel="phone")
        assert list(refused.value.errors) == [key]
    assert BookingRequest.all_objects.count() == 0


def test_staff_confirm_books_the_visit_in_one_transaction_and_both_sides_are_told():
    case = key_project_case()
    builder, staff = _builder_of(case), _staff()
    vehicle = VehicleFactory()
    crew = UserFactory(organization=vehicle.team, roles=[Role.VEHICLE_LEAD])
    request, _ = booking_request_create(
        by=staff,
        case=case,
        purpose=["intake", "survey"],
        preferred_windows=_windows(_soon(3, 9), _soon(4, 14)),
        channel="phone",
        contact="张经理 13800000000",
    )

    confirmed = booking_request_confirm(request=request, by=staff, vehicle=vehicle, window=1)

    visit = confirmed.visit
    assert (confirmed.status, confirmed.decided_by, confirmed.version) == ("confirmed", staff, 2)
    assert (visit.scheduled_for, visit.duration_minutes, visit.booked_via) == (_soon(4, 14), 120, "phone")
    assert visit.purpose == ["intake", "survey"]
    told = set(Notification.objects.filter(kind=NotificationKind.BOOKING_CONFIRMED).values_list("recipient", flat=True))
    assert told == {builder.pk, staff.pk, crew.pk}


def test_a_confirm_onto_a_booked_time_writes_nothing():
    case = key_project_case()
    staff = _staff()
    vehicle = VehicleFactory()
    taken = make_visit(vehicle=vehicle, scheduled_for=_soon(3, 10))
    request, _ = booking_request_create(
        by=staff, case=case, purpose=["intake"], preferred_windows=_windows(_soon(3, 9)), channel="wechat"
    )

    with pytest.raises(VehicleBooked) as refused:
        booking_request_confirm(request=request, by=staff, vehicle=vehicle)

    assert refused.value.extra["clashing_visit"]["id"] == str(taken.pk)
    request.refresh_from_db()
    assert (request.status, request.version, request.visit_id) == ("pending", 1, None)
    assert Visit.all_objects.count() == 1
    assert not Notification.objects.filter(kind=NotificationKind.BOOKING_CONFIRMED).exists()


def test_decline_needs_a_reason_and_staff_and_tells_the_builder():
    case = key_project_case()
    builder, staff = _builder_of(case), _staff()
    request, _ = booking_request_create(
        by=builder, case=case, purpose=["intake"], preferred_windows=_windows(_soon(3, 9))
    )

    with pytest.raises(PermissionDenied):
        booking_request_decline(request=request, by=builder, reason="不要了")
    with pytest.raises(ValidationFailed):
        booking_request_decline(request=request, by=staff, reason="  ")
    declined = booking_request_decline(request=request, by=staff, reason="本周车辆已约满，请改约下周。")

    assert (declined.status, declined.decline_reason) == ("declined", "本周车辆已约满，请改约下周。")
    told = Notification.objects.get(kind=NotificationKind.BOOKING_DECLINED)
    assert told.recipient == builder
    assert told.body == "本周车辆已约满，请改约下周。"
    with pytest.raises(Exception) as again:
        booking_request_confirm(request=declined, by=staff, vehicle=VehicleFactory())
    assert again.value.code == "booking_request_decided"
    assert Visit.all_objects.count() == 0


# --- monthly service plans -------------------------------------------------------------------


def _next_month() -> dt.date:
    """The first day of next month, with the calendar loaded for it (a plain year if need be)."""
    today = timezone.localdate()
    month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    days = [month + dt.timedelta(days=offset) for offset in range(31)]
    CalendarDay.objects.bulk_create(
        [CalendarDay(date=day, is_workday=day.isoweekday() < 6) for day in days if day.month == month.month],
        ignore_conflicts=True,
    )
    return month


def test_a_weekly_plan_books_each_occurrence_and_reports_clashes_and_holidays_one_by_one():
    month = _next_month()
    case = key_project_case()
    vehicle = VehicleFactory()
    tuesdays = [month + dt.timedelta(days=d) for d in range(31) if (month + dt.timedelta(days=d)).month == month.month]
    tuesdays = [day for day in tuesdays if day.isoweekday() == 2]
    # The second Tuesday is taken, the third is a holiday.
    taken_day, holiday = tuesdays[1], tuesdays[2]
    lead = team_user(vehicle)
    taken = make_visit(vehicle=vehicle, scheduled_for=dt.datetime.combine(taken_day, dt.time(10), tzinfo=SHANGHAI))
    CalendarDay.objects.filter(date=holiday).update(is_workday=False, name="测试", source="override")

    plan = service_plan_create(
        by=None,
        case=case,
        vehicle=vehicle,
        month=month.strftime("%Y-%m"),
        rule={"kind": "weekly", "weekdays": [2], "time": "09:00"},
        purpose=["intake"],
        duration_minutes=90,
    )

    statuses = [entry["status"] for entry in plan.occurrences]
    expected = ["booked", "clash", "not_workday"] + ["booked"] * (len(tuesdays) - 3)
    assert statuses == expected
    assert plan.occurrences[1]["clashing_visit"]["id"] == str(taken.pk)
    booked = Visit.objects.filter(plan=plan).order_by("scheduled_for")
    assert [v.scheduled_for for v in booked] == [
        dt.datetime.combine(day, dt.time(9), tzinfo=SHANGHAI) for day in tuesdays if day not in (taken_day, holiday)
    ]
    assert {v.duration_minutes for v in booked} == {90}
    planned = Notification.objects.get(kind=NotificationKind.VISIT_PLANNED, recipient=lead)
    assert planned.data["visits"] == [str(v.pk) for v in booked]


def test_an_nth_weekday_plan_and_an_invalid_rule():
    month = _next_month()
    case = key_project_case()
    vehicle = VehicleFactory()

    plan = service_plan_create(
        by=None,
        case=case,
        vehicle=vehicle,
        month=month,
        rule={"kind": "nth_weekday", "n": -1, "weekday": 4, "time": "14:30"},
        purpose=["survey"],
    )
    with pytest.raises(ValidationFailed) as refused:
        service_plan_create(
            by=None,
            case=case,
            vehicle=vehicle,
            month=month,
            rule={"kind": "weekly", "weekdays": [8], "time": "9"},
            purpose=["survey"],
        )

    assert len(plan.occurrences) == 1
    day = dt.date.fromisoformat(plan.occurrences[0]["scheduled_for"][:10])
    assert (day.isoweekday(), (day + dt.timedelta(days=7)).month != month.month) == (4, True)
    assert refused.value.code == "invalid_plan_rule"
    assert ServicePlan.objects.count() == 1


def test_a_plan_past_the_calendar_horizon_books_nothing():
    last = CalendarDay.objects.order_by("-date").values_list("date", flat=True).first()
    month = (last + dt.timedelta(days=1)).replace(day=1)

    with pytest.raises(Exception) as refused:
        service_plan_create(
            by=None,
            case=key_project_case(),
            vehicle=VehicleFactory(),
            month=month,
            rule={"kind": "weekly", "weekdays": [1], "time": "09:00"},
            purpose=["intake"],
        )

    assert refused.value.code == "calendar_horizon"
    assert (ServicePlan.objects.count(), Visit.all_objects.count()) == (0, 0)


def test_the_overlap_query_is_an_index_range_bounded_on_both_sides():
    vehicle = VehicleFactory()
    queryset = visits_overlapping(vehicle=vehicle, start=T0, end=T0 + dt.timedelta(days=31))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index" in plan, plan
    assert "scheduled_for >" in plan and "scheduled_for <" in plan, plan
