"""Every map layer answers for every user, and shows each exactly what REST shows them.

Users whose selectors know they see nothing (`.none()`: utility companies for inspections, users
without an organisation for everything) once made the layer SQL raise EmptyResultSet, a 500 on
/ogc/collections, items, single items, TileJSON and tiles.
"""

import base64
import math
import uuid
from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import Point
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection
from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory
from backend.evidence.models import LocationSource, Photo
from backend.evidence.tests.factories import BlobFactory
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import FindingFactory, SurveyFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import CGCS2000, LAYERS, WORLD_BOUNDS

pytestmark = pytest.mark.django_db

INSIDE = (120.1711, 35.9607)
REST_PATHS = {
    "sites": "/api/v1/sites/",
    "surveys": "/api/v1/surveys/",
    "findings": "/api/v1/findings/",
    "utility_points": "/api/v1/utility-points/",
    "inspections": "/api/v1/inspections/",
    "photos": "/api/v1/photos/",
}
USERS = [
    "administrator",
    "department_official",
    "survey_crew",
    "utility_company",
    "unassigned_utility_company",
    "no_organisation",
]


def _world() -> SimpleNamespace:
    """One record in every layer, all inside the demo plot, on a case assigned to a water company."""
    site = SiteFactory()
    case = site.case
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    power = UtilityCompanyFactory(utility_types=[UtilityType.POWER])
    case.assigned_organizations.add(water)
    here = Point(*INSIDE, srid=4326)
    survey = SurveyFactory(case=case, site=site, location=here)
    records = {
        "sites": site,
        "surveys": survey,
        "findings": FindingFactory(case=case, survey=survey, location=here),
        "utility_points": UtilityPoint.objects.create(
            case=case, utility_type=UtilityType.WATER, company=water, location=here
        ),
        "inspections": Inspection.objects.create(case=case, site=site, stage=1, location=here),
        "photos": Photo.objects.create(
            case=case,
            record_type="site",
            record_id=site.pk,
            blob=BlobFactory(),
            content_type="image/jpeg",
            width=4,
            height=3,
            location=here,
            location_source=LocationSource.DEVICE,
        ),
    }
    # Another company's point on the same case: the water company must not see it.
    UtilityPoint.objects.create(case=case, utility_type=UtilityType.POWER, company=power, location=here)
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    case.assigned_organizations.add(crew)
    users = {
        "administrator": UserFactory(organization=None, roles=[Role.ADMINISTRATOR]),
        "department_official": UserFactory(
            organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
            roles=[Role.OFFICIAL],
        ),
        "survey_crew": UserFactory(organization=crew, roles=[Role.SURVEYOR]),
        "utility_company": UserFactory(organization=water, roles=[Role.UTILITY_STAFF]),
        "unassigned_utility_company": UserFactory(organization=UtilityCompanyFactory(), roles=[Role.UTILITY_STAFF]),
        "no_organisation": UserFactory(organization=None, roles=[Role.OFFICIAL]),
    }
    return SimpleNamespace(records=records, users=users)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _rest_ids(client: APIClient, layer_name: str) -> set[str]:
    response = client.get(REST_PATHS[layer_name])
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


EXPECTED_VISIBLE = {
    "administrator": set(LAYERS),
    "department_official": set(LAYERS),
    "survey_crew": set(LAYERS),
    # The water company is assigned to the case: it sees the case's records, only its own type of
    # utility point, and no acceptance records (nor their photos).
    "utility_company": {"sites", "surveys", "findings", "utility_points", "photos"},
    "unassigned_utility_company": set(),
    "no_organisation": set(),
}


