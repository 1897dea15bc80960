"""Reads of utility records, already scoped to what the user may see.

- a utility company sees only the requests addressed to it and the access points of its own
  company and utility types (never another company's, even on a case it works on), and no
  joint applications (they list every utility of the site);
- everyone else sees the records of the cases they may see (cases_visible_to: officials
  their jurisdiction, crews and teams their assigned cases, builders their own projects).
"""

from typing import Any

from django.contrib.gis.geos import Point
from django.db.models import BooleanField, F, FloatField, Func, QuerySet, Value
from django.db.models.expressions import RawSQL

from backend.accounts.models import OrganizationKind, User
from backend.cases.selectors import cases_visible_to
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
    return UtilityApplication.objects.filter(case__in=cases_visible_to(user=user))


def utility_requests_visible_to(*, user: User) -> QuerySet[UtilityRequest]:
    qs = UtilityRequest.objects.filter(case__in=cases_visible_to(user=user))
    company = _company_of(user)
    if company is not None:
        qs = qs.filter(company=company)
    return qs.select_related("company")


def utility_points_visible_to(*, user: User) -> QuerySet[UtilityPoint]:
    qs = UtilityPoint.objects.filter(case__in=cases_visible_to(user=user))
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


def _query_point(lon: float, lat: float) -> RawSQL:
    return RawSQL("ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography", (lon, lat))


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


def _within(lon: float, lat: float, radius_m: float) -> Func:
    return Func(
        _location(), _query_point(lon, lat), Value(float(radius_m)), function="ST_DWithin", output_field=BooleanField()
    )


def _knn(lon: float, lat: float) -> Func:
    return _operator(_location(), "<->", _query_point(lon, lat), FloatField())


def utility_points_nearby(
    *, user: User, point: Point, radius_m: float, utility_type: str | None = None, limit: int, offset: int = 0
) -> QuerySet[UtilityPoint]:
    """The visible access points within `radius_m` metres of `point` (WGS84), nearest first,
    rows `offset` to `offset + limit`, each annotated with `distance_m`: the geodesic distance on
    the WGS84 spheroid (ST_Distance on geography).

    Two levels, because the planner misjudges ST_DWithin on geography: it multiplies the
    selectivity of ST_DWithin's own bounding-box index condition by that of the distance filter,
    estimates a handful of rows for a 50 km radius that holds 180 000, and then sorts a
    sequential scan instead of walking the index in distance order (1.4 s at 200 000 rows with
    JIT on, against 15 ms). So the inner query takes the nearest `offset + limit` visible points
    inside the radius' bounding box by the KNN operator (`ORDER BY location::geography <-> point
    LIMIT n`, an ordered scan of the functional GiST index on location::geography), and the outer
    query keeps those ST_DWithin the radius. Points inside the box but outside the circle are
    farther than every point inside it, so the outer filter only trims the tail.

    `<->` on geography measures on the sphere and `distance_m` on the spheroid (up to ~0.3 %
    apart), so rows are ordered here by `distance_m`; two points whose distances differ by less
    than that could only trade places at the `limit` boundary.
    """
    lon, lat = point.x, point.y
    nearest = (
        _nearby_candidates(user=user, lon=lon, lat=lat, radius_m=radius_m, utility_type=utility_type)
        .order_by(_knn(lon, lat))
        .values("pk")[: offset + limit]
    )
    within = (
        UtilityPoint.objects.filter(pk__in=nearest)
        .filter(_within(lon, lat, radius_m))
        .select_related("company")
        .annotate(
            distance_m=Func(_location(), _query_point(lon, lat), function="ST_Distance", output_field=FloatField())
        )
        .order_by("distance_m", "id")
    )
    return within[offset : offset + limit]


def utility_points_nearby_count(*, user: User, point: Point, radius_m: float, utility_type: str | None = None) -> int:
    """How many visible points lie within the radius (ST_DWithin on geography, index-assisted)."""
    lon, lat = point.x, point.y
    return (
        _nearby_candidates(user=user, lon=lon, lat=lat, radius_m=radius_m, utility_type=utility_type)
        .filter(_within(lon, lat, radius_m))
        .count()
    )
