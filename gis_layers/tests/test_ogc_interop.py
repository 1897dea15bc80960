"""What GDAL, QGIS and OGC clients rely on: one geometry type per layer, the service-desc
content type, `limit` clamped to the maximum, and timestamps rendered as REST renders them."""

import datetime as dt
import math
import shutil
import subprocess

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import PASSWORD, user_of_kind
from backend.api_schema import OPENAPI_JSON_CONTENT_TYPE
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.sites.tests.factories import DEMO_RING, SiteFactory
from backend.surveys.tests.factories import SurveyFactory
from gis_layers import views
from gis_layers.views import MAX_LIMIT

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
EAST_RING = ((120.1850, 35.9600), (120.1870, 35.9600), (120.1870, 35.9614), (120.1850, 35.9614), (120.1850, 35.9600))
CREATED = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
UPDATED = dt.datetime(2026, 3, 1, 8, 0, 0, 120000, tzinfo=dt.UTC)


def _official():
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211")


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _mixed_sites():
    """One site stored as a Polygon and one as a MultiPolygon (both are valid red lines)."""
    case = ApprovalCaseFactory()
    polygon = SiteFactory(case=case, boundary=Polygon(DEMO_RING, srid=4326))
    multi = SiteFactory(case=case, boundary=MultiPolygon(Polygon(EAST_RING), srid=4326))
    return polygon, multi


# --- one geometry type ---------------------------------------------------------------------


def test_sites_are_published_as_multipolygons_whatever_they_are_stored_as():
    polygon, multi = _mixed_sites()
    client = _client(_official())
    body = client.get("/ogc/collections/sites/items").json()
    geometries = {feature["id"]: feature["geometry"] for feature in body["features"]}
    assert geometries == {
        str(polygon.pk): {"type": "MultiPolygon", "coordinates": [[[list(p) for p in DEMO_RING]]]},
        str(multi.pk): {"type": "MultiPolygon", "coordinates": [[[list(p) for p in EAST_RING]]]},
    }
    one = client.get(f"/ogc/collections/sites/items/{polygon.pk}").json()
    assert one["geometry"]["type"] == "MultiPolygon"
    # The bbox filter still finds them (it reads the stored, indexed geometry).
    east = client.get("/ogc/collections/sites/items?bbox=120.18,35.95,120.19,35.97").json()
    assert [feature["id"] for feature in east["features"]] == [str(multi.pk)]


# --- service-desc ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        # A client listing the OpenAPI media types it takes, JSON last.
        "application/vnd.oai.openapi+json;version=3.0, application/openapi+json;version=3.0, application/json",
    ],
)
def test_the_service_desc_link_type_is_exactly_what_the_schema_view_serves(accept):
    client = APIClient()
    link = next(link for link in client.get("/ogc/").json()["links"] if link["rel"] == "service-desc")
    assert link["type"] == OPENAPI_JSON_CONTENT_TYPE
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    for accept_header in ({"HTTP_ACCEPT": link["type"]}, headers):
        response = client.get(link["href"], **accept_header)
        assert response.status_code == 200
        assert response["Content-Type"] == link["type"]
        assert response.json()["openapi"].startswith("3.")


# --- limit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [str(MAX_LIMIT + 1), "50000", str(10**30)])
def test_a_limit_above_the_maximum_is_served_as_the_maximum(raw):
    SiteFactory.create_batch(2)
    response = _client(_official()).get(f"/ogc/collections/sites/items?limit={raw}")
    assert response.status_code == 200
    body = response.json()
    assert body["numberReturned"] == 2
    self_link = next(link for link in body["links"] if link["rel"] == "self")
    assert self_link["href"] == f"http://testserver/ogc/collections/sites/items?limit={MAX_LIMIT}&offset=0"


def test_a_clamped_limit_pages_on_with_the_maximum(monkeypatch):
    sites = SiteFactory.create_batch(3)
    monkeypatch.setattr(views, "MAX_LIMIT", 2)
    body = _client(_official()).get("/ogc/collections/sites/items?limit=500").json()
    assert body["numberMatched"] == 3
    assert body["numberReturned"] == 2
    next_link = next(link for link in body["links"] if link["rel"] == "next")
    assert next_link["href"].startswith("http://testserver/ogc/collections/sites/items?limit=2&after=")
    assert next_link["href"].endswith("&offset=2")
    assert len(sites) == 3


# --- timestamps ----------------------------------------------------------------------------------


def test_item_timestamps_are_rendered_exactly_as_rest_renders_them():
    [site] = SiteFactory.create_batch(1)
    type(site).all_objects.filter(pk=site.pk).update(created_at=CREATED, updated_at=UPDATED)
    client = _client(_official())
    rest = client.get(f"/api/v1/sites/{site.pk}/").json()
    assert rest["created_at"] == "2026-03-01T16:00:00+08:00"
    assert rest["updated_at"] == "2026-03-01T16:00:00.120000+08:00"
    for url in ("/ogc/collections/sites/items", f"/ogc/collections/sites/items/{site.pk}"):
        body = client.get(url).json()
        properties = body["features"][0]["properties"] if "features" in body else body["properties"]
        assert properties["created_at"] == rest["created_at"]
        assert properties["updated_at"] == rest["updated_at"]


def test_surveys_null_and_set_timestamps_match_rest():
    survey = SurveyFactory(started_at=dt.datetime(2026, 3, 10, 9, 31, 5, 7, tzinfo=SHANGHAI))
    admin = user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.ADMINISTRATOR])
    client = _client(admin)
    rest = client.get(f"/api/v1/surveys/{survey.pk}/").json()
    feature = client.get(f"/ogc/collections/surveys/items/{survey.pk}").json()
    for name in ("scheduled_at", "started_at", "ended_at", "created_at", "updated_at"):
        assert feature["properties"][name] == rest[name], name
    assert feature["properties"]["started_at"] == "2026-03-10T09:31:05.000007+08:00"
    assert feature["properties"]["ended_at"] is None


def test_tile_timestamps_are_rendered_as_rest_renders_them():
    [site] = SiteFactory.create_batch(1)
    type(site).all_objects.filter(pk=site.pk).update(created_at=CREATED, updated_at=UPDATED)
    x, y = _tile_of(120.171, 35.9607, 14)
    tile = _client(_official()).get(f"/tiles/sites/14/{x}/{y}.mvt")
    assert tile.status_code == 200
    # MVT keeps string values verbatim in the layer's value table.
    assert b"2026-03-01T16:00:00+08:00" in tile.content
    assert b"2026-03-01T16:00:00.120000+08:00" in tile.content
    assert b"+00" not in tile.content


# --- GDAL -----------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is not installed")
@pytest.mark.django_db(transaction=True)
def test_gdal_types_the_sites_layer_multipolygon_and_reads_the_service_desc(live_server):
    user = _official()
    _mixed_sites()
    SiteFactory.create_batch(10)
    result = subprocess.run(
        [
            "ogrinfo",
            "-ro",
            "-al",
            "-so",
            "--config",
            "GDAL_HTTP_USERPWD",
            f"{user.username}:{PASSWORD}",
            # Page with more than the server's maximum: GDAL must get the features, not a 400.
            "-oo",
            f"PAGE_SIZE={MAX_LIMIT + 5000}",
            f"OAPIF:{live_server.url}/ogc/",
            "sites",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"CPL_DEBUG": "ON", "PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Geometry: Multi Polygon" in result.stdout
    assert "Feature Count: 12" in result.stdout
    assert "Unexpected Content-Type" not in output
    assert "Warning" not in output
