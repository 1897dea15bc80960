"""The nearby selector's rows as model instances: the reference the SQL-built answer is checked
against (mobile_api's nearby builds its JSON in PostgreSQL from `utility_points_nearby_query`;
no production code needs the rows as models)."""

from django.contrib.gis.geos import Point
from django.db import connection

from backend.accounts.models import User
from backend.utilities.models import UtilityPoint
from backend.utilities.selectors import utility_points_nearby_query


def utility_points_nearby(
    *, user: User, point: Point, radius_m: float, utility_type: str | None = None, limit: int, offset: int = 0
) -> list[UtilityPoint]:
    """The page of `utility_points_nearby_query` as model rows (with their company), each
    annotated with `distance_m`, in its order."""
    query = utility_points_nearby_query(
        user=user, point=point, radius_m=radius_m, utility_type=utility_type, limit=limit, offset=offset
    )
    with connection.cursor() as cursor:
        cursor.execute(query.page_sql, query.page_params)
        rows = cursor.fetchall()
    by_id = UtilityPoint.objects.select_related("company").in_bulk([pk for pk, _ in rows])
    points = []
    for pk, distance_m in rows:
        point_row = by_id[pk]
        point_row.distance_m = distance_m
        points.append(point_row)
    return points


def utility_points_nearby_count(*, user: User, point: Point, radius_m: float, utility_type: str | None = None) -> int:
    """How many visible points lie within the radius (ST_DWithin on geography, index-assisted)."""
    query = utility_points_nearby_query(user=user, point=point, radius_m=radius_m, utility_type=utility_type, limit=1)
    with connection.cursor() as cursor:
        cursor.execute(query.count_sql, query.count_params)
        return cursor.fetchone()[0]
