import datetime as dt

import pytest
from django.db import connection

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.common.errors import ApplicationError, PermissionDenied, ValidationFailed
from backend.common.geometry import wgs84_to_gcj02
from backend.visits.models import VehiclePosition
from backend.visits.selectors import vehicle_track_feature
from backend.visits.services import vehicle_track_append
from backend.visits.tests.factories import SHANGHAI, VehicleFactory, team_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI)


def _positions(count: int, *, start: int = 0) -> list[dict]:
    return [
        {
            "recorded_at": (T0 + dt.timedelta(seconds=10 * i)).isoformat(),
            "lon": 120.17 + 0.0001 * i,
            "lat": 35.96 + 0.00005 * i,
            "speed": 8.5,
            "heading": 60.0,
            "accuracy": 5.0,
        }
        for i in range(start, start + count)
    ]


def test_a_resent_batch_is_not_stored_twice():
    vehicle = VehicleFactory()
    lead = team_user(vehicle)

    first = vehicle_track_append(vehicle=vehicle, positions=_positions(5), by=lead)
    overlapping = vehicle_track_append(vehicle=vehicle, positions=_positions(5, start=3), by=lead)
    resent = vehicle_track_append(vehicle=vehicle, positions=_positions(8), by=lead)

    assert first == {"received": 5, "accepted": 5, "duplicates": 0}
    assert overlapping == {"received": 5, "accepted": 3, "duplicates": 2}
    assert resent == {"received": 8, "accepted": 0, "duplicates": 8}
    assert VehiclePosition.objects.filter(vehicle=vehicle).count() == 8


def test_duplicates_inside_one_batch_count_once():
    vehicle = VehicleFactory()
    batch = _positions(3) + _positions(1)

    result = vehicle_track_append(vehicle=vehicle, positions=batch, by=None)

    assert result == {"received": 4, "accepted": 3, "duplicates": 1}


def test_the_same_time_on_another_vehicle_is_not_a_duplicate():
    one, two = VehicleFactory(), VehicleFactory()
    vehicle_track_append(vehicle=one, positions=_positions(2), by=None)

    assert vehicle_track_append(vehicle=two, positions=_positions(2), by=None)["accepted"] == 2


def test_only_the_vehicle_team_posts_its_track():
    vehicle = VehicleFactory()
    for user in (user_of_kind(OrganizationKind.VEHICLE_TEAM), UserFactory()):
        with pytest.raises(PermissionDenied):
            vehicle_track_append(vehicle=vehicle, positions=_positions(2), by=user)
    assert VehiclePosition.objects.count() == 0


@pytest.mark.parametrize(
    ("position", "key"),
    [
        ({"recorded_at": "2026-03-10T09:00:00", "lon": 120.1, "lat": 35.9}, "positions[1].recorded_at"),
        ({"recorded_at": "yesterday", "lon": 120.1, "lat": 35.9}, "positions[1].recorded_at"),
        ({"recorded_at": "2099-03-10T09:00:00+08:00", "lon": 120.1, "lat": 35.9}, "positions[1].recorded_at"),
        ({"recorded_at": "2026-03-10T09:00:00+08:00", "lon": 190, "lat": 35.9}, "positions[1].lon"),
        ({"recorded_at": "2026-03-10T09:00:00+08:00", "lon": 120.1}, "positions[1].lat"),
        ({"recorded_at": "2026-03-10T09:00:00+08:00", "lon": 120.1, "lat": "35.9"}, "positions[1].lat"),
        (
            {"recorded_at": "2026-03-10T09:00:00+08:00", "lon": 120.1, "lat": 35.9, "heading": 400},
            "positions[1].heading",
        ),
        ({"recorded_at": "2026-03-10T09:00:00+08:00", "lon": 120.1, "lat": 35.9, "speed": -1}, "positions[1].speed"),
    ],
)
def test_an_invalid_position_refuses_the_whole_batch(position, key):
    vehicle = VehicleFactory()

    with pytest.raises(ValidationFailed) as raised:
        vehicle_track_append(vehicle=vehicle, positions=[_positions(1)[0], position], by=None)

    assert raised.value.code == "invalid_positions"
    assert list(raised.value.errors) == [key]
    assert VehiclePosition.objects.count() == 0


def test_more_than_10000_positions_is_too_large():
    vehicle = VehicleFactory()

    with pytest.raises(ApplicationError) as raised:
        vehicle_track_append(vehicle=vehicle, positions=_positions(10_001), by=None)

    assert (raised.value.status, raised.value.code) == (413, "batch_too_large")
    assert VehiclePosition.objects.count() == 0


def test_a_batch_of_10000_is_accepted():
    vehicle = VehicleFactory()

    assert vehicle_track_append(vehicle=vehicle, positions=_positions(10_000), by=None)["accepted"] == 10_000


def test_gcj02_positions_are_stored_in_wgs84():
    vehicle = VehicleFactory()
    lon, lat = wgs84_to_gcj02(120.17, 35.96)

    vehicle_track_append(
        vehicle=vehicle,
        positions=[{"recorded_at": T0.isoformat(), "lon": lon, "lat": lat}],
        by=None,
        coord_system="gcj02",
    )

    stored = VehiclePosition.objects.get(vehicle=vehicle).location
    assert (round(stored.x, 7), round(stored.y, 7)) == (120.17, 35.96)


def test_the_track_is_a_linestring_in_time_order_for_the_range():
    vehicle = VehicleFactory()
    positions = _positions(10)
    # Sent out of order, and a batch covering other times.
    vehicle_track_append(vehicle=vehicle, positions=list(reversed(positions[:6])), by=None)
    vehicle_track_append(vehicle=vehicle, positions=positions[6:], by=None)

    feature = vehicle_track_feature(
        vehicle=vehicle, start=T0 + dt.timedelta(seconds=20), end=T0 + dt.timedelta(seconds=70)
    )

    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"] == [[round(p["lon"], 7), round(p["lat"], 7)] for p in positions[2:8]]
    assert feature["properties"]["point_count"] == 6
    assert feature["properties"]["started_at"] == (T0 + dt.timedelta(seconds=20)).isoformat()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Length(ST_MakeLine(ST_SetSRID(ST_MakePoint(%s, %s), 4326), "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326))::geography)",
            [positions[2]["lon"], positions[2]["lat"], positions[7]["lon"], positions[7]["lat"]],
        )
        straight = cursor.fetchone()[0]
    assert feature["properties"]["length_m"] == round(straight, 1)  # collinear points: path = chord


def test_fewer_than_two_positions_make_no_line():
    vehicle = VehicleFactory()
    vehicle_track_append(vehicle=vehicle, positions=_positions(1), by=None)

    feature = vehicle_track_feature(vehicle=vehicle, start=T0 - dt.timedelta(hours=1), end=T0 + dt.timedelta(hours=1))

    assert (feature["geometry"], feature["properties"]["point_count"]) == (None, 1)


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (None, T0, "range_required"),
        (T0, None, "range_required"),
        (T0, T0, "invalid_range"),
        (T0, T0 + dt.timedelta(days=7, seconds=1), "range_too_long"),
    ],
)
def test_the_range_is_required_and_bounded(start, end, code):
    with pytest.raises(ValidationFailed) as raised:
        vehicle_track_feature(vehicle=VehicleFactory(), start=start, end=end)

    assert raised.value.code == code
