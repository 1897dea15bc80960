import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction

from backend.accounts.models import User
from backend.utilities.models import UtilityPoint
from backend.utilities.selectors import utility_points_nearby_query
from backend.utilities.services import utility_point_create
from backend.utilities.tests.nearby_rows import utility_points_nearby, utility_points_nearby_count

ORIGIN = Point(120.17, 35.96, srid=4326)


def grow_far_away(template: UtilityPoint, clones: int = 3000) -> None:
    """`clones` copies of the template point, 0.05°-2° away (outside every radius asked here), in
    its case, then fresh statistics: a table the size where the planner must choose the geography
    index on its own, whatever statistics an earlier test (another module's plan tests grow the
    tables and ANALYZE them) left behind."""
    table = UtilityPoint._meta.db_table
    columns = [field.column for field in UtilityPoint._meta.concrete_fields]
    moved = "(CASE WHEN random() < 0.5 THEN -1 ELSE 1 END) * (0.05 + random() * 2)"
    overrides = {
        "id": "gen_random_uuid()",
        "location": f"ST_Translate(p.location, {moved}, {moved})",
        "created_at": "p.created_at - g * interval '1 second'",
    }
    values = [overrides.get(column, f'p."{column}"') for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)}) "
            f"SELECT {', '.join(values)} FROM {table} p, generate_series(1, %s) AS g WHERE p.id = %s",
            [clones, template.pk],
        )
        for analyzed in (table, "cases_approvalcase", "cases_approvalcase_assigned_organizations"):
            cursor.execute(f'ANALYZE "{analyzed}"')


def explain(sql: str, params) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        # A test table is tiny, so the planner would rightly scan it; forbid that to see whether
        # the query *can* use the functional geography index (expressions must match exactly).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_nearby_walks_the_geography_index_in_distance_order(world):
    for index in range(30):
        utility_point_create(
            case=world.case,
            utility_type="water",
            location=Point(120.17 + index * 0.001, 35.96, srid=4326),
            by=None,
        )
    grow_far_away(UtilityPoint.objects.filter(case=world.case).earliest("created_at"))
    admin = User.objects.create(username="root", is_superuser=True)
    query = utility_points_nearby_query(user=admin, point=ORIGIN, radius_m=2000, limit=10)
    # The candidates subquery is pulled up, so the KNN order is the index's own expression.
    page = explain(query.page_sql, query.page_params)
    assert "Index Scan using utilities_point_location_geog_gist" in page
    assert "Order By: ((location)::geography <-> " in page
    assert "Index Cond: ((location)::geography && " in page
    count = explain(query.count_sql, query.count_params)
    assert "Index Scan using utilities_point_location_geog_gist" in count
    assert "Index Cond: (((location)::geography && " in count
    results = utility_points_nearby(user=admin, point=ORIGIN, radius_m=2000, limit=10)
    assert len(results) == 10
    assert [round(p.location.x, 3) for p in results] == [round(120.17 + i * 0.001, 3) for i in range(10)]
    assert [p.distance_m for p in results] == sorted(p.distance_m for p in results)
    assert utility_points_nearby_count(user=admin, point=ORIGIN, radius_m=2000) == 23
    assert [p.pk for p in utility_points_nearby(user=admin, point=ORIGIN, radius_m=2000, limit=5, offset=20)] == [
        p.pk for p in utility_points_nearby(user=admin, point=ORIGIN, radius_m=2000, limit=30)[20:23]
    ]


@pytest.mark.parametrize("who", ["official", "surveyor", "water_company"])
def test_nearby_stays_index_led_in_every_scope(world, who):
    """The scope is a filter on the candidate rows, never a scan of the table: the page walks
    the geography index in distance order for each role. (The count's index is the planner's
    choice: on a table this small it may rightly take a company's own index.)"""
    for index in range(5):
        utility_point_create(
            case=world.case, utility_type="water", location=Point(120.17 + index * 0.001, 35.96, srid=4326), by=None
        )
    grow_far_away(UtilityPoint.objects.filter(case=world.case).earliest("created_at"))
    user = world.company_users["water"] if who == "water_company" else getattr(world, who)
    query = utility_points_nearby_query(user=user, point=ORIGIN, radius_m=2000, limit=10)
    page = explain(query.page_sql, query.page_params)
    assert "Index Scan using utilities_point_location_geog_gist" in page
    assert "Order By: ((location)::geography <-> " in page
    assert len(utility_points_nearby(user=user, point=ORIGIN, radius_m=2000, limit=10)) == 5
