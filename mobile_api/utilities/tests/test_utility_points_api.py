import math
import uuid

import pytest
from django.contrib.gis.geos import Point

from backend.accounts.models import UtilityType
from backend.common.geometry import wgs84_to_gcj02
from backend.utilities.models import UtilityPoint, UtilityRequest
from backend.utilities.services import utility_application_create, utility_point_create, utility_request_respond
from backend.utilities.tests.factories import VALID_DEMANDS

URL = "/api/v1/utility-points/"
NEARBY = f"{URL}nearby/"
ORIGIN = (120.17, 35.96)


def vincenty_m(lon1, lat1, lon2, lat2):
    """Geodesic distance on the WGS84 ellipsoid (Vincenty's inverse formula), independent of PostGIS."""
    a, f = 6378137.0, 1 / 298.257223563
    b = a * (1 - f)
    big_l = math.radians(lon2 - lon1)
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-12:
            break
    u_sq = cos2_alpha * (a**2 - b**2) / b**2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return b * big_a * (sigma - delta_sigma)


def point_body(world, utility_type="water", lon=120.171, lat=35.961, **extra):
    return {
        "case": str(world.case.pk),
        "utility_type": utility_type,
        "location": {"type": "Point", "coordinates": [lon, lat]},
        **extra,
    }


def make_point(world, utility_type, lon, lat, name=""):
    point, _ = utility_point_create(
        case=world.case,
        utility_type=utility_type,
        location=_geos(lon, lat),
        name=name,
        by=None,
    )
    return point


def _geos(lon, lat):
    return Point(lon, lat, srid=4326)


def test_reference_geodesic_matches_a_known_distance():
    # One arc-minute of latitude at 36°N is about 1849.6 m on WGS84 (meridian radius of curvature).
    assert vincenty_m(120.17, 35.96, 120.17, 35.96 + 1 / 60) == pytest.approx(1849.6, abs=0.5)


def test_surveyor_records_a_point_for_the_company_serving_the_type(world, api_client):
    api_client.force_authenticate(world.surveyor)
    body = point_body(world, "power", attributes={"voltage_kv": 10, "pole_id": "N12-07"}, name="10kV 北线 12 号杆")
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["company"], data["status"], data["attributes"], data["location"]) == (
        str(world.companies["power"].pk),
        "proposed",
        {"voltage_kv": 10, "pole_id": "N12-07"},
        {"type": "Point", "coordinates": [120.171, 35.961]},
    )


def test_company_records_its_own_points_only_of_its_types(world, api_client):
    user = world.company_users["gas"]
    world.case.assigned_organizations.add(user.organization)
    api_client.force_authenticate(user)
    ok = api_client.post(URL, point_body(world, "gas", attributes={"pressure_level": "medium"}), format="json")
    assert ok.status_code == 201
    assert ok.json()["company"] == str(user.organization_id)
    wrong_type = api_client.post(URL, point_body(world, "water"), format="json")
    assert wrong_type.status_code == 403
    other_company = api_client.post(
        URL, point_body(world, "gas", company=str(world.companies["power"].pk)), format="json"
    )
    assert other_company.status_code == 400
    assert UtilityPoint.objects.count() == 1


def test_invalid_attributes_and_location_leave_no_row(world, api_client):
    api_client.force_authenticate(world.surveyor)
    bad_attributes = api_client.post(URL, point_body(world, "water", attributes={"pipe_diameter_mm": 5}), format="json")
    assert bad_attributes.status_code == 400
    assert bad_attributes.json()["errors"] == {"attributes.pipe_diameter_mm": ["Must be at least 15 mm."]}
    bad_location = api_client.post(URL, point_body(world, "water", lat=95), format="json")
    assert bad_location.status_code == 400
    assert bad_location.json()["code"] == "invalid_geometry"
    assert UtilityPoint.all_objects.count() == 0


def test_client_id_replay_and_conflict(world, api_client):
    api_client.force_authenticate(world.surveyor)
    body = point_body(world, "heating", id=str(uuid.uuid4()), attributes={"medium": "steam"})
    first = api_client.post(URL, body, format="json")
    assert first.status_code == 201
    replay = api_client.post(URL, body, format="json")
    assert replay.status_code == 200
    assert replay.json() == first.json()
    conflict = api_client.post(URL, {**body, "attributes": {"medium": "hot_water"}}, format="json")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "id_conflict"
    assert UtilityPoint.all_objects.count() == 1
    assert UtilityPoint.objects.get().attributes == {"medium": "steam"}


