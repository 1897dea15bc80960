import base64
import datetime as dt
import math
import shutil
import subprocess

import pytest
from django.contrib.gis.geos import Point, Polygon
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import PASSWORD, user_of_kind
from backend.api_schema import OPENAPI_JSON_CONTENT_TYPE
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.sites.tests.factories import SiteFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import LAYERS

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# ~1.4 km east of the demo plot, still in the demo area.
EAST_RING = ((120.1850, 35.9600), (120.1870, 35.9600), (120.1870, 35.9614), (120.1850, 35.9614), (120.1850, 35.9600))


def _official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")


def _outsider():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370100")


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _sites(count, *, case=None, **fields):
    case = case or ApprovalCaseFactory()
    return [SiteFactory(case=case, **fields) for _ in range(count)]


def _basic(user) -> str:
    return "Basic " + base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()


def test_landing_page_links_and_is_public():
    response = APIClient().get("/ogc/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    links = {link["rel"]: link for link in response.json()["links"]}
    assert links["self"]["href"] == "http://testserver/ogc/"
    assert links["service-desc"]["href"] == "http://testserver/ogc/api"
    assert links["service-desc"]["type"] == OPENAPI_JSON_CONTENT_TYPE
    assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert links["data"]["href"] == "http://testserver/ogc/collections"


def test_conformance_lists_core_geojson_oas30_crs_and_queryables():
    response = APIClient().get("/ogc/conformance")
    assert response.status_code == 200
    assert response.json() == {
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
            "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
        ]
    }


