import pytest
from django.utils import timezone

from backend.demo import visits as demo
from backend.visits.models import BookingRequest, Vehicle, VehiclePosition, Visit
from backend.visits.selectors import vehicle_track_feature

pytestmark = pytest.mark.django_db


def test_demo_without_the_vehicle_team_does_nothing():
    demo.seed()

    assert (Vehicle.objects.count(), Visit.all_objects.count()) == (0, 0)


def test_demo_vehicle_track_and_visits_are_idempotent():
    from backend.demo import accounts as accounts_demo
    from backend.demo import cases as cases_demo
    from backend.demo import sites as sites_demo

    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()

    demo.seed()
    demo.seed()

    vehicle = Vehicle.objects.get(plate="鲁B·A1234")
    assert VehiclePosition.objects.filter(vehicle=vehicle).count() == 100
    assert set(Visit.objects.values_list("status", flat=True)) == {"booked", "cancelled", "completed", "on_site"}
    assert Visit.objects.exclude(status="booked").count() == 3
    # A booked week: a visit on each of the next five working days, none overlapping another.
    week = demo._working_days_after(timezone.localdate(), 5)
    booked_days = {timezone.localdate(v.scheduled_for) for v in Visit.objects.filter(status="booked")}
    assert set(week) <= booked_days
    live = list(Visit.objects.exclude(status="cancelled").order_by("scheduled_for"))
    assert all(a.scheduled_until <= b.scheduled_for for a, b in zip(live, live[1:], strict=False))
    requests = dict(BookingRequest.objects.values_list("status", "visit__scheduled_for"))
    assert set(requests) == {"pending", "confirmed", "declined"}
    assert timezone.localdate(requests["confirmed"]) == week[3]
    assert Visit.objects.filter(booking_request__isnull=False).count() == 1
    completed = Visit.objects.get(status="completed")
    feature = vehicle_track_feature(vehicle=vehicle, start=completed.departed_at, end=completed.ended_at)
    assert feature["properties"]["point_count"] == 100
    assert feature["geometry"]["coordinates"][0] == [120.1585, 35.9512]
    assert feature["geometry"]["coordinates"][-1] == [120.174, 35.9626]
