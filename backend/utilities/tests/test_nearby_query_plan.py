import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction

from backend.accounts.models import User
from backend.utilities.selectors import utility_points_nearby, utility_points_nearby_count, utility_points_nearby_query
from backend.utilities.services import utility_point_create

ORIGIN = Point(120.17, 35.96, srid=4326)


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
    user = world.company_users["water"] if who == "water_company" else getattr(world, who)
    query = utility_points_nearby_query(user=user, point=ORIGIN, radius_m=2000, limit=10)
    page = explain(query.page_sql, query.page_params)
    assert "Index Scan using utilities_point_location_geog_gist" in page
    assert "Order By: ((location)::geography <-> " in page
    assert len(utility_points_nearby(user=user, point=ORIGIN, radius_m=2000, limit=10)) == 5
