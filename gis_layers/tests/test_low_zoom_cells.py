"""Low-zoom tiles (z <= 10) count, cell by cell, exactly what the user's OGC/REST view lists in the
cell: per role and layer (the precomputed cells of migration 0003 for sites, surveys, findings and
utility points; live counts for inspections and photos), and still after records are created,
moved, moved to another case, soft-deleted and deleted (the triggers append pending points,
the compaction merges them into the cells)."""

import json
import math
import re
import shutil
import subprocess
import threading
from collections import Counter

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection
from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import ApprovalCase, Project
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.evidence.models import LocationSource, Photo
from backend.evidence.tests.factories import BlobFactory
from backend.layers.low_zoom import PRECOMPUTED_LAYERS, cells_compact
from backend.sites.models import Site
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import FindingFactory, SurveyFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import AGGREGATE_CELLS, AGGREGATE_MAX_ZOOM, LAYERS, Query

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo reads the tiles"),
]

LIMIT = 20037508.342789244
ROLES = ["administrator", "department_official", "survey_crew", "utility_company"]
ZOOMS = [AGGREGATE_MAX_ZOOM, 6, 0]


def _center_of_cell(lon: float, lat: float) -> tuple[float, float]:
    """The centre of the z10 cell holding (lon, lat): points near it stay in one cell at every zoom."""
    n = AGGREGATE_CELLS * 2**AGGREGATE_MAX_ZOOM
    gx, gy = _global_cell(lon, lat, AGGREGATE_MAX_ZOOM)
    x = -LIMIT + (gx + 0.5) * 2 * LIMIT / n
    y = LIMIT - (gy + 0.5) * 2 * LIMIT / n
    return x / LIMIT * 180, math.degrees(math.atan(math.sinh(y / LIMIT * math.pi)))


