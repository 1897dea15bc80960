"""`nearby` builds its results in PostgreSQL; they must equal what NearbyUtilityPointSerializer
renders for the selector's rows (the answer before), for every role and every kind of value."""

import datetime as dt
import json

import pytest
from django.contrib.gis.geos import Point
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from backend.common.geometry import wgs84_to_gcj02
from backend.utilities.models import UtilityPoint, UtilityRequest
from backend.utilities.services import utility_application_create, utility_point_create, utility_request_respond
from backend.utilities.tests.factories import VALID_DEMANDS
from backend.utilities.tests.nearby_rows import utility_points_nearby
from mobile_api.utilities.serializers import NearbyUtilityPointSerializer

NEARBY = "/api/v1/utility-points/nearby/"
ORIGIN = (120.17, 35.96)


def _serialized(user, *, lon, lat, radius_m, limit=100, offset=0, utility_type=None):
    """The answer as the serializer gave it before: model rows from the selector, rendered."""
    points = list(
        utility_points_nearby(
            user=user,
            point=Point(lon, lat, srid=4326),
            radius_m=radius_m,
            utility_type=utility_type,
            limit=limit,
            offset=offset,
        )
    )
    request = Request(APIRequestFactory().get(NEARBY))
    request.user = user
    data = NearbyUtilityPointSerializer(points, many=True, context={"request": request}).data
    return json.loads(JSONRenderer().render(data))


@pytest.fixture
def points(world):
    utility_application_create(
        case=world.case, site=world.site, demands={"water": VALID_DEMANDS["water"]}, by=world.official
    )
    request = UtilityRequest.objects.get()
    company_user = world.company_users["water"]
    utility_request_respond(request=request, decision="accept", by=company_user)
    made = [
        # By the company, on its request, with attributes and a note.
        utility_point_create(
            case=world.case,
            utility_type="water",
            location=Point(120.17051234567891, 35.9603, srid=4326),
            request=request,
            name='给水接入点 "A"',
            attributes={"pipe_diameter_mm": 200, "pipe_material": "ductile_iron"},
            note="line 1\nline 2",
            by=company_user,
            device_id="pad-7",
        )[0],
        utility_point_create(
            case=world.case, utility_type="power", location=Point(120.1650, 35.9600, srid=4326), by=None
        )[0],
        utility_point_create(
            case=world.case, utility_type="gas", location=Point(120.1700, 35.9700, srid=4326), name="G", by=None
        )[0],
    ]
    # A whole-second timestamp (DRF prints no fraction) and a locked record.
    UtilityPoint.objects.filter(pk=made[1].pk).update(
        created_at=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC), is_locked=True
    )
    return made


@pytest.mark.parametrize("who", ["official", "surveyor", "builder", "water_company", "outside_official"])
def test_nearby_results_equal_the_serializers_answer_for_every_role(world, api_client, points, who):
    user = world.company_users["water"] if who == "water_company" else getattr(world, who)
    api_client.force_authenticate(user)
    response = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 5000})
    assert response.status_code == 200
    expected = _serialized(user, lon=ORIGIN[0], lat=ORIGIN[1], radius_m=5000)
    assert response.json()["results"] == expected
    visible = {"official": 3, "surveyor": 3, "builder": 3, "water_company": 1, "outside_official": 0}[who]
    assert len(expected) == visible


def test_nearby_results_equal_the_serializers_answer_for_pages_types_and_gcj02(world, api_client, points):
    api_client.force_authenticate(world.official)
    second = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 5000, "limit": 1, "offset": 1})
    assert second.json()["results"] == _serialized(
        world.official, lon=ORIGIN[0], lat=ORIGIN[1], radius_m=5000, limit=1, offset=1
    )
    assert second.json()["count"] == 3
    water = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 5000, "utility_type": "water"})
    assert water.json()["results"] == _serialized(
        world.official, lon=ORIGIN[0], lat=ORIGIN[1], radius_m=5000, utility_type="water"
    )
    gcj_lon, gcj_lat = wgs84_to_gcj02(*ORIGIN)
    shifted = api_client.get(
        NEARBY, {"lon": gcj_lon, "lat": gcj_lat, "radius_m": 5000}, HTTP_X_COORD_SYSTEM="gcj02"
    ).json()["results"]
    assert [p["id"] for p in shifted] == [
        p["id"] for p in _serialized(world.official, lon=ORIGIN[0], lat=ORIGIN[1], radius_m=5000)
    ]
    [first] = [p for p in shifted if p["name"] == '给水接入点 "A"']
    assert first["location"] == {"type": "Point", "coordinates": [120.17051234567891, 35.9603]}
    assert first["attributes"] == {"pipe_diameter_mm": 200, "pipe_material": "ductile_iron"}
    assert first["request"] == str(UtilityRequest.objects.get().pk)
    assert first["created_by"] == str(world.company_users["water"].pk)
    locked = next(p for p in shifted if p["utility_type"] == "power")
    assert (locked["is_locked"], locked["created_at"]) == (True, "2026-03-01T16:00:00+08:00")


@pytest.mark.parametrize(
    ("limit", "offset", "count", "rows", "has_next", "has_previous"),
    [
        (100, 0, 3, 3, False, False),  # a short first page: the count is its length
        (2, 0, 3, 2, True, False),  # a full page: the radius is counted
        (2, 2, 3, 1, False, True),  # a short last page: offset + its length
        (3, 0, 3, 3, False, False),  # a full page that happens to be the last: counted, no next
        (2, 5, 3, 0, False, True),  # past the end: an empty page tells nothing, so it is counted
    ],
)
def test_nearby_count_and_links_in_the_one_statement(
    world, api_client, points, limit, offset, count, rows, has_next, has_previous
):
    api_client.force_authenticate(world.official)
    body = api_client.get(
        NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 5000, "limit": limit, "offset": offset}
    ).json()
    assert (body["count"], len(body["results"])) == (count, rows)
    assert (body["next"] is not None, body["previous"] is not None) == (has_next, has_previous)
