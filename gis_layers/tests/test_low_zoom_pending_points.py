"""Low-zoom tiles read the compacted cells and the pending points (gis_layers migration 0005) under
one scope: exact per role whatever is compacted, a compaction is seen whole (never both the
points and their cells, never neither), it keeps the points committed while it runs, and the
cells it leaves are the ones a rebuild from scratch computes."""

import shutil
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from backend.accounts.models import Role
from backend.accounts.tests.factories import UserFactory
from backend.cases.models import ApprovalCase, Project
from backend.cases.tests.factories import ApprovalCaseFactory, ProjectFactory
from backend.layers.low_zoom import PRECOMPUTED_LAYERS, cells_compact
from backend.sites.models import Site
from backend.surveys.models import Survey
from backend.surveys.tests.factories import SurveyFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import AGGREGATE_MAX_ZOOM, LAYERS, Query
from gis_layers.tests import test_low_zoom_cells as cells

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo reads the tiles"),
]

world = cells.world
P1, P2, P3, ROLES = cells.P1, cells.P2, cells.P3, cells.ROLES
CELL_ROWS = (
    "SELECT layer, z, tx, ty, total, region, case_id, project_id, company_id, kind, cell, n, round(sx), round(sy) "
    "FROM gis_layers_cell ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11"
)


def _pending() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM gis_layers_cell_point")
        return cursor.fetchone()[0]


def _write_a_bit_of_everything(world) -> None:
    """Creates, deletes, tombstones, moves, key changes and region moves on every layer."""
    a, b, c = world["cases"]
    made = world["points"]
    water = made["a_water_p1"][0].company
    UtilityPoint.objects.create(case=b, company=water, utility_type="water", location=cells._near(P3, 7))
    made["a_power_p1"][0].delete()
    UtilityPoint.objects.filter(pk=made["a_water_p1"][0].pk).update(deleted_at=timezone.now())
    UtilityPoint.objects.filter(pk=made["c_water_p1"][0].pk).update(location=cells._near(P2, 3))
    UtilityPoint.objects.filter(pk=made["a_water_p3"][0].pk).update(case=b)
    UtilityPoint.objects.filter(pk=made["a_water_p1"][1].pk).update(utility_type="power")
    Site.all_objects.filter(case=b).update(boundary=cells._square(P3))
    SurveyFactory(case=a, location=cells._near(P3, 2))
    Survey.objects.filter(case=c).delete()
    Project.objects.filter(pk=a.project_id).update(region_code="370100")  # a leaves the official's region
    ApprovalCase.objects.filter(pk=c.pk).update(project=ProjectFactory(code="2404-370211-04-01-900003"))  # c joins it


def test_tiles_sum_the_cells_and_the_pending_points_for_every_role(world, tmp_path):
    """Compacted first, then written: every role's tiles count the cells plus the pending points
    of the records their OGC view lists, and the same once those points are compacted too."""
    assert cells_compact() > 0
    assert _pending() == 0
    before = cells._assert_tiles_show_what_ogc_shows(world, tmp_path)
    _write_a_bit_of_everything(world)
    assert _pending() > 0
    seen = cells._assert_tiles_show_what_ogc_shows(world, tmp_path)
    assert seen != before
    z = AGGREGATE_MAX_ZOOM
    assert [seen[("utility_points", z, role)] for role in ROLES] == [9, 6, 3, 2]
    assert cells_compact() > 0
    assert _pending() == 0
    assert cells._assert_tiles_show_what_ogc_shows(world, tmp_path) == seen


def test_compacting_in_rounds_leaves_the_cells_a_rebuild_computes(world):
    """The points expanded and merged in rounds (some with nothing new, some with region moves)
    give the rows a rebuild from the tables writes, row for row."""
    assert cells_compact() > 0
    _write_a_bit_of_everything(world)
    assert cells_compact() > 0
    assert cells_compact() == 0
    a, b, _c = world["cases"]
    Project.objects.filter(pk=a.project_id).update(region_code="370211")  # a is back
    UtilityPoint.objects.filter(case=b).update(location=cells._near(P1, 9))
    assert cells_compact() > 0
    with connection.cursor() as cursor:
        cursor.execute(CELL_ROWS)
        kept = cursor.fetchall()
        for layer in sorted(PRECOMPUTED_LAYERS):
            cursor.execute(f"SELECT gis_layers_cells_rebuild_{layer}()")
        cursor.execute(CELL_ROWS)
        assert cursor.fetchall() == kept
    assert {row[0] for row in kept} == PRECOMPUTED_LAYERS
    assert _pending() == 0