def _global_cell(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = AGGREGATE_CELLS * 2**z
    y = math.asinh(math.tan(math.radians(lat))) / math.pi  # -1 .. 1
    return math.floor((lon + 180) / 360 * n), math.floor((1 - y) / 2 * n)


P1 = _center_of_cell(120.1705, 35.9603)
P2 = _center_of_cell(120.1905, 35.9703)  # the same z10 tile, another cell
P3 = _center_of_cell(120.9000, 36.3000)  # another z10 tile, the same z6 tile


def _near(place, i=0):
    return Point(place[0] + (i % 5) * 2e-5, place[1] + (i // 5) * 2e-5, srid=4326)


def _square(place):
    lon, lat = place
    d = 3e-4
    return Polygon(((lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d), (lon - d, lat - d)))


@pytest.fixture
def world():
    a = ApprovalCaseFactory()  # region 370211, assigned to the crew and the water company
    b = ApprovalCaseFactory()  # region 370211, assigned to nobody
    c = ApprovalCaseFactory(project=ProjectFactory(code="2404-370100-04-01-900002"))  # outside the region
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    power = UtilityCompanyFactory(utility_types=[UtilityType.POWER])
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    a.assigned_organizations.add(crew, water)
    c.assigned_organizations.add(water)

    def points(case, company, kind, place, n):
        return [
            UtilityPoint.objects.create(case=case, company=company, utility_type=kind, location=_near(place, i))
            for i in range(n)
        ]

    made = {
        "a_water_p1": points(a, water, "water", P1, 3),
        "a_power_p1": points(a, power, "power", P1, 2),
        "b_water_p2": points(b, water, "water", P2, 2),
        "c_water_p1": points(c, water, "water", P1, 1),
        "c_power_p3": points(c, power, "power", P3, 1),
        "a_water_p3": points(a, water, "water", P3, 1),
    }
    site_a = SiteFactory(case=a, boundary=_square(P1))
    SiteFactory(case=b, boundary=_square(P2))
    SiteFactory(case=None, project=c.project, boundary=_square(P3))  # follows its project
    survey_a = SurveyFactory(case=a, site=site_a, location=_near(P1))
    SurveyFactory(case=b, location=_near(P2))
    SurveyFactory(case=c, location=_near(P3))
    FindingFactory(case=a, survey=survey_a, location=_near(P2))
    FindingFactory(case=c, location=_near(P1))
    Inspection.objects.create(case=a, site=site_a, stage=1, location=_near(P1))
    Inspection.objects.create(case=b, stage=1, location=_near(P3))
    Photo.objects.create(
        case=a,
        record_type="site",
        record_id=site_a.pk,
        blob=BlobFactory(),
        content_type="image/jpeg",
        width=4,
        height=3,
        location=_near(P2),
        location_source=LocationSource.DEVICE,
    )
    users = {
        "administrator": UserFactory(organization=None, roles=[Role.ADMINISTRATOR]),
        "department_official": UserFactory(
            organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
            roles=[Role.OFFICIAL],
        ),
        "survey_crew": UserFactory(organization=crew, roles=[Role.SURVEYOR]),
        "utility_company": UserFactory(organization=water, roles=[Role.UTILITY_STAFF]),
    }
    return {"cases": (a, b, c), "points": made, "users": users}


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _representative(geometry: dict) -> tuple[float, float]:
    if geometry["type"] == "Point":
        return tuple(geometry["coordinates"])
    ring = geometry["coordinates"][0][0][:-1]  # a MultiPolygon's first ring: a small square
    return sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring)


def _expected(client: APIClient, layer: str, z: int) -> Counter:
    """(tile x, tile y, column, row) -> records of the user's OGC view in that cell."""
    response = client.get(f"/ogc/collections/{layer}/items", {"limit": 10000})
    assert response.status_code == 200, response.content
    cells = Counter()
    for feature in response.json()["features"]:
        gx, gy = _global_cell(*_representative(feature["geometry"]), z)
        cells[(gx // AGGREGATE_CELLS, gy // AGGREGATE_CELLS, gx % AGGREGATE_CELLS, gy % AGGREGATE_CELLS)] += 1
    return cells


def _served(client: APIClient, layer: str, z: int, tiles: set[tuple[int, int]], tmp_path) -> Counter:
    """The same from the user's tiles: each `count` feature in the cell its position falls in."""
    cells = Counter()
    size = 2 * LIMIT / 2**z
    for x, y in tiles:
        response = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
        assert response.status_code in (200, 204), response.content
        if response.status_code == 204:
            continue
        path = tmp_path / f"{layer}-{z}-{x}-{y}.mvt"
        path.write_bytes(response.content)
        out = subprocess.run(
            ["ogrinfo", "-ro", "-al", "-q", "-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}", f"MVT:{path}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for block in out.split("OGRFeature(")[1:]:
            count = int(re.search(r"^\s+count \(\w+\) = (\d+)$", block, re.M).group(1))
            px, py = (float(v) for v in re.search(r"POINT \(([-\d.e]+) ([-\d.e]+)\)", block).groups())
            column = math.floor((px - (-LIMIT + x * size)) / (size / AGGREGATE_CELLS))
            row = math.floor(((LIMIT - y * size) - py) / (size / AGGREGATE_CELLS))
            assert 0 <= column < AGGREGATE_CELLS and 0 <= row < AGGREGATE_CELLS
            cells[(x, y, column, row)] += count
    return cells


def _assert_tiles_show_what_ogc_shows(world, tmp_path) -> dict:
    every = _client(world["users"]["administrator"])
    seen = {}
    for layer in LAYERS:
        for z in ZOOMS:
            # Every tile with a record in it (for anyone): a leak shows as a cell the user may not count.
            tiles = {(x, y) for x, y, _, _ in _expected(every, layer, z)}
            for role in ROLES:
                client = _client(world["users"][role])
                expected = _expected(client, layer, z)
                assert _served(client, layer, z, tiles, tmp_path) == expected, (layer, z, role)
                seen[(layer, z, role)] = sum(expected.values())
    return seen


def test_low_zoom_cells_count_what_each_role_sees(world, tmp_path):
    seen = _assert_tiles_show_what_ogc_shows(world, tmp_path)
    z = AGGREGATE_MAX_ZOOM
    # The scopes differ (the test would not tell a leak otherwise).
    assert [seen[("utility_points", z, role)] for role in ROLES] == [10, 8, 6, 5]
    assert [seen[("sites", z, role)] for role in ROLES] == [3, 2, 1, 2]
    assert [seen[("surveys", z, role)] for role in ROLES] == [3, 2, 1, 2]
    assert [seen[("inspections", z, role)] for role in ROLES] == [2, 2, 1, 0]


def test_the_cells_follow_creates_moves_and_deletes(world, tmp_path):
    a, b, c = world["cases"]
    made = world["points"]
    water = made["a_water_p1"][0].company
    UtilityPoint.objects.create(case=b, company=water, utility_type="water", location=_near(P3, 7))
    made["a_power_p1"][0].delete()
    UtilityPoint.objects.filter(pk=made["a_water_p1"][0].pk).update(deleted_at=timezone.now())  # a tombstone
    UtilityPoint.objects.filter(pk=made["c_water_p1"][0].pk).update(location=_near(P2, 3))
    UtilityPoint.objects.filter(pk=made["a_water_p3"][0].pk).update(case=b)  # out of the crew's scope
    Site.all_objects.filter(case=b).update(boundary=_square(P3))
    SurveyFactory(case=a, location=_near(P3, 2))
    seen = _assert_tiles_show_what_ogc_shows(world, tmp_path)
    assert [seen[("utility_points", AGGREGATE_MAX_ZOOM, role)] for role in ROLES] == [9, 7, 3, 3]
    # The writes appended pending points (and negative ones); compacted, the same tiles.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM gis_layers_cell_point WHERE sign < 0")
        assert cursor.fetchone()[0] > 0
    assert cells_compact() > 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM gis_layers_cell WHERE pending OR n <= 0), "
            "(SELECT count(*) FROM gis_layers_cell_point)"
        )
        assert cursor.fetchone() == (0, 0)
    assert _assert_tiles_show_what_ogc_shows(world, tmp_path) == seen


def test_the_triggers_keep_what_a_rebuild_computes(world):
    made = world["points"]
    made["b_water_p2"][0].delete()
    UtilityPoint.objects.filter(pk=made["c_power_p3"][0].pk).update(location=_near(P1, 4))
    UtilityPoint.objects.filter(pk=made["a_water_p1"][1].pk).update(utility_type="power")
    query = (
        "SELECT layer, z, tx, ty, total, region, case_id, project_id, company_id, kind, cell, n, round(sx), round(sy) "
        "FROM gis_layers_cell ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"
    )
    assert cells_compact() > 0
    with connection.cursor() as cursor:
        cursor.execute(query)
        kept = cursor.fetchall()
        for layer in sorted(PRECOMPUTED_LAYERS):
            cursor.execute(f"SELECT gis_layers_cells_rebuild_{layer}()")
        cursor.execute(query)
        assert cursor.fetchall() == kept
    assert {row[0] for row in kept} == PRECOMPUTED_LAYERS
    # Two rows per cell and zoom for a layer with one key: its case's, and the total.
    assert len(kept) > 2 * len(ZOOMS)


def test_a_regional_officials_cells_follow_region_changes_and_their_other_cases(world, tmp_path):
    """The official reads the region rows of their prefix plus the key rows of their visible cases
    outside it (migration 0004): exact when a case outside the region is also theirs, when a
    project's region code changes and when a case moves to a project of another region."""
    a, b, c = world["cases"]
    official = world["users"]["department_official"]
    c.assigned_organizations.add(official.organization)  # outside the region, yet theirs
    seen = _assert_tiles_show_what_ogc_shows(world, tmp_path)
    assert seen[("utility_points", AGGREGATE_MAX_ZOOM, "department_official")] == 10
    Project.objects.filter(pk=a.project_id).update(region_code="370100")  # a leaves the region
    outside = ProjectFactory(code="2404-370100-04-01-900003")
    ApprovalCase.objects.filter(pk=b.pk).update(project=outside)  # b too, by its project
    seen = _assert_tiles_show_what_ogc_shows(world, tmp_path)
    assert seen[("utility_points", AGGREGATE_MAX_ZOOM, "department_official")] == 2
    assert seen[("sites", AGGREGATE_MAX_ZOOM, "department_official")] == 1
    Project.objects.filter(pk=c.project_id).update(region_code="370211")  # c joins it
    Project.objects.filter(pk=a.project_id).update(region_code="370211")  # a is back
    seen = _assert_tiles_show_what_ogc_shows(world, tmp_path)
    assert seen[("utility_points", AGGREGATE_MAX_ZOOM, "department_official")] == 8
    assert cells_compact() > 0
    assert _assert_tiles_show_what_ogc_shows(world, tmp_path) == seen


def test_a_bulk_statement_and_a_truncate_are_counted():
    case = ApprovalCaseFactory()
    company = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    UtilityPoint.objects.bulk_create(
        UtilityPoint(case=case, company=company, utility_type="water", location=_near(P1, i)) for i in range(25)
    )
    totals = "SELECT z, sum(n) FROM gis_layers_cell WHERE layer = 'utility_points' AND total AND region = '' GROUP BY z"
    with connection.cursor() as cursor:
        # One pending point per row of the statement; the compaction puts each in its cells.
        cursor.execute("SELECT layer, sum(sign) FROM gis_layers_cell_point GROUP BY layer")
        assert cursor.fetchall() == [("utility_points", 25)]
        cursor.execute(totals)
        assert cursor.fetchall() == []
    assert cells_compact() > 0
    UtilityPoint.objects.create(case=case, company=company, utility_type="water", location=_near(P2))
    with connection.cursor() as cursor:
        cursor.execute(totals)
        assert dict(cursor.fetchall()) == {z: 25 for z in range(AGGREGATE_MAX_ZOOM + 1)}
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # Django's deferred foreign keys would refuse it
        cursor.execute("TRUNCATE utilities_utilitypoint")
        cursor.execute(
            "SELECT (SELECT count(*) FROM gis_layers_cell WHERE layer = 'utility_points'), "
            "(SELECT count(*) FROM gis_layers_cell_point WHERE layer = 'utility_points')"
        )
        assert cursor.fetchone() == (0, 0)


def test_a_low_zoom_tile_reads_one_index_range_of_the_cells_for_every_role(world):
    """Grown to 20k points over the 1° square round P1 (one statement, then compacted), the tile
    query reads the cells by their key index for every role, never the table."""
    insert_points(world, count=20000, spread=1)
    assert cells_compact() > 0  # the statement's 20k pending points, into the cells
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gis_layers_cell")
    layer = LAYERS["utility_points"]
    for z in (AGGREGATE_MAX_ZOOM, 6):
        gx, gy = _global_cell(*P1, z)
        for role in ROLES:
            nodes = tile_plan_nodes(layer, world["users"][role], z=z, x=gx // 64, y=gy // 64)
            cells = [node for node in nodes if node.get("Relation Name") == "gis_layers_cell"]
            assert cells and all(node.get("Index Name") == "gis_layers_cell_key" for node in cells), (z, role)
            assert not [node for node in nodes if node.get("Relation Name") == "utilities_utilitypoint"], (z, role)


@pytest.mark.django_db(transaction=True)
def test_writers_of_two_layers_in_opposite_orders_neither_wait_nor_deadlock():
    """Each writing transaction only appends its pending points: two that write the same low-zoom
    cells of two layers in opposite orders both commit (upserted cells would lock the shared z0 rows until
    commit: one would wait for the other, and the crossed order is a deadlock)."""
    case = ApprovalCaseFactory()
    company = UtilityCompanyFactory(utility_types=[UtilityType.WATER])

    def point():
        UtilityPoint.objects.create(case=case, company=company, utility_type="water", location=_near(P1))

    def survey():
        SurveyFactory(case=case, location=_near(P2))

    barrier = threading.Barrier(2)
    failures = []

    def writer(first, second):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                first()
                barrier.wait(timeout=10)
                second()
                barrier.wait(timeout=10)  # both hold their writes before either commits
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=order) for order in ((point, survey), (survey, point))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT layer, sum(sign)::int FROM gis_layers_cell_point GROUP BY layer")
        assert dict(cursor.fetchall()) == {"utility_points": 2, "surveys": 2}


def insert_points(world, *, count: int, spread: float) -> None:
    """`count` water points in one statement, uniformly within `spread` degrees round P1, spread
    over the three cases (pending points until compacted)."""
    a, b, c = world["cases"]
    template = world["points"]["a_water_p1"][0]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO utilities_utilitypoint (id, version, created_at, updated_at, device_id, is_locked, "
            "field_versions, client_digest, utility_type, name, location, status, attributes, note, case_id, "
            "company_id) SELECT gen_random_uuid(), 1, now(), now(), '', false, '{}', '', 'water', 'p', "
            "ST_SetSRID(ST_MakePoint(%s + %s * (random() - 0.5), %s + %s * (random() - 0.5)), 4326), 'proposed', "
            "'{}', '', (ARRAY[%s, %s, %s]::uuid[])[1 + g %% 3], %s FROM generate_series(1, %s) g",
            [P1[0], spread, P1[1], spread, str(a.pk), str(b.pk), str(c.pk), str(template.company_id), count],
        )


def tile_plan_nodes(layer, user, *, z: int, x: int, y: int) -> list[dict]:
    """Every node of the plan of `user`'s tile z/x/y of `layer`."""
    sql, params = Query(layer=layer, user=user).tile_sql(z=z, x=x, y=y)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes
