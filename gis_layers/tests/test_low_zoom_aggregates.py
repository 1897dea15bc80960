"""At z <= AGGREGATE_MAX_ZOOM a point layer's tile holds `count` features per grid cell, counted
over the user's own scope: the counts add up to what their REST view lists, never more."""

import math
import re
import shutil
import subprocess

import pytest
from django.contrib.gis.geos import Point
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import UserFactory, user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import AGGREGATE_MAX_ZOOM

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo reads the tiles"),
]

HERE, THERE = (120.1705, 35.9603), (120.2300, 35.9900)  # ~6 km apart: other cells at z10


def _tile_of(lon, lat, z):
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _features(content: bytes, tmp_path, z, x, y) -> list[dict]:
    """The tile's features as GDAL reads them: [{'count': n, ...}] (or ids at higher zooms)."""
    path = tmp_path / f"{z}-{x}-{y}.mvt"
    path.write_bytes(content)
    out = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", "-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}", f"MVT:{path}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    features = []
    for block in out.split("OGRFeature(")[1:]:
        fields = dict(re.findall(r"^\s+(\w+) \(\w+\) = (.*)$", block, re.M))
        features.append(fields)
    return features


@pytest.fixture
def world():
    inside = ApprovalCaseFactory()  # region 370211
    outside = ApprovalCaseFactory(project=ProjectFactory(code="2404-370100-04-01-900001"))
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    power = UtilityCompanyFactory(utility_types=[UtilityType.POWER])

    def points(case, company, kind, where, n):
        for i in range(n):
            UtilityPoint.objects.create(
                case=case,
                company=company,
                utility_type=kind,
                name=f"{kind}{i}",
                location=Point(where[0] + i * 1e-5, where[1], srid=4326),
            )

    points(inside, water, "water", HERE, 5)
    points(inside, power, "power", HERE, 4)
    points(inside, water, "water", THERE, 2)
    points(outside, water, "water", HERE, 3)
    inside.assigned_organizations.add(water)
    return {
        "administrator": UserFactory(roles=[Role.ADMINISTRATOR]),
        "official": user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370211"),
        "outsider": user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region="370100"),
        "water_company": UserFactory(organization=water, roles=[Role.UTILITY_STAFF]),
        "crew": user_of_kind(OrganizationKind.SURVEY_CREW, roles=[Role.SURVEYOR]),
    }


@pytest.mark.parametrize(
    "who, counts",
    [
        ("administrator", [2, 12]),
        ("official", [2, 9]),
        # The same cell holds 3 points of a case outside the official's region: not counted.
        ("outsider", [3]),
        # The company's own type on the case it is assigned to.
        ("water_company", [2, 5]),
        ("crew", []),
    ],
)
def test_low_zoom_counts_are_the_users_own(world, tmp_path, who, counts):
    user = world[who]
    z = AGGREGATE_MAX_ZOOM
    x, y = _tile_of(*HERE, z)
    assert _tile_of(*THERE, z) == (x, y)
    response = _client(user).get(f"/tiles/utility_points/{z}/{x}/{y}.mvt")
    if not counts:
        assert response.status_code == 204
        return
    assert response.status_code == 200
    features = _features(response.content, tmp_path, z, x, y)
    assert sorted(int(f["count"]) for f in features) == counts
    assert all("id" not in f for f in features)
    # The counts add up to what REST lists for the same user.
    rest = _client(user).get("/api/v1/utility-points/", {"page_size": 100}).json()
    assert sum(counts) == rest["count"]


def test_above_the_aggregate_zoom_the_points_themselves_are_served(world, tmp_path):
    z = AGGREGATE_MAX_ZOOM + 1
    x, y = _tile_of(*HERE, z)
    response = _client(world["official"]).get(f"/tiles/utility_points/{z}/{x}/{y}.mvt")
    features = _features(response.content, tmp_path, z, x, y)
    assert len(features) == 11
    assert all("count" not in f and f["id"] for f in features)


def test_a_point_counts_in_one_tile_only(world, tmp_path):
    # Every z8 tile round the points: the counts over them add up to the layer's size.
    z = 8
    x0, y0 = _tile_of(*HERE, z)
    total = 0
    for x in (x0 - 1, x0, x0 + 1):
        for y in (y0 - 1, y0, y0 + 1):
            response = _client(world["administrator"]).get(f"/tiles/utility_points/{z}/{x}/{y}.mvt")
            if response.status_code == 200:
                total += sum(int(f["count"]) for f in _features(response.content, tmp_path, z, x, y))
    assert total == 14


def test_tilejson_names_the_count_field_of_every_layer(world):
    # Sites too: at low zooms their red lines are counted per cell like points (at ST_PointOnSurface).
    client = _client(world["official"])
    assert client.get("/tiles/utility_points.json").json()["vector_layers"][0]["fields"]["count"] == "Number"
    assert client.get("/tiles/sites.json").json()["vector_layers"][0]["fields"]["count"] == "Number"