def test_stale_if_match_on_a_point_is_412(world, api_client):
    point = make_point(world, "water", 120.171, 35.961)
    api_client.force_authenticate(world.surveyor)
    url = f"{URL}{point.pk}/"
    assert api_client.get(url)["ETag"] == '"1"'
    ok = api_client.patch(url, {"name": "A"}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    stale = api_client.patch(url, {"name": "B"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    assert stale.json()["current"]["name"] == "A"
    point.refresh_from_db()
    assert (point.name, point.version) == ("A", 2)


# --- lifecycle --------------------------------------------------------------------------------


def transition(api_client, user, point, status):
    api_client.force_authenticate(user)
    return api_client.post(f"{URL}{point.pk}/transition/", {"status": status}, format="json")


def test_lifecycle_moves_one_step_at_a_time(world, api_client):
    point = make_point(world, "water", 120.171, 35.961)
    company_user = world.company_users["water"]
    skip = transition(api_client, company_user, point, "agreed")
    assert skip.status_code == 409
    assert skip.json()["code"] == "illegal_transition"
    assert transition(api_client, world.surveyor, point, "surveyed").json()["status"] == "surveyed"
    again = transition(api_client, world.surveyor, point, "surveyed")
    assert again.status_code == 409
    assert transition(api_client, company_user, point, "agreed").json()["status"] == "agreed"
    assert transition(api_client, company_user, point, "connected").json()["status"] == "connected"
    back = transition(api_client, company_user, point, "surveyed")
    assert back.status_code == 409
    point.refresh_from_db()
    assert (point.status, point.version) == ("connected", 4)


def test_only_the_company_agrees_and_connects(world, api_client):
    point = make_point(world, "water", 120.171, 35.961)
    assert transition(api_client, world.surveyor, point, "surveyed").status_code == 200
    refused = transition(api_client, world.surveyor, point, "agreed")
    assert refused.status_code == 403
    point.refresh_from_db()
    assert (point.status, point.version) == ("surveyed", 2)


def test_status_is_not_writable_by_patch(world, api_client):
    point = make_point(world, "water", 120.171, 35.961)
    api_client.force_authenticate(world.surveyor)
    response = api_client.patch(f"{URL}{point.pk}/", {"status": "connected"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 200
    point.refresh_from_db()
    assert (point.status, point.version) == ("proposed", 1)


def test_connecting_the_point_of_an_accepted_request_connects_the_request(world, api_client):
    utility_application_create(
        case=world.case, site=world.site, demands={"water": VALID_DEMANDS["water"]}, by=world.official
    )
    request = UtilityRequest.objects.get()
    company_user = world.company_users["water"]
    utility_request_respond(request=request, decision="accept", by=company_user)
    api_client.force_authenticate(company_user)
    created = api_client.post(URL, point_body(world, "water", request=str(request.pk)), format="json")
    assert created.status_code == 201
    point = UtilityPoint.objects.get()
    for status in ("surveyed", "agreed", "connected"):
        assert transition(api_client, company_user, point, status).status_code == 200
    request.refresh_from_db()
    assert request.status == "connected"


# --- scoping ----------------------------------------------------------------------------------


def test_water_company_gets_no_2xx_on_power_points(world, api_client):
    water_point = make_point(world, "water", 120.171, 35.961)
    power_point = make_point(world, "power", 120.1711, 35.9611)
    api_client.force_authenticate(world.company_users["water"])
    url = f"{URL}{power_point.pk}/"
    responses = [
        api_client.get(url),
        api_client.patch(url, {"name": "x"}, format="json", HTTP_IF_MATCH='"1"'),
        api_client.put(url, point_body(world, "power"), format="json", HTTP_IF_MATCH='"1"'),
        api_client.post(f"{url}transition/", {"status": "surveyed"}, format="json"),
        api_client.delete(url),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404, 404, 404]
    listed = api_client.get(URL).json()
    assert [p["id"] for p in listed["results"]] == [str(water_point.pk)]
    nearby = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 5000}).json()
    assert [p["id"] for p in nearby["results"]] == [str(water_point.pk)]
    power_point.refresh_from_db()
    assert (power_point.version, power_point.name, power_point.deleted_at) == (1, "", None)


def test_company_sees_only_its_own_points_of_its_type(world, api_client):
    from backend.utilities.tests.factories import UtilityCompanyFactory

    other_water = UtilityCompanyFactory(utility_types=["water"], name="另一家水务")
    point, _ = utility_point_create(
        case=world.case, utility_type="water", location=_geos(120.171, 35.961), company=other_water, by=None
    )
    api_client.force_authenticate(world.company_users["water"])
    assert api_client.get(f"{URL}{point.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("who", "count"), [("official", 2), ("surveyor", 2), ("outside_official", 0), ("other_crew_surveyor", 0)]
)
def test_points_follow_case_visibility_for_everyone_else(world, api_client, who, count):
    make_point(world, "water", 120.171, 35.961)
    make_point(world, "gas", 120.172, 35.962)
    api_client.force_authenticate(getattr(world, who))
    assert api_client.get(URL).json()["count"] == count
    assert api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 5000}).json()["count"] == count


# --- nearby -----------------------------------------------------------------------------------

SPOKES = [
    # (utility type, lon, lat): distances from ~60 m to ~9 km in every direction
    ("water", 120.1705, 35.9603),
    ("power", 120.1650, 35.9600),
    ("gas", 120.1700, 35.9700),
    ("water", 120.1900, 35.9500),
    ("telecom", 120.1300, 35.9900),
    ("heating", 120.2500, 35.9400),
    ("water", 120.1700, 36.0400),
    ("power", 120.1725, 35.9590),
]


@pytest.fixture
def spokes(world):
    return [make_point(world, t, lon, lat, name=f"P{i}") for i, (t, lon, lat) in enumerate(SPOKES)]


def test_nearby_is_ordered_by_geodesic_distance_in_metres(world, api_client, spokes):
    api_client.force_authenticate(world.official)
    response = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 50000})
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (8, None, None)
    expected = sorted((vincenty_m(*ORIGIN, lon, lat), f"P{i}") for i, (_t, lon, lat) in enumerate(SPOKES))
    assert [p["name"] for p in body["results"]] == [name for _d, name in expected]
    distances = [p["distance_m"] for p in body["results"]]
    assert distances == sorted(distances)
    for result, (reference, _name) in zip(body["results"], expected, strict=True):
        assert result["distance_m"] == pytest.approx(reference, rel=0.005)


