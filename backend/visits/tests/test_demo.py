import pytest

from backend.visits import demo
from backend.visits.models import Vehicle, VehiclePosition, Visit
from backend.visits.selectors import vehicle_track_feature

pytestmark = pytest.mark.django_db


def test_demo_without_the_vehicle_team_does_nothing():
    demo.seed()

    assert (Vehicle.objects.count(), Visit.all_objects.count()) == (0, 0)


def test_demo_vehicle_track_and_visits_are_idempotent():
    from backend.accounts import demo as accounts_demo
    from backend.cases import demo as cases_demo
    from backend.sites import demo as sites_demo

    accounts_demo.seed()
    cases_demo.seed()
    sites_demo.seed()

    demo.seed()
    demo.seed()

    vehicle = Vehicle.objects.get(plate="鲁B·A1234")
    assert VehiclePosition.objects.filter(vehicle=vehicle).count() == 100
    assert sorted(Visit.objects.values_list("status", flat=True)) == ["booked", "cancelled", "completed", "on_site"]
    completed = Visit.objects.get(status="completed")
    feature = vehicle_track_feature(vehicle=vehicle, start=completed.departed_at, end=completed.ended_at)
    assert feature["properties"]["point_count"] == 100
    assert feature["geometry"]["coordinates"][0] == [120.1585, 35.9512]
    assert feature["geometry"]["coordinates"][-1] == [120.174, 35.9626]
