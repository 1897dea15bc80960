"""Bookings over HTTP: 409 vehicle_booked on REST and sync push alike, a vehicle's availability,
booking requests filed by builders and confirmed by staff, and monthly service plans."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.cases.models import CalendarDay
from backend.visits.models import BookingRequest, ServicePlan, Visit
from backend.visits.tests.factories import SHANGHAI, VehicleFactory, key_project_case, make_visit, team_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _visit_body(case, vehicle, start: str, **extra) -> dict:
    return {
        "case": str(case.pk),
        "vehicle": str(vehicle.pk),
        "scheduled_for": start,
        "booked_via": "phone",
        "purpose": ["intake"],
        **extra,
    }


def _team_setup():
    vehicle = VehicleFactory()
    case = key_project_case()
    case.assigned_organizations.add(vehicle.team)
    return vehicle, case, _client(team_user(vehicle))


def test_rest_create_onto_a_booked_hour_is_409_vehicle_booked_naming_the_visit():
    vehicle, case, client = _team_setup()
    first = client.post(
        "/api/v1/visits/", _visit_body(case, vehicle, "2026-03-10T09:00:00+08:00", duration_minutes=90), format="json"
    )

    clash = client.post("/api/v1/visits/", _visit_body(case, vehicle, "2026-03-10T10:00:00+08:00"), format="json")

    assert first.status_code == 201
    assert (first.json()["duration_minutes"], first.json()["scheduled_until"]) == (90, "2026-03-10T10:30:00+08:00")
    assert clash.status_code == 409
    assert clash["Content-Type"] == "application/problem+json"
    body = clash.json()
    assert body["code"] == "vehicle_booked"
    assert body["clashing_visit"] == {
        "id": first.json()["id"],
        "vehicle": str(vehicle.pk),
        "scheduled_for": "2026-03-10T09:00:00+08:00",
        "scheduled_until": "2026-03-10T10:30:00+08:00",
        "status": "booked",
    }
    assert first.json()["id"] in body["detail"]
    assert Visit.objects.count() == 1


def test_rest_patch_and_reschedule_onto_a_booked_hour_are_409_and_change_nothing():
    vehicle, case, client = _team_setup()
    first = make_visit(vehicle=vehicle, case=case, scheduled_for=T0)
    second = make_visit(vehicle=vehicle, case=case, scheduled_for=T0 + dt.timedelta(hours=4))
    url = f"/api/v1/visits/{second.pk}/"

    patched = client.patch(url, {"scheduled_for": "2026-03-10T10:00:00+08:00"}, format="json", HTTP_IF_MATCH='"1"')
    rescheduled = client.post(
        url + "reschedule/", {"scheduled_for": "2026-03-10T08:00:00+08:00", "duration_minutes": 90}, format="json"
    )
    moved = client.post(url + "reschedule/", {"scheduled_for": "2026-03-10T11:00:00+08:00"}, format="json")

    assert (patched.status_code, patched.json()["code"]) == (409, "vehicle_booked")
    assert patched.json()["clashing_visit"]["id"] == str(first.pk)
    assert (rescheduled.status_code, rescheduled.json()["code"]) == (409, "vehicle_booked")
    assert moved.status_code == 200
    assert (moved.json()["scheduled_for"], moved.json()["version"], moved["ETag"]) == (
        "2026-03-10T11:00:00+08:00",
        2,
        '"2"',
    )


def test_sync_push_onto_a_booked_hour_is_rejected_vehicle_booked_and_the_rest_applies():
    vehicle, case, client = _team_setup()
    first = make_visit(vehicle=vehicle, case=case, scheduled_for=T0)
    clash_id, free_id = str(uuid.uuid4()), str(uuid.uuid4())

    response = client.post(
        "/api/v1/sync/push",
        {
            "device_id": "tablet-1",
            "operations": [
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "visit",
                    "id": clash_id,
                    "data": _visit_body(case, vehicle, "2026-03-10T10:00:00+08:00"),
                },
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "visit",
                    "id": free_id,
                    "data": _visit_body(case, vehicle, "2026-03-10T11:00:00+08:00"),
                },
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "visit",
                    "id": str(first.pk),
                    "base_version": 1,
                    "data": {"scheduled_for": "2026-03-10T11:30:00+08:00"},
                },
            ],
        },
        format="json",
    )

    clash, free, moved = response.json()["receipts"]
    assert (clash["status"], clash["code"]) == ("rejected", "vehicle_booked")
    assert str(first.pk) in clash["errors"]["scheduled_for"][0]
    assert free["status"] == "applied"
    assert (moved["status"], moved["code"]) == ("rejected", "vehicle_booked")
    assert free_id in moved["errors"]["scheduled_for"][0]
    assert sorted(map(str, Visit.objects.values_list("pk", flat=True))) == sorted([str(first.pk), free_id])


# --- availability ----------------------------------------------------------------------------


def _availability(client, vehicle, start: str, end: str):
    return client.get(f"/api/v1/vehicles/{vehicle.pk}/availability/", {"from": start, "to": end})


def test_availability_lists_working_hours_minus_bookings_and_skips_the_national_day_holiday():
    vehicle, case, client = _team_setup()
    visit = make_visit(
        vehicle=vehicle, case=case, scheduled_for=dt.datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI), duration_minutes=120
    )

    response = _availability(client, vehicle, "2026-09-30T00:00:00+08:00", "2026-10-11T00:00:00+08:00")

    assert response.status_code == 200
    body = response.json()
    assert (body["time_zone"], body["working_hours"]) == ("Asia/Shanghai", "08:30-17:30")
    windows = [(w["status"], w["start"], w["end"]) for w in body["windows"]]
    assert windows == [
        ("free", "2026-09-30T08:30:00+08:00", "2026-09-30T17:30:00+08:00"),
        # 1–7 October: National Day; 8 October the vehicle is out 10:00–12:00.
        ("free", "2026-10-08T08:30:00+08:00", "2026-10-08T10:00:00+08:00"),
        ("booked", "2026-10-08T10:00:00+08:00", "2026-10-08T12:00:00+08:00"),
        ("free", "2026-10-08T12:00:00+08:00", "2026-10-08T17:30:00+08:00"),
        ("free", "2026-10-09T08:30:00+08:00", "2026-10-09T17:30:00+08:00"),
        # Saturday 10 October is a make-up workday (调休上班).
        ("free", "2026-10-10T08:30:00+08:00", "2026-10-10T17:30:00+08:00"),
    ]
    assert body["windows"][2]["visit"] == {
        "id": str(visit.pk),
        "case": str(case.pk),
        "status": "booked",
        "purpose": ["intake"],
    }


def test_builders_see_their_own_bookings_and_only_busy_for_other_projects():
    vehicle = VehicleFactory()
    own_case, other_case = key_project_case(), key_project_case()
    own = make_visit(vehicle=vehicle, case=own_case, scheduled_for=dt.datetime(2026, 9, 29, 9, 0, tzinfo=SHANGHAI))
    make_visit(vehicle=vehicle, case=other_case, scheduled_for=dt.datetime(2026, 9, 29, 14, 0, tzinfo=SHANGHAI))
    builder = UserFactory(organization=own_case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])

    response = _availability(_client(builder), vehicle, "2026-09-29T00:00:00+08:00", "2026-09-30T00:00:00+08:00")
    track = _client(builder).get(f"/api/v1/vehicles/{vehicle.pk}/")

    booked = [w for w in response.json()["windows"] if w["status"] == "booked"]
    assert [w["visit"]["id"] if w["visit"] else None for w in booked] == [str(own.pk), None]
    assert track.status_code == 404
    surveyor = user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR])
    refused = _availability(_client(surveyor), vehicle, "2026-09-29T00:00:00+08:00", "2026-09-30T00:00:00+08:00")
    assert refused.status_code == 404


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "range_required"),
        ({"from": "2026-09-29T00:00:00+08:00"}, "range_required"),
        ({"from": "yesterday", "to": "2026-09-30T00:00:00+08:00"}, "validation_error"),
        ({"from": "2026-13-45T00:00:00+08:00", "to": "2026-09-30T00:00:00+08:00"}, "validation_error"),
        ({"from": "2026-09-30T00:00:00+08:00", "to": "2026-09-29T00:00:00+08:00"}, "invalid_range"),
        ({"from": "2026-09-01T00:00:00+08:00", "to": "2026-10-09T00:00:00+08:00"}, "range_too_long"),
    ],
)
def test_availability_range_is_required_and_bounded(query, code):
    vehicle, _case, client = _team_setup()

    response = client.get(f"/api/v1/vehicles/{vehicle.pk}/availability/", query)

    assert (response.status_code, response.json()["code"]) == (400, code)


def test_availability_past_the_calendar_is_409_calendar_horizon():
    vehicle, _case, client = _team_setup()
    last = CalendarDay.objects.order_by("-date").values_list("date", flat=True).first()
    start = dt.datetime.combine(last, dt.time(0), tzinfo=SHANGHAI)

    response = _availability(client, vehicle, start.isoformat(), (start + dt.timedelta(days=3)).isoformat())

    assert (response.status_code, response.json()["code"]) == (409, "calendar_horizon")


# --- booking requests ------------------------------------------------------------------------


def _soon(days: int, hour: int) -> str:
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI).isoformat()


def _window(days: int, hour: int) -> dict:
    return {"start": _soon(days, hour), "end": _soon(days, hour + 2)}


def _staff():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL, Role.BACK_OFFICE], region="37")


def test_an_impossible_date_in_a_window_or_a_track_range_is_400_not_500():
    case = key_project_case()
    vehicle, _case, team = _team_setup()
    staff = _client(_staff())

    filed = staff.post(
        "/api/v1/booking-requests/",
        {
            "case": str(case.pk),
            "purpose": ["intake"],
            "preferred_windows": [{"start": "2026-02-30T09:00:00+08:00", "end": "2026-02-30T11:00:00+08:00"}],
            "channel": "phone",
        },
        format="json",
    )
    track = team.get(f"/api/v1/vehicles/{vehicle.pk}/track/", {"from": "2026-02-30T09:00:00+08:00", "to": "x"})
    positions = team.post(
        f"/api/v1/vehicles/{vehicle.pk}/track/",
        {"positions": [{"recorded_at": "2026-02-30T09:00:00+08:00", "lon": 120.1, "lat": 35.9}]},
        format="json",
    )

    assert (filed.status_code, list(filed.json()["errors"])) == (400, ["preferred_windows[0].start"])
    assert (track.status_code, track.json()["code"]) == (400, "validation_error")
    assert (positions.status_code, positions.json()["code"]) == (400, "invalid_positions")
    assert BookingRequest.all_objects.count() == 0


def test_builder_files_staff_confirm_and_the_clash_is_409():
    case = key_project_case()
    builder = UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])
    staff = _client(_staff())
    vehicle = VehicleFactory()
    filed = _client(builder).post(
        "/api/v1/booking-requests/",
        {"case": str(case.pk), "purpose": ["intake"], "preferred_windows": [_window(5, 9)], "contact": "张经理"},
        format="json",
    )
    assert filed.status_code == 201, filed.json()
    assert (filed.json()["status"], filed.json()["channel"], filed.json()["visit"]) == ("pending", "wechat", None)
    url = f"/api/v1/booking-requests/{filed.json()['id']}/"

    by_builder = _client(builder).post(url + "confirm/", {"vehicle": str(vehicle.pk)}, format="json")
    taken = make_visit(vehicle=vehicle, scheduled_for=dt.datetime.fromisoformat(_soon(5, 10)))
    clash = staff.post(url + "confirm/", {"vehicle": str(vehicle.pk)}, format="json")
    confirmed = staff.post(url + "confirm/", {"vehicle": str(vehicle.pk), "scheduled_for": _soon(5, 13)}, format="json")

    assert (by_builder.status_code, by_builder.json()["code"]) == (403, "permission_denied")
    assert (clash.status_code, clash.json()["code"]) == (409, "vehicle_booked")
    assert clash.json()["clashing_visit"]["id"] == str(taken.pk)
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["status"] == "confirmed"
    visit = Visit.objects.get(pk=confirmed.json()["visit"])
    assert (visit.case_id, visit.booked_via, visit.scheduled_for) == (
        case.pk,
        "wechat",
        dt.datetime.fromisoformat(_soon(5, 13)),
    )
    assert _client(builder).get(f"/api/v1/visits/{visit.pk}/").status_code == 200


def test_staff_file_on_the_phone_and_decline_with_a_reason():
    case = key_project_case()
    staff = _client(_staff())
    filed = staff.post(
        "/api/v1/booking-requests/",
        {"case": str(case.pk), "purpose": ["survey"], "preferred_windows": [_window(5, 9)], "channel": "phone"},
        format="json",
    )
    url = f"/api/v1/booking-requests/{filed.json()['id']}/"

    no_reason = staff.post(url + "decline/", {}, format="json")
    declined = staff.post(url + "decline/", {"reason": "项目材料未备齐"}, format="json")
    again = staff.post(url + "decline/", {"reason": "再次"}, format="json")

    assert filed.status_code == 201
    assert no_reason.status_code == 400
    assert (declined.status_code, declined.json()["status"], declined.json()["decline_reason"]) == (
        200,
        "declined",
        "项目材料未备齐",
    )
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    timeline = staff.get(f"/api/v1/cases/{case.pk}/timeline/").json()["results"]
    assert [(entry["type"], entry["label"], entry["status"]) for entry in timeline] == [
        ("booking_request", "直通车预约申请", "declined")
    ]


def test_booking_requests_sync_for_staff_and_builders_cannot_change_them_either_way():
    case = key_project_case()
    builder = UserFactory(organization=case.project.builder, roles=[Role.BUILDER_REPRESENTATIVE])
    staff = _client(_staff())
    record_id = str(uuid.uuid4())
    pushed = staff.post(
        "/api/v1/sync/push",
        {
            "device_id": "desk-1",
            "operations": [
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "booking_request",
                    "id": record_id,
                    "data": {
                        "case": str(case.pk),
                        "purpose": ["intake"],
                        "preferred_windows": [_window(6, 9)],
                        "channel": "wechat",
                    },
                }
            ],
        },
        format="json",
    ).json()["receipts"][0]
    builder_push = (
        _client(builder)
        .post(
            "/api/v1/sync/push",
            {
                "device_id": "phone-1",
                "operations": [
                    {
                        "op_id": str(uuid.uuid4()),
                        "type": "booking_request",
                        "id": record_id,
                        "base_version": 1,
                        "data": {"remarks": "改一下"},
                    }
                ],
            },
            format="json",
        )
        .json()["receipts"][0]
    )
    builder_patch = _client(builder).patch(
        f"/api/v1/booking-requests/{record_id}/", {"remarks": "改一下"}, format="json", HTTP_IF_MATCH='"1"'
    )
    pulled = staff.get("/api/v1/sync/pull", {"types": "booking_request"}).json()["changes"]

    assert (pushed["status"], pushed["version"]) == ("applied", 1)
    assert (builder_push["status"], builder_push["code"]) == ("rejected", "permission_denied")
    assert builder_patch.status_code == 403
    assert [change["id"] for change in pulled] == [record_id]
    assert BookingRequest.objects.get(pk=record_id).remarks == ""


# --- service plans ---------------------------------------------------------------------------


def test_a_service_plan_over_rest_reports_each_occurrence():
    vehicle, case, client = _team_setup()
    today = timezone.localdate()
    month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    days = [month + dt.timedelta(days=offset) for offset in range(31)]
    CalendarDay.objects.bulk_create(
        [CalendarDay(date=day, is_workday=day.isoweekday() < 6) for day in days if day.month == month.month],
        ignore_conflicts=True,
    )
    first_monday = next(day for day in days if day.isoweekday() == 1)
    taken = make_visit(
        vehicle=vehicle, scheduled_for=dt.datetime.combine(first_monday, dt.time(9, 30), tzinfo=SHANGHAI)
    )

    response = client.post(
        "/api/v1/service-plans/",
        {
            "case": str(case.pk),
            "vehicle": str(vehicle.pk),
            "month": month.strftime("%Y-%m"),
            "rule": {"kind": "nth_weekday", "n": 1, "weekday": 1, "time": "09:00"},
            "purpose": ["acceptance"],
        },
        format="json",
    )
    bad = client.post(
        "/api/v1/service-plans/",
        {
            "case": str(case.pk),
            "vehicle": str(vehicle.pk),
            "month": month.strftime("%Y-%m"),
            "rule": {"kind": "daily"},
            "purpose": ["acceptance"],
        },
        format="json",
    )
    listed = client.get("/api/v1/service-plans/").json()

    assert response.status_code == 201, response.json()
    (occurrence,) = response.json()["occurrences"]
    assert (occurrence["status"], occurrence["clashing_visit"]["id"]) == ("clash", str(taken.pk))
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_plan_rule")
    assert listed["count"] == 1
    assert ServicePlan.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_rest_and_sync_push_racing_for_one_hour_exactly_one_books_it():
    vehicle, case, _team_client = _team_setup()
    lead = team_user(vehicle)
    barrier = threading.Barrier(2)
    results: dict = {}

    def rest() -> None:
        client = _client(lead)
        barrier.wait(timeout=30)
        response = client.post(
            "/api/v1/visits/", _visit_body(case, vehicle, "2026-03-10T09:00:00+08:00"), format="json"
        )
        results["rest"] = (response.status_code, response.json())

    def push() -> None:
        client = _client(lead)
        barrier.wait(timeout=30)
        op = {
            "op_id": str(uuid.uuid4()),
            "type": "visit",
            "id": str(uuid.uuid4()),
            "data": _visit_body(case, vehicle, "2026-03-10T09:30:00+08:00"),
        }
        response = client.post("/api/v1/sync/push", {"device_id": "race", "operations": [op]}, format="json")
        results["push"] = response.json()["receipts"][0]

    def run(work) -> None:
        try:
            work()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in (rest, push)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    rest_status, rest_body = results["rest"]
    receipt = results["push"]
    outcomes = sorted([rest_status == 201, receipt["status"] == "applied"])
    assert outcomes == [False, True], results
    (winner,) = Visit.objects.all()
    if rest_status == 201:
        assert (receipt["status"], receipt["code"]) == ("rejected", "vehicle_booked")
        assert str(winner.pk) in receipt["errors"]["scheduled_for"][0]
    else:
        assert (rest_status, rest_body["code"]) == (409, "vehicle_booked")
        assert rest_body["clashing_visit"]["id"] == str(winner.pk)
