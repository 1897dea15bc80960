from django.contrib.gis.geos import Point
from django.db import connection, transaction

from backend.accounts.models import User
from backend.utilities.selectors import utility_points_nearby, utility_points_nearby_count
from backend.utilities.services import utility_point_create


def explain(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
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
    plan = explain(utility_points_nearby(user=admin, point=Point(120.17, 35.96, srid=4326), radius_m=2000, limit=10))
    assert "Index Scan using utilities_point_location_geog_gist" in plan
    assert "Order By: ((location)::geography <-> " in plan
    assert "Index Cond: ((location)::geography && " in plan
    results = list(utility_points_nearby(user=admin, point=Point(120.17, 35.96, srid=4326), radius_m=2000, limit=10))
    assert len(results) == 10
    assert [round(p.location.x, 3) for p in results] == [round(120.17 + i * 0.001, 3) for i in range(10)]
    assert utility_points_nearby_count(user=admin, point=Point(120.17, 35.96, srid=4326), radius_m=2000) == 23
