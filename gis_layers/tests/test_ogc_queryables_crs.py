"""OGC API – Features beyond Part 1: queryables and property filters (Part 3), unknown
parameters refused, `crs` / `bbox-crs` with Content-Crs (Part 2), and the collections' spatial
and temporal extents. GDAL reads the filtered layers from a live server."""

import datetime as dt
import json
import math
import shutil
import subprocess

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.core.cache import caches
from django.db import connection
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import PASSWORD, user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.sites.tests.factories import SiteFactory
from backend.utilities.models import UtilityPoint, UtilityPointStatus
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers import layers
from gis_layers.layers import CGCS2000, CRS84, WEB_MERCATOR, WORLD_BOUNDS
from mobile_api import answer_cache

pytestmark = pytest.mark.django_db

HERE = (120.1711, 35.9607)
FAR = (120.3, 36.1)
EAST_RING = ((120.1850, 35.9600), (120.1870, 35.9600), (120.1870, 35.9614), (120.1850, 35.9614), (120.1850, 35.9600))
ITEMS = "/ogc/collections/utility_points/items"


def _official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _points():
    """Two agreed water points (one far off) and a proposed power point, on two cases."""
    case, other = ApprovalCaseFactory(), ApprovalCaseFactory()
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    power = UtilityCompanyFactory(utility_types=[UtilityType.POWER])
    agreed = UtilityPoint.objects.create(
        case=case,
        utility_type=UtilityType.WATER,
        company=water,
        location=Point(*HERE, srid=4326),
        status=UtilityPointStatus.AGREED,
    )
    far = UtilityPoint.objects.create(
        case=other,
        utility_type=UtilityType.WATER,
        company=water,
        location=Point(*FAR, srid=4326),
        status=UtilityPointStatus.AGREED,
    )
    proposed = UtilityPoint.objects.create(
        case=case, utility_type=UtilityType.POWER, company=power, location=Point(*HERE, srid=4326)
    )
    return agreed, far, proposed


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {feature["id"] for feature in response.json()["features"]}


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    return lon * 20037508.342789244 / 180, math.log(math.tan((90 + lat) * math.pi / 360)) * 6378137


# --- queryables ----------------------------------------------------------------------------


def test_the_queryables_are_a_json_schema_of_the_filterable_properties():
    response = _client(_official()).get("/ogc/collections/utility_points/queryables")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    body = response.json()
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["$id"] == "http://testserver/ogc/collections/utility_points/queryables"
    assert body["type"] == "object"
    assert body["additionalProperties"] is False
    properties = body["properties"]
    # References, code lists and flags; not free text (name, note), numbers or timestamps.
    assert set(properties) == {"geometry", "utility_type", "company_id", "request_id", "status", "case_id", "is_locked"}
    assert properties["geometry"]["format"] == "geometry-point"
    assert properties["status"]["enum"] == ["proposed", "surveyed", "agreed", "connected"]
    assert properties["utility_type"]["enum"] == ["water", "power", "gas", "heating", "telecom"]
    assert properties["case_id"] == {**properties["case_id"], "type": "string", "format": "uuid"}
    assert properties["is_locked"]["type"] == "boolean"
    sites = _client(_official()).get("/ogc/collections/sites/queryables").json()
    assert sites["properties"]["geometry"]["format"] == "geometry-multipolygon"
    inspections = _client(_official()).get("/ogc/collections/inspections/queryables").json()
    assert inspections["properties"]["stage"] == {
        **inspections["properties"]["stage"],
        "type": "integer",
        "enum": [1, 2],
    }


def test_the_collection_links_its_queryables_and_they_need_a_login():
    collection = _client(_official()).get("/ogc/collections/utility_points").json()
    link = next(
        link for link in collection["links"] if link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables"
    )
    assert link["href"] == "http://testserver/ogc/collections/utility_points/queryables"
    assert link["type"] == "application/schema+json"
    assert APIClient().get("/ogc/collections/utility_points/queryables").status_code == 401
    missing = _client(_official()).get("/ogc/collections/nothing/queryables")
    assert missing.status_code == 404
    assert missing.json()["code"] == "collection_not_found"