@pytest.mark.parametrize("user_kind", USERS)
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_the_layer_answers_and_shows_what_rest_shows(layer_name, user_kind):
    world = _world()
    client = _client(world.users[user_kind])
    record = world.records[layer_name]
    rest_ids = _rest_ids(client, layer_name)
    is_visible = layer_name in EXPECTED_VISIBLE[user_kind]
    assert (str(record.pk) in rest_ids) is is_visible
    # Only the water company itself is kept from the power company's point.
    sees_both_points = layer_name == "utility_points" and user_kind in {
        "administrator",
        "department_official",
        "survey_crew",
    }
    assert len(rest_ids) == (2 if sees_both_points else int(is_visible))

    items = client.get(f"/ogc/collections/{layer_name}/items")
    assert items.status_code == 200, items.content
    assert items["Content-Type"] == "application/geo+json"
    body = items.json()
    assert {feature["id"] for feature in body["features"]} == rest_ids
    assert body["numberMatched"] == len(rest_ids)
    boxed = client.get(f"/ogc/collections/{layer_name}/items", {"bbox": "120.17,35.96,120.18,35.97"}).json()
    assert {feature["id"] for feature in boxed["features"]} == rest_ids
    elsewhere = client.get(f"/ogc/collections/{layer_name}/items", {"bbox": "121,36,122,37"}).json()
    assert elsewhere["features"] == []
    # Property filters and CRSs narrow or re-project what the user sees, never widen it.
    case_id = str(record.case_id)
    filtered = client.get(
        f"/ogc/collections/{layer_name}/items",
        {"case_id": case_id, "bbox": "35.96,120.17,35.97,120.18", "bbox-crs": CGCS2000.uri, "crs": CGCS2000.uri},
    )
    assert filtered.status_code == 200, filtered.content
    assert {feature["id"] for feature in filtered.json()["features"]} == rest_ids
    other_case = client.get(f"/ogc/collections/{layer_name}/items", {"case_id": str(uuid.uuid4())}).json()
    assert other_case["features"] == []
    if layer_name == "utility_points":
        power = client.get(f"/ogc/collections/{layer_name}/items", {"utility_type": "power"}).json()
        assert len(power["features"]) == (1 if sees_both_points else 0)
    assert body["numberReturned"] == len(rest_ids)

    one = client.get(f"/ogc/collections/{layer_name}/items/{record.pk}")
    if is_visible:
        assert one.status_code == 200
        assert one.json()["id"] == str(record.pk)
    else:
        assert one.status_code == 404
        assert one["Content-Type"] == "application/problem+json"
        assert one.json()["code"] == "feature_not_found"

    collection = client.get(f"/ogc/collections/{layer_name}")
    assert collection.status_code == 200
    bbox = collection.json()["extent"]["spatial"]["bbox"]
    tilejson = client.get(f"/tiles/{layer_name}.json")
    assert tilejson.status_code == 200
    if is_visible:
        # The red line's bounds for sites; the shared point for every point layer.
        expected = [120.17, 35.96, 120.1722, 35.9614] if layer_name == "sites" else [*INSIDE, *INSIDE]
        assert bbox == [expected]
        assert tilejson.json()["bounds"] == bbox[0]
        assert len(collection.json()["extent"]["temporal"]["interval"]) == 1
    else:
        assert bbox == [WORLD_BOUNDS]
        assert tilejson.json()["bounds"] == WORLD_BOUNDS
        assert "temporal" not in collection.json()["extent"]

    x, y = _tile_of(*INSIDE, 14)
    tile = client.get(f"/tiles/{layer_name}/14/{x}/{y}.mvt")
    if is_visible:
        assert tile.status_code == 200
        assert tile["Content-Type"] == "application/vnd.mapbox-vector-tile"
        assert layer_name.encode() in tile.content[:40]
        # MVT keeps every feature's id (a string property) verbatim.
        assert all(feature_id.encode() in tile.content for feature_id in rest_ids)
    else:
        assert tile.status_code == 204
        assert tile.content == b""


@pytest.mark.parametrize("user_kind", USERS)
def test_the_collections_list_answers_with_every_layer(user_kind):
    world = _world()
    response = _client(world.users[user_kind]).get("/ogc/collections")
    assert response.status_code == 200, response.content
    collections = response.json()["collections"]
    assert [c["id"] for c in collections] == list(LAYERS)
    empty = {c["id"] for c in collections if c["extent"]["spatial"]["bbox"] == [WORLD_BOUNDS]}
    assert empty == set(LAYERS) - EXPECTED_VISIBLE[user_kind]


def test_an_inactive_users_basic_credentials_are_refused_not_a_500():
    world = _world()
    user = world.users["no_organisation"]
    user.is_active = False
    user.save()
    header = "Basic " + base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    response = APIClient().get("/ogc/collections", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_an_organisation_kind_without_cases_sees_empty_layers():
    user = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.SURVEY_CREW), roles=[Role.SURVEYOR])
    SiteFactory()
    client = _client(user)
    for name in LAYERS:
        response = client.get(f"/ogc/collections/{name}/items")
        assert response.status_code == 200, name
        assert response.json()["numberMatched"] == 0, name


def test_an_inspection_without_a_location_is_found_on_its_sites_red_line():
    site = SiteFactory()
    placed = Inspection.objects.create(case=site.case, site=site, stage=1)
    Inspection.objects.create(case=site.case, stage=1)  # neither location nor site: not on the map
    client = _client(UserFactory(organization=None, roles=[Role.ADMINISTRATOR]))
    inside = client.get("/ogc/collections/inspections/items", {"bbox": "120.169,35.959,120.173,35.962"}).json()
    assert [feature["id"] for feature in inside["features"]] == [str(placed.pk)]
    point = inside["features"][0]["geometry"]["coordinates"]
    assert 120.17 <= point[0] <= 120.1722 and 35.96 <= point[1] <= 35.9614
    outside = client.get("/ogc/collections/inspections/items", {"bbox": "120.18,35.95,120.19,35.97"}).json()
    assert outside["features"] == []
    x, y = _tile_of(*INSIDE, 14)
    tile = client.get(f"/tiles/inspections/14/{x}/{y}.mvt")
    assert tile.status_code == 200
    assert str(placed.pk).encode() in tile.content