def _counted(user, layer: str = "utility_points") -> int:
    """The sum of the `count` features of the z0 tile the user is served (the tile's own SQL,
    summed instead of encoded)."""
    sql, params = Query(layer=LAYERS[layer], user=user).precomputed_tile_sql(z=0, x=0, y=0)
    wrapper = "SELECT ST_AsMVT(m.*, %s, 4096, 'geom') FROM ("
    assert sql.startswith(wrapper)
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(m.count), 0) FROM (" + sql[len(wrapper) :], params[1:])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_compaction_is_seen_whole_and_keeps_the_points_committed_meanwhile():
    """While a compaction's transaction is open, readers count the points (before); a point
    committed meanwhile is not taken by it; after its commit, readers count its cells plus that
    point (after): never both, never neither."""
    administrator = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    case = ApprovalCaseFactory()
    company = UtilityCompanyFactory()

    def point(i):
        UtilityPoint.objects.create(case=case, company=company, utility_type="water", location=cells._near(P1, i))

    for i in range(5):
        point(i)
    compacting, release, failures = threading.Event(), threading.Event(), []

    def compactor():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT gis_layers_cells_compact()")
                assert cursor.fetchone()[0] > 0
                compacting.set()
                assert release.wait(timeout=20)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            compacting.set()
            connection.close()

    thread = threading.Thread(target=compactor)
    thread.start()
    try:
        assert compacting.wait(timeout=20)
        assert _counted(administrator) == 5  # the points, not yet their cells
        point(5)  # committed while the compaction is open
        assert _counted(administrator) == 6
    finally:
        release.set()
        thread.join(timeout=30)
    assert failures == []
    assert _counted(administrator) == 6
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(sign) FROM gis_layers_cell_point")
        assert cursor.fetchone() == (1, 1)  # the point written meanwhile stays pending
        cursor.execute("SELECT sum(n) FROM gis_layers_cell WHERE total AND region = '' AND z = 0")
        assert cursor.fetchone()[0] == 5


@pytest.mark.django_db(transaction=True)
def test_readers_never_count_a_record_twice_or_not_at_all_while_writers_and_compactions_run():
    """A writer commits points one by one and a compactor loops; every read counts between the
    points committed before it started and those committed when it ended."""
    administrator = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    case = ApprovalCaseFactory()
    company = UtilityCompanyFactory()
    committed, done, failures = [0], threading.Event(), []

    def writer():
        try:
            for i in range(60):
                UtilityPoint.objects.create(
                    case=case, company=company, utility_type="water", location=cells._near(P1 if i % 2 else P2, i)
                )
                committed[0] += 1
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            done.set()
            connection.close()

    def compactor():
        try:
            while not done.is_set():
                cells_compact()
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=compactor)]
    for thread in threads:
        thread.start()
    reads = []
    while not done.is_set():
        low = committed[0]
        counted = _counted(administrator)
        reads.append((low, counted, committed[0]))
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(reads) > 5
    assert [read for read in reads if not read[0] <= read[1] <= read[2] + 1] == []
    cells_compact()
    assert _counted(administrator) == 60


def test_a_low_zoom_tile_reads_its_band_of_the_pending_points_by_their_index(world):
    """5,000 pending points over a 20° square: at z10 and z8 the tile reads the points of its
    band of the grid by the points' index for every role, never the whole table."""
    cells.insert_points(world, count=5000, spread=20)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE gis_layers_cell_point")
    assert _pending() > 5000
    layer = LAYERS["utility_points"]
    for z in (AGGREGATE_MAX_ZOOM, 8):
        gx, gy = cells._global_cell(*P1, z)
        for role in ROLES:
            nodes = cells.tile_plan_nodes(layer, world["users"][role], z=z, x=gx // 64, y=gy // 64)
            points = [node for node in nodes if node.get("Relation Name") == "gis_layers_cell_point"]
            assert points and not [node for node in points if node["Node Type"] == "Seq Scan"], (z, role)
            assert [node for node in nodes if node.get("Index Name") == "gis_layers_cell_point_tile"], (z, role)