def test_the_ogc_api_definition_lists_each_collections_own_queryables():
    response = APIClient().get("/ogc/api?status=agreed")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    body = response.json()
    assert body["openapi"].startswith("3.")
    assert body["servers"] == [{"url": "http://testserver/ogc"}]
    assert "/" in body["paths"] and "/conformance" in body["paths"]
    assert not [path for path in body["paths"] if path.startswith(("/ogc", "/tiles"))]

    def query(path):
        return {p["name"]: p for p in body["paths"][path]["get"]["parameters"] if p["in"] == "query"}

    points = query("/collections/utility_points/items")
    assert {"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "status", "utility_type", "case_id"} <= set(
        points
    )
    assert points["status"]["schema"]["enum"] == ["proposed", "surveyed", "agreed", "connected"]
    assert "stage" not in points
    sites = query("/collections/sites/items")
    assert "status" not in sites and "project_id" in sites
    assert query("/collections/inspections/items")["stage"]["schema"] == {"type": "integer", "enum": [1, 2]}
    generic = query("/collections/{collection_id}/items")
    assert {"status", "stage", "crs"} <= set(generic)


# --- property filters ------------------------------------------------------------------------


def test_property_filters_keep_the_features_whose_property_equals_the_value():
    agreed, far, proposed = _points()
    client = _client(_official())
    assert _ids(client.get(ITEMS, {"status": "agreed"})) == {str(agreed.pk), str(far.pk)}
    assert _ids(client.get(ITEMS, {"status": "proposed"})) == {str(proposed.pk)}
    assert _ids(client.get(ITEMS, {"status": "connected"})) == set()
    assert _ids(client.get(ITEMS, {"utility_type": "power"})) == {str(proposed.pk)}
    assert _ids(client.get(ITEMS, {"case_id": str(agreed.case_id)})) == {str(agreed.pk), str(proposed.pk)}
    assert _ids(client.get(ITEMS, {"company_id": str(far.company_id)})) == {str(agreed.pk), str(far.pk)}
    assert _ids(client.get(ITEMS, {"is_locked": "false"})) == {str(agreed.pk), str(far.pk), str(proposed.pk)}
    assert _ids(client.get(ITEMS, {"is_locked": "true"})) == set()
    assert _ids(client.get(ITEMS, {"is_locked": "0"})) == {str(agreed.pk), str(far.pk), str(proposed.pk)}
    # Filters combine with each other, with bbox and with datetime.
    both = client.get(ITEMS, {"status": "agreed", "case_id": str(agreed.case_id), "bbox": "120.17,35.96,120.18,35.97"})
    assert _ids(both) == {str(agreed.pk)}
    assert both.json()["numberMatched"] == 1
    assert _ids(client.get(ITEMS, {"status": "agreed", "datetime": "2000-01-01/2001-01-01"})) == set()


def test_paging_links_keep_the_filters_and_crs():
    _points()
    body = _client(_official()).get(ITEMS, {"status": "agreed", "crs": CGCS2000.uri, "limit": 1}).json()
    assert body["numberMatched"] == 2
    links = {link["rel"]: link["href"] for link in body["links"]}
    assert links["next"].startswith("http://testserver/ogc/collections/utility_points/items?")
    assert "status=agreed" in links["next"]
    assert "crs=http%3A%2F%2Fwww.opengis.net%2Fdef%2Fcrs%2FEPSG%2F0%2F4490" in links["next"]
    assert "offset=1" in links["next"]
    second = _client(_official()).get(links["next"])
    assert second.status_code == 200
    assert second["Content-Crs"] == f"<{CGCS2000.uri}>"
    assert second.json()["numberReturned"] == 1