def test_collections_list_every_layer_with_items_links_and_the_visible_extent():
    _sites(1)
    response = _client(_official()).get("/ogc/collections")
    assert response.status_code == 200
    collections = response.json()["collections"]
    assert [c["id"] for c in collections] == ["sites", "surveys", "findings", "utility_points", "inspections", "photos"]
    sites = collections[0]
    assert sites["itemType"] == "feature"
    assert sites["crs"] == [
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "http://www.opengis.net/def/crs/EPSG/0/4490",
        "http://www.opengis.net/def/crs/EPSG/0/3857",
    ]
    assert sites["storageCrs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert sites["extent"]["spatial"]["bbox"] == [[120.17, 35.96, 120.1722, 35.9614]]
    items = next(link for link in sites["links"] if link["rel"] == "items")
    assert items == {
        "href": "http://testserver/ogc/collections/sites/items",
        "rel": "items",
        "type": "application/geo+json",
        "title": LAYERS["sites"].title,
    }
    one = _client(_official()).get("/ogc/collections/sites")
    assert one.status_code == 200
    assert one.json()["id"] == "sites"


def test_collections_need_a_login_and_challenge_with_basic():
    response = APIClient().get("/ogc/collections")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Basic")
    assert APIClient().get("/ogc/collections/sites/items").status_code == 401
    assert APIClient().get("/tiles/sites/0/0/0.mvt").status_code == 401


def test_unknown_collection_is_a_404_problem():
    response = _client(_official()).get("/ogc/collections/nothing/items")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "collection_not_found"


def test_items_are_a_geojson_feature_collection_built_by_postgis():
    [site] = _sites(1, name="红线一")
    response = _client(_official()).get("/ogc/collections/sites/items")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 1
    assert body["numberReturned"] == 1
    assert body["timeStamp"].endswith("Z")
    assert [link["rel"] for link in body["links"]] == ["self", "collection"]
    [feature] = body["features"]
    assert feature["id"] == str(site.pk)
    assert feature["geometry"] == {
        "type": "MultiPolygon",
        "coordinates": [[[list(p) for p in site.boundary.coords[0]]]],
    }
    assert feature["properties"]["name"] == "红线一"
    assert feature["properties"]["case_id"] == str(site.case_id)
    assert feature["properties"]["version"] == 1


def test_paging_follows_next_links_to_the_end():
    sites = _sites(7)
    client = _client(_official())
    url = "/ogc/collections/sites/items?limit=3"
    seen, pages = [], 0
    while url:
        body = client.get(url).json()
        pages += 1
        assert body["numberMatched"] == 7
        seen += [feature["id"] for feature in body["features"]]
        assert body["numberReturned"] == len(body["features"])
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert pages == 3
    assert sorted(seen) == sorted(str(site.pk) for site in sites)
    assert len(seen) == 7


def test_bbox_keeps_only_features_that_intersect_it():
    case = ApprovalCaseFactory()
    [west] = _sites(1, case=case)
    [east] = _sites(1, case=case, boundary=Polygon(EAST_RING, srid=4326))
    client = _client(_official())
    body = client.get("/ogc/collections/sites/items?bbox=120.18,35.95,120.19,35.97").json()
    assert [f["id"] for f in body["features"]] == [str(east.pk)]
    assert body["numberMatched"] == 1
    body = client.get("/ogc/collections/sites/items?bbox=120.0,35.0,121.0,36.0").json()
    assert body["numberMatched"] == 2
    assert {f["id"] for f in body["features"]} == {str(west.pk), str(east.pk)}
    body = client.get("/ogc/collections/sites/items?bbox=100,20,101,21").json()
    assert body["numberMatched"] == 0
    assert body["features"] == []


def test_datetime_instant_interval_and_open_ends():
    case = ApprovalCaseFactory()
    [march] = _sites(1, case=case, created_at=dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    [june] = _sites(1, case=case, created_at=dt.datetime(2026, 6, 1, 8, 0, tzinfo=UTC))
    client = _client(_official())

    def ids(value):
        body = client.get("/ogc/collections/sites/items", {"datetime": value}).json()
        return [f["id"] for f in body["features"]]

    assert ids("2026-03-01T08:00:00Z") == [str(march.pk)]
    assert ids("2026-03-01T16:00:00+08:00") == [str(march.pk)]
    assert ids("2026-03-01T08:00:01Z") == []
    assert ids("2026-06-01") == [str(june.pk)]
    assert ids("2026-01-01T00:00:00Z/2026-04-01T00:00:00Z") == [str(march.pk)]
    assert ids("2026-04-01T00:00:00Z/..") == [str(june.pk)]
    assert ids("../2026-04-01T00:00:00Z") == [str(march.pk)]
    assert ids("/2026-12-31T00:00:00Z") == [str(march.pk), str(june.pk)]
    assert ids("../..") == [str(march.pk), str(june.pk)]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("bbox=1,2,3", "invalid_bbox"),
        ("bbox=a,b,c,d", "invalid_bbox"),
        ("bbox=1,2,3,4,5,6", "invalid_bbox"),
        ("bbox=0,50,1,40", "invalid_bbox"),
        ("bbox=0,0,1,nan", "invalid_bbox"),
        ("bbox=-200,0,1,1", "invalid_bbox"),
        ("limit=0", "invalid_limit"),
        ("limit=-5", "invalid_limit"),
        ("limit=1.5", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("offset=-1", "invalid_offset"),
        ("datetime=yesterday", "invalid_datetime"),
        ("datetime=2026-13-01T00:00:00Z", "invalid_datetime"),
        ("datetime=2026-06-01T00:00:00Z/2026-01-01T00:00:00Z", "invalid_datetime"),
        ("datetime=2026-01-01/2026-02-01/2026-03-01", "invalid_datetime"),
    ],
)
def test_invalid_parameters_are_400_problems(query, code):
    response = _client(_official()).get(f"/ogc/collections/sites/items?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["status"] == 400


def test_limit_bounds_are_accepted():
    _sites(2)
    client = _client(_official())
    assert client.get("/ogc/collections/sites/items?limit=1").json()["numberReturned"] == 1
    assert client.get("/ogc/collections/sites/items?limit=10000").json()["numberReturned"] == 2


def test_one_feature_by_id_and_unknown_ids_are_404():
    [site] = _sites(1)
    client = _client(_official())
    response = client.get(f"/ogc/collections/sites/items/{site.pk}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "Feature"
    assert body["id"] == str(site.pk)
    assert body["links"][0]["rel"] == "self"
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = client.get(f"/ogc/collections/sites/items/{bad}")
        assert response.status_code == 404
        assert response.json()["code"] == "feature_not_found"


def test_an_outsider_sees_nothing_and_gets_404_on_a_feature():
    [site] = _sites(2)[:1]
    client = _client(_outsider())
    body = client.get("/ogc/collections/sites/items").json()
    assert body["numberMatched"] == 0
    assert body["features"] == []
    assert client.get(f"/ogc/collections/sites/items/{site.pk}").status_code == 404
    tile = client.get("/tiles/sites/0/0/0.mvt")
    assert tile.status_code == 204
    assert tile.content == b""


def test_deleted_records_are_not_features():
    [kept, gone] = _sites(2)
    gone.deleted_at = dt.datetime(2026, 5, 1, tzinfo=UTC)
    gone.save()
    body = _client(_official()).get("/ogc/collections/sites/items").json()
    assert [f["id"] for f in body["features"]] == [str(kept.pk)]


def test_every_collection_answers_for_a_user():
    client = _client(_official())
    for name in LAYERS:
        response = client.get(f"/ogc/collections/{name}/items")
        assert response.status_code == 200, name
        assert response.json()["numberMatched"] == 0, name


def test_basic_auth_works_on_ogc_and_is_refused_on_the_api():
    user = _official()
    _sites(1)
    response = APIClient().get("/ogc/collections/sites/items", HTTP_AUTHORIZATION=_basic(user))
    assert response.status_code == 200
    assert response.json()["numberMatched"] == 1
    api = APIClient().get("/api/v1/sites/", HTTP_AUTHORIZATION=_basic(user))
    assert api.status_code == 401
    assert api["WWW-Authenticate"] == "Token"
    wrong = APIClient().get("/ogc/collections", HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"x:y").decode())
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "authentication_failed"


# --- vector tiles --------------------------------------------------------------------------


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_a_tile_over_the_demo_area_is_a_vector_tile_and_an_empty_area_is_204():
    _sites(1)
    client = _client(_official())
    x, y = _tile_of(120.171, 35.9607, 14)
    response = client.get(f"/tiles/sites/14/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    # A protobuf Tile: field 3 (layers), wire type 2 → 0x1a; then the layer's name.
    assert response.content[0] == 0x1A
    assert b"sites" in response.content[:20]
    empty = client.get("/tiles/sites/14/0/0.mvt")
    assert empty.status_code == 204
    assert empty.content == b""


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/tiles/sites/23/0/0.mvt", 400, "invalid_tile"),
        ("/tiles/sites/2/4/0.mvt", 404, "tile_not_found"),
        ("/tiles/sites/2/0/4.mvt", 404, "tile_not_found"),
        ("/tiles/nothing/0/0/0.mvt", 404, "layer_not_found"),
        ("/tiles/nothing.json", 404, "layer_not_found"),
    ],
)
def test_tiles_out_of_range_are_problems(path, status, code):
    response = _client(_official()).get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_every_layer_renders_a_tile():
    client = _client(_official())
    for name in LAYERS:
        assert client.get(f"/tiles/{name}/0/0/0.mvt").status_code == 204, name


def test_tilejson_describes_the_layer():
    _sites(1)
    response = _client(_official()).get("/tiles/sites.json")
    assert response.status_code == 200
    body = response.json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"] == ["http://testserver/tiles/sites/{z}/{x}/{y}.mvt"]
    assert body["bounds"] == [120.17, 35.96, 120.1722, 35.9614]
    assert body["minzoom"] == 0
    assert body["maxzoom"] == 22
    [layer] = body["vector_layers"]
    assert layer["id"] == "sites"
    assert layer["fields"]["name"] == "String"
    assert layer["fields"]["area_m2"] == "Number"
    assert layer["fields"]["is_locked"] == "Boolean"


# --- GDAL ------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed")
@pytest.mark.django_db(transaction=True)
def test_gdal_ogrinfo_lists_and_reads_the_sites_layer(live_server):
    user = _official()
    _sites(3)
    result = subprocess.run(
        [
            "ogrinfo",
            "-ro",
            "-so",
            "--config",
            "GDAL_HTTP_USERPWD",
            f"{user.username}:{PASSWORD}",
            f"OAPIF:{live_server.url}/ogc/",
            "sites",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Layer name: sites" in result.stdout
    assert "Feature Count: 3" in result.stdout


def test_utility_point_tiles_carry_their_tile_properties_and_tilejson_names_them():
    """The dense layer's tiles carry what the map styles, filters and labels by
    (LayerDefinition.tile_properties); the OGC item keeps every property."""
    [site] = _sites(1)
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    point = UtilityPoint.objects.create(
        case=site.case,
        utility_type=UtilityType.WATER,
        company=water,
        location=Point(120.171, 35.9607, srid=4326),
        name="接入点甲",
        note="note-only-in-the-item",
    )
    client = _client(_official())
    fields = client.get("/tiles/utility_points.json").json()["vector_layers"][0]["fields"]
    assert set(fields) == {"id", "count", *LAYERS["utility_points"].tile_properties}
    assert "note" not in fields and "updated_at" not in fields
    x, y = _tile_of(120.171, 35.9607, 14)
    tile = client.get(f"/tiles/utility_points/14/{x}/{y}.mvt")
    assert tile.status_code == 200
    for present in (str(point.pk), "接入点甲", str(site.case_id), "water", b"created_at", b"status"):
        assert (present if isinstance(present, bytes) else present.encode()) in tile.content, present
    for absent in (b"note", b"updated_at", b"request_id", b"is_locked"):
        assert absent not in tile.content, absent
    item = client.get(f"/ogc/collections/utility_points/items/{point.pk}").json()
    assert item["properties"]["note"] == "note-only-in-the-item"