def test_nearby_respects_the_radius(world, api_client, spokes):
    api_client.force_authenticate(world.official)
    body = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 1000}).json()
    expected = sorted(
        (vincenty_m(*ORIGIN, lon, lat), f"P{i}")
        for i, (_t, lon, lat) in enumerate(SPOKES)
        if vincenty_m(*ORIGIN, lon, lat) <= 1000
    )
    assert [p["name"] for p in body["results"]] == [name for _d, name in expected]
    assert [p["name"] for p in body["results"]] == ["P0", "P7", "P1"]
    assert all(p["distance_m"] <= 1000 for p in body["results"])


def test_nearby_filters_by_utility_type_and_limits(world, api_client, spokes):
    api_client.force_authenticate(world.official)
    water = api_client.get(
        NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 50000, "utility_type": "water"}
    ).json()
    assert [p["name"] for p in water["results"]] == ["P0", "P3", "P6"]
    assert {p["utility_type"] for p in water["results"]} == {UtilityType.WATER}
    limited = api_client.get(NEARBY, {"lon": ORIGIN[0], "lat": ORIGIN[1], "radius_m": 50000, "limit": 2}).json()
    assert [p["name"] for p in limited["results"]] == ["P0", "P7"]
    assert limited["count"] == 8
    assert "offset=2" in limited["next"]
    second = api_client.get(limited["next"]).json()
    assert [p["name"] for p in second["results"]] == ["P1", "P2"]


def test_nearby_honours_gcj02_query_point(world, api_client, spokes):
    api_client.force_authenticate(world.official)
    gcj_lon, gcj_lat = wgs84_to_gcj02(120.1705, 35.9603)
    body = api_client.get(
        NEARBY, {"lon": gcj_lon, "lat": gcj_lat, "radius_m": 5, "limit": 1}, HTTP_X_COORD_SYSTEM="gcj02"
    ).json()
    assert [p["name"] for p in body["results"]] == ["P0"]
    assert body["results"][0]["distance_m"] < 0.01
    unshifted = api_client.get(NEARBY, {"lon": gcj_lon, "lat": gcj_lat, "radius_m": 5}).json()
    assert unshifted["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": 120.17, "lat": 35.96}, "radius_m"),
        ({"lon": 120.17, "lat": 35.96, "radius_m": 50001}, "radius_m"),
        ({"lon": 120.17, "lat": 35.96, "radius_m": 0}, "radius_m"),
        ({"lon": 120.17, "lat": 35.96, "radius_m": "nan"}, "radius_m"),
        ({"lon": 181, "lat": 35.96, "radius_m": 10}, "lon"),
        ({"lat": 35.96, "radius_m": 10}, "lon"),
        ({"lon": 120.17, "lat": "x", "radius_m": 10}, "lat"),
        ({"lon": 120.17, "lat": 35.96, "radius_m": 10, "limit": 1001}, "limit"),
        ({"lon": 120.17, "lat": 35.96, "radius_m": 10, "utility_type": "sewage"}, "utility_type"),
    ],
)
def test_nearby_refuses_bad_parameters(world, api_client, params, field):
    api_client.force_authenticate(world.official)
    response = api_client.get(NEARBY, params)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["errors"]) == [field]


def test_nearby_refuses_an_unknown_coord_system(world, api_client):
    api_client.force_authenticate(world.official)
    response = api_client.get(NEARBY, {"lon": 120.17, "lat": 35.96, "radius_m": 10}, HTTP_X_COORD_SYSTEM="bd09")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_coord_system"