def test_filters_never_show_what_the_users_scope_does_not():
    agreed, _far, proposed = _points()
    water_user = user_of_kind(OrganizationKind.UTILITY_COMPANY, roles=[Role.UTILITY_STAFF])
    water_user.organization = agreed.company
    water_user.save()
    agreed.case.assigned_organizations.add(agreed.company)
    client = _client(water_user)
    assert _ids(client.get(ITEMS)) == {str(agreed.pk)}
    # The power point is on the same case, but not the water company's.
    assert _ids(client.get(ITEMS, {"utility_type": "power"})) == set()
    assert _ids(client.get(ITEMS, {"case_id": str(proposed.case_id)})) == {str(agreed.pk)}
    assert _ids(client.get(ITEMS, {"company_id": str(proposed.company_id)})) == set()


@pytest.mark.parametrize(
    ("path", "query", "code", "field"),
    [
        (ITEMS, "foo=1", "unknown_parameter", "foo"),
        # A queryable of another collection is not one of this one's.
        ("/ogc/collections/sites/items", "status=open", "unknown_parameter", "status"),
        (ITEMS, "stage=1", "unknown_parameter", "stage"),
        (ITEMS, "name=x", "unknown_parameter", "name"),
        (ITEMS, "limit=1&limit=2", "repeated_parameter", "limit"),
        (ITEMS, "status=agreed&status=proposed", "repeated_parameter", "status"),
        (ITEMS, "status=done", "invalid_filter", "status"),
        (ITEMS, "status=", "invalid_filter", "status"),
        (ITEMS, "utility_type=WATER", "invalid_filter", "utility_type"),
        (ITEMS, "case_id=12", "invalid_filter", "case_id"),
        (ITEMS, "is_locked=yes", "invalid_filter", "is_locked"),
        ("/ogc/collections/inspections/items", "stage=3", "invalid_filter", "stage"),
        ("/ogc/collections/inspections/items", "stage=one", "invalid_filter", "stage"),
        ("/ogc/collections/inspections/items", "stage=%D9%A1", "invalid_filter", "stage"),
        (ITEMS, "f=html", "unsupported_format", "f"),
        (ITEMS, "crs=http://www.opengis.net/def/crs/EPSG/0/4326", "invalid_crs", "crs"),
        (ITEMS, "crs=EPSG:4490", "invalid_crs", "crs"),
        (ITEMS, "bbox=1,2,3,4&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4547", "invalid_bbox_crs", "bbox-crs"),
        (
            "/ogc/collections/sites/items/00000000-0000-0000-0000-000000000000",
            "bbox=1,2,3,4",
            "unknown_parameter",
            "bbox",
        ),
        ("/ogc/collections/sites/items/00000000-0000-0000-0000-000000000000", "crs=x", "invalid_crs", "crs"),
        ("/ogc/collections/sites/queryables", "status=open", "unknown_parameter", "status"),
    ],
)
def test_unknown_parameters_and_bad_values_are_specific_400_problems(path, query, code, field):
    response = _client(_official()).get(f"{path}?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert field in body["errors"]


def test_a_parameter_repeated_with_the_same_value_is_one_and_f_json_is_accepted():
    agreed, far, _proposed = _points()
    client = _client(_official())
    assert _ids(client.get(f"{ITEMS}?status=agreed&status=agreed&f=geojson")) == {str(agreed.pk), str(far.pk)}
    assert client.get(f"/ogc/collections/utility_points/items/{agreed.pk}?f=json").status_code == 200
    # A feature takes its collection's filters too (GDAL repeats a dataset URL's on every request).
    assert client.get(f"/ogc/collections/utility_points/items/{agreed.pk}?status=agreed").status_code == 200
    assert client.get(f"/ogc/collections/utility_points/items/{agreed.pk}?status=proposed").status_code == 404


# --- CRS (Part 2) ----------------------------------------------------------------------------


def test_crs84_is_the_default_and_named_by_content_crs():
    agreed, _far, _proposed = _points()
    client = _client(_official())
    response = client.get(ITEMS, {"status": "agreed", "bbox": "120.17,35.96,120.18,35.97"})
    assert response["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    assert response.json()["features"][0]["geometry"]["coordinates"] == list(HERE)
    explicit = client.get(ITEMS, {"crs": CRS84.uri, "bbox-crs": CRS84.uri, "bbox": "120.17,35.96,120.18,35.97"})
    assert explicit["Content-Crs"] == response["Content-Crs"]
    one = client.get(f"{ITEMS}/{agreed.pk}")
    assert one["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


def test_a_web_map_on_another_origin_may_read_content_crs(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://map.example.org"]
    _points()
    response = _client(_official()).get(ITEMS, {"crs": CGCS2000.uri}, HTTP_ORIGIN="https://map.example.org")
    assert response.status_code == 200
    exposed = [name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")]
    assert "content-crs" in exposed


def test_cgcs2000_answers_latitude_first_and_takes_a_latitude_first_bbox():
    agreed, _far, _proposed = _points()
    client = _client(_official())
    response = client.get(
        ITEMS,
        {"status": "agreed", "crs": CGCS2000.uri, "bbox-crs": CGCS2000.uri, "bbox": "35.96,120.17,35.97,120.18"},
    )
    assert response["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    [feature] = response.json()["features"]
    assert feature["id"] == str(agreed.pk)
    lat, lon = feature["geometry"]["coordinates"]
    # CGCS2000 and WGS84 agree to centimetres (PostGIS/PROJ: no datum shift between them).
    assert lat == pytest.approx(HERE[1], abs=1e-6)
    assert lon == pytest.approx(HERE[0], abs=1e-6)
    one = client.get(f"{ITEMS}/{agreed.pk}", {"crs": CGCS2000.uri})
    assert one["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    assert one.json()["geometry"]["coordinates"] == feature["geometry"]["coordinates"]
    # The same numbers longitude first are no box in CGCS2000 (latitude 120).
    wrong = client.get(ITEMS, {"bbox-crs": CGCS2000.uri, "bbox": "120.17,35.96,120.18,35.97"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_bbox"


def test_sites_in_cgcs2000_are_latitude_first_multipolygons():
    site = SiteFactory(boundary=Polygon(EAST_RING, srid=4326))
    feature = _client(_official()).get(f"/ogc/collections/sites/items/{site.pk}", {"crs": CGCS2000.uri}).json()
    ring = feature["geometry"]["coordinates"][0][0]
    assert [[round(lat, 6), round(lon, 6)] for lat, lon in ring] == [[lat, lon] for lon, lat in EAST_RING]


def test_web_mercator_answers_in_metres_and_takes_a_box_in_metres():
    agreed, _far, _proposed = _points()
    client = _client(_official())
    x, y = _mercator(*HERE)
    box = f"{x - 50},{y - 50},{x + 50},{y + 50}"
    response = client.get(
        ITEMS, {"status": "agreed", "bbox-crs": WEB_MERCATOR.uri, "bbox": box, "crs": WEB_MERCATOR.uri}
    )
    assert response["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/3857>"
    [feature] = response.json()["features"]
    assert feature["id"] == str(agreed.pk)
    assert feature["geometry"]["coordinates"] == [pytest.approx(x, abs=0.02), pytest.approx(y, abs=0.02)]
    # 100 m east of it: nothing.
    away = client.get(ITEMS, {"bbox-crs": WEB_MERCATOR.uri, "bbox": f"{x + 100},{y - 50},{x + 200},{y + 50}"})
    assert _ids(away) == set()
    beyond = client.get(ITEMS, {"bbox-crs": WEB_MERCATOR.uri, "bbox": "0,0,30000000,1"})
    assert beyond.status_code == 400
    assert beyond.json()["code"] == "invalid_bbox"


# --- extents -----------------------------------------------------------------------------------


def test_collections_have_the_users_spatial_and_temporal_extent():
    case = ApprovalCaseFactory()
    SiteFactory(case=case, created_at=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC))
    SiteFactory(case=case, boundary=Polygon(EAST_RING, srid=4326), created_at=dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC))
    client = _client(_official())
    extent = client.get("/ogc/collections/sites").json()["extent"]
    assert extent["spatial"] == {"bbox": [[120.17, 35.96, 120.187, 35.9614]], "crs": CRS84.uri}
    assert extent["temporal"] == {
        "interval": [["2026-03-01T08:00:00Z", "2026-06-01T08:00:00Z"]],
        "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
    }
    # Kept per data version: a new record shows at once.
    SiteFactory(case=case, boundary=Polygon([(x + 0.1, y) for x, y in EAST_RING], srid=4326))
    again = client.get("/ogc/collections").json()["collections"][0]["extent"]
    assert again["spatial"]["bbox"] == [[120.17, 35.96, 120.287, 35.9614]]
    assert again["temporal"]["interval"][0][0] == "2026-03-01T08:00:00Z"
    # An outsider learns nothing from it.
    outsider = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370100")
    theirs = _client(outsider).get("/ogc/collections/sites").json()["extent"]
    assert theirs == {"spatial": {"bbox": [WORLD_BOUNDS], "crs": CRS84.uri}}


def test_beyond_the_exact_bound_the_extent_comes_from_table_statistics(monkeypatch):
    case = ApprovalCaseFactory()
    SiteFactory(case=case)
    SiteFactory(case=case, boundary=Polygon(EAST_RING, srid=4326))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sites_site")
    monkeypatch.setattr(layers, "EXTENT_EXACT_MAX_ROWS", 1)
    extent = _client(_official()).get("/ogc/collections/sites").json()["extent"]
    [[minx, miny, maxx, maxy]] = extent["spatial"]["bbox"]
    # The estimate covers the rows (it is the statistics' box: padded, and as of the last ANALYZE
    # that stored one) and the interval is left open.
    assert minx <= 120.17 and miny <= 35.96 and maxx >= 120.187 and maxy >= 35.9614
    assert extent["temporal"]["interval"] == [[None, None]]


# --- GDAL against a live server -------------------------------------------------------------------


def _ogr(*args: str, user) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ogrinfo", "-ro", "--config", "GDAL_HTTP_USERPWD", f"{user.username}:{PASSWORD}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"CPL_DEBUG": "ON", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed")
@pytest.mark.django_db(transaction=True)
def test_gdal_reads_a_layer_filtered_by_queryables_in_the_url(live_server):
    user = _official()
    agreed, far, _proposed = _points()
    url = f"OAPIF:{live_server.url}/ogc/collections/utility_points?status=agreed"
    result = _ogr("-al", "-so", url, user=user)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Feature Count: 2" in result.stdout
    assert "Warning" not in output
    features = _ogr("-al", "-q", "-fid", "1", url, user=user)
    assert features.returncode == 0, features.stdout + features.stderr
    assert "status (String) = agreed" in features.stdout
    # Two filters, through the landing page as a dataset, paged one feature at a time.
    both = _ogr(
        "-al",
        "-so",
        "-oo",
        "PAGE_SIZE=1",
        f"OAPIF:{live_server.url}/ogc/?status=agreed&case_id={far.case_id}",
        "utility_points",
        user=user,
    )
    assert both.returncode == 0, both.stdout + both.stderr
    assert "Feature Count: 1" in both.stdout
    assert str(agreed.pk) not in both.stdout


@pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="GDAL's ogr2ogr is not installed")
@pytest.mark.django_db(transaction=True)
def test_gdal_ogr2ogr_copies_a_filtered_layer_and_an_attribute_filter(live_server, tmp_path):
    user = _official()
    _agreed, _far, proposed = _points()
    target = tmp_path / "proposed.geojson"
    result = subprocess.run(
        [
            "ogr2ogr",
            "--config",
            "GDAL_HTTP_USERPWD",
            f"{user.username}:{PASSWORD}",
            "-f",
            "GeoJSON",
            str(target),
            f"OAPIF:{live_server.url}/ogc/",
            "utility_points",
            "-where",
            "utility_type = 'power'",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"CPL_DEBUG": "ON", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(target.read_text())
    assert [feature["properties"]["id"] for feature in body["features"]] == [str(proposed.pk)]
    # GDAL found the queryable in the OGC API definition and sent the filter to the server
    # (else it downloads every feature and filters them itself).
    assert "items?limit=10&utility_type=power" in result.stderr
    assert "evaluated on client side" not in result.stderr


# --- paging (issue 11: an ordered walk, numberMatched only where cheap) ----------------------------


def test_number_matched_is_left_out_beyond_its_bound_and_exact_on_the_last_page(monkeypatch):
    sites = SiteFactory.create_batch(5)
    type(sites[0]).all_objects.filter(pk=sites[0].pk).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    monkeypatch.setattr(layers, "NUMBER_MATCHED_MAX", 3)
    client = _client(_official())
    first = client.get("/ogc/collections/sites/items", {"limit": 2}).json()
    assert "numberMatched" not in first  # more than 3 match: not counted
    assert first["numberReturned"] == 2
    # In (created_at, id) order: the oldest first.
    assert first["features"][0]["id"] == str(sites[0].pk)
    seen = [feature["id"] for feature in first["features"]]
    url = next(link["href"] for link in first["links"] if link["rel"] == "next")
    while url:
        body = client.get(url).json()
        seen += [feature["id"] for feature in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert sorted(seen) == sorted(str(site.pk) for site in sites)
    # Reached by keyset the last page is counted like any other (beyond the bound: left out);
    # by offset it knows the total without counting.
    assert "numberMatched" not in body
    assert body["numberReturned"] == 1
    last = client.get("/ogc/collections/sites/items", {"limit": 2, "offset": 4}).json()
    assert last["numberMatched"] == 5
    assert last["numberReturned"] == 1
    past = client.get("/ogc/collections/sites/items", {"limit": 2, "offset": 10}).json()
    assert past["features"] == [] and "numberMatched" not in past
    assert [link["rel"] for link in past["links"]] == ["self", "collection", "prev"]
    monkeypatch.setattr(layers, "NUMBER_MATCHED_MAX", 10)
    # A new bound is new code (a deploy): the answers kept for the same data are not its answers.
    caches[answer_cache.ALIAS].clear()
    assert client.get("/ogc/collections/sites/items", {"limit": 2}).json()["numberMatched"] == 5
    assert client.get("/ogc/collections/sites/items", {"limit": 2, "offset": 10}).json()["numberMatched"] == 5


def test_next_links_walk_by_keyset_and_keep_ties_in_id_order():
    created = dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    sites = SiteFactory.create_batch(5)
    # Three share a created_at: the id breaks the tie.
    type(sites[0]).all_objects.filter(pk__in=[s.pk for s in sites[:3]]).update(created_at=created)
    expected = sorted(sites[:3], key=lambda s: s.pk) + sorted(sites[3:], key=lambda s: (s.created_at, s.pk))
    client = _client(_official())
    body = client.get("/ogc/collections/sites/items", {"limit": 2}).json()
    seen = [feature["id"] for feature in body["features"]]
    next_url = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "after=2026-03-01T08%3A00%3A00.123456%2B00%3A00%2C" in next_url
    while next_url:
        body = client.get(next_url).json()
        assert body["numberMatched"] == 5
        seen += [feature["id"] for feature in body["features"]]
        next_url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == [str(site.pk) for site in expected]
    # Not a next link's cursor (the last one has no zone: naive times are refused).
    for bad in (
        "x",
        "2026-03-01T08:00:00,not-a-uuid",
        f"yesterday,{sites[0].pk}",
        f"2026-03-01T08:00:00,{sites[0].pk}",
    ):
        response = client.get("/ogc/collections/sites/items", {"after": bad})
        assert response.status_code == 400, bad
        assert response.json()["code"] in {"invalid_after", "invalid_datetime"}, bad
