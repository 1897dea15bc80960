"""Reads of utility records, already scoped to what the user may see.

- a utility company sees only the requests addressed to it and the access points of its own
  company and utility types (never another company's, even on a case it works on), and no
  joint applications (they list every utility of the site);
- everyone else sees the records of the cases they may see (cases_visible_to: officials
  their jurisdiction, crews and teams their assigned cases, builders their own projects).
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.gis.geos import Point
from django.db.models import BooleanField, F, Func, QuerySet, Value
from django.db.models.expressions import RawSQL

from backend.accounts.models import OrganizationKind, User
from backend.cases.selectors import on_cases_visible_to
from backend.utilities.models import UtilityApplication, UtilityPoint, UtilityRequest

NEARBY_MAX_RADIUS_M = 50_000
NEARBY_MAX_LIMIT = 1000


def _company_of(user: User) -> Any:
    if not user.is_authenticated or user.is_administrator or user.organization_id is None:
        return None
    org = user.organization
    return org if org.kind == OrganizationKind.UTILITY_COMPANY else None


def utility_applications_visible_to(*, user: User) -> QuerySet[UtilityApplication]:
    if _company_of(user) is not None:
        return UtilityApplication.objects.none()
    return on_cases_visible_to(UtilityApplication.objects.all(), user=user)


def utility_requests_visible_to(*, user: User) -> QuerySet[UtilityRequest]:
    qs = on_cases_visible_to(UtilityRequest.objects.all(), user=user)
    company = _company_of(user)
    if company is not None:
        qs = qs.filter(company=company)
    return qs.select_related("company")


def utility_points_visible_to(*, user: User) -> QuerySet[UtilityPoint]:
    qs = on_cases_visible_to(UtilityPoint.objects.all(), user=user)
    company = _company_of(user)
    if company is not None:
        qs = qs.filter(company=company, utility_type__in=list(company.utility_types))
    return qs.select_related("company")


class _AsGeography(Func):
    # Renders (location)::geography: the expression of the functional index
    # utilities_point_location_geog_gist (migration 0002), so the planner can use it.
    template = "(%(expressions)s)::geography"


def _location() -> Func:
    return _AsGeography(F("location"))


# The query point as geography; its two parameters are (lon, lat).
_POINT_SQL = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"


def _query_point(lon: float, lat: float) -> RawSQL:
    return RawSQL(_POINT_SQL, (lon, lat))


def _operator(left: Any, operator: str, right: Any, output_field: Any) -> Func:
    return Func(left, right, template="(%(expressions)s)", arg_joiner=f" {operator} ", output_field=output_field)


def _nearby_candidates(*, user: User, lon: float, lat: float, radius_m: float, utility_type: str | None):
    """Visible points whose geography bounding box meets the radius' box (index condition only)."""
    qs = utility_points_visible_to(user=user)
    if utility_type:
        qs = qs.filter(utility_type=utility_type)
    # _ST_Expand(geography, metres) is the box ST_DWithin itself puts in its index condition.
    box = Func(_query_point(lon, lat), Value(float(radius_m)), function="_ST_Expand")
    return qs.filter(_operator(_location(), "&&", box, BooleanField()))


@dataclass(frozen=True)
class NearbyQuery:
    """The SQL of one `nearby` request, compiled from the scope once and used by every reader.

    `page_sql` yields the page's rows `(id, distance_m)` nearest first (`distance_m`, then `id`);
    `count_sql` yields one row: how many visible points lie within the radius. Both embed the
    same candidates subquery (the user's scope, the utility type, the radius' bounding box), so
    the ORM compiles the scope once per request instead of once per query.
    """

    page_sql: str
    page_params: tuple
    count_sql: str
    count_params: tuple


def utility_points_nearby_query(
    *, user: User, point: Point, radius_m: float, utility_type: str | None = None, limit: int, offset: int = 0
) -> NearbyQuery:
    """The visible access points within `radius_m` metres of `point` (WGS84), nearest first,
    rows `offset` to `offset + limit`, each with `distance_m`: the geodesic distance on the WGS84
    spheroid (ST_Distance on geography).

    Two levels, because the planner misjudges ST_DWithin on geography: it multiplies the
    selectivity of ST_DWithin's own bounding-box index condition by that of the distance filter,
    estimates a handful of rows for a 50 km radius that holds 180 000, and then sorts a
    sequential scan instead of walking the index in distance order (1.4 s at 200 000 rows with
    JIT on, against 15 ms). So the inner query takes the nearest `offset + limit` visible points
    inside the radius' bounding box by the KNN operator (`ORDER BY location::geography <-> point
    LIMIT n`, an ordered scan of the functional GiST index on location::geography), and the outer
    query keeps those ST_DWithin the radius. Points inside the box but outside the circle are
    farther than every point inside it, so the outer filter only trims the tail.

    The candidates subquery carries no ORDER BY, so PostgreSQL pulls it up into the query
    around it and the KNN `ORDER BY` is on the table's own column, as the index needs.

    `<->` on geography measures on the sphere and `distance_m` on the spheroid (up to ~0.3 %
    apart), so rows are ordered by `distance_m`; two points whose distances differ by less
    than that could only trade places at the `limit` boundary.
    """
    lon, lat = point.x, point.y
    candidates, scope_params = (
        _nearby_candidates(user=user, lon=lon, lat=lat, radius_m=radius_m, utility_type=utility_type)
        .order_by()
        .values("pk", "location")
        .query.sql_with_params()
    )
    within = f"ST_DWithin((u.location)::geography, {_POINT_SQL}, %s)"
    page_sql = (
        f"SELECT u.id, ST_Distance((u.location)::geography, {_POINT_SQL}) AS distance_m FROM ("
        f"SELECT c.id, c.location FROM ({candidates}) c (id, location) "
        f"ORDER BY (c.location)::geography <-> {_POINT_SQL} LIMIT %s"
        f") u WHERE {within} ORDER BY distance_m, u.id LIMIT %s OFFSET %s"
    )
    radius = float(radius_m)
    page_params = (lon, lat, *scope_params, lon, lat, offset + limit, lon, lat, radius, limit, offset)
    count_sql = f"SELECT count(*) FROM ({candidates}) u (id, location) WHERE {within}"
    count_params = (*scope_params, lon, lat, radius)
    return NearbyQuery(page_sql, page_params, count_sql, count_params)
