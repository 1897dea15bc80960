"""Reads of utility records, already scoped to what the user may see.

- a utility company sees only the requests addressed to it and the access points of its own
  company and utility types (never another company's, even on a case it works on), and no
  joint applications (they list every utility of the site);
- everyone else sees the records of the cases they may see (cases_visible_to: officials
  their jurisdiction, crews and teams their assigned cases, builders their own projects).
"""

from typing import Any

from django.contrib.gis.geos import Point
from django.db.models import BooleanField, FloatField, QuerySet
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


# Spelled exactly like the expression of the functional index utilities_point_location_geog_gist
# (migration 0002), so the planner can use it for both the radius filter and the ordering.
_LOCATION_GEOGRAPHY = '"utilities_utilitypoint"."location"::geography'
_QUERY_POINT = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"


def utility_points_nearby(
    *, user: User, point: Point, radius_m: float, utility_type: str | None = None
) -> QuerySet[UtilityPoint]:
    """Visible access points within `radius_m` metres of `point` (WGS84), nearest first.

    `distance_m` is the geodesic distance on the WGS84 spheroid. The filter is ST_DWithin on
    geography and the order the geography KNN operator `<->`, both answered by the functional
    GiST index on location::geography. `<->` on geography measures on the sphere, so two points
    whose spheroid distances differ by less than ~0.3 % may come out of the database swapped;
    callers re-sort a page by `distance_m` (see mobile_api.utilities.views).
    """
    lon, lat = point.x, point.y
    qs = utility_points_visible_to(user=user)
    if utility_type:
        qs = qs.filter(utility_type=utility_type)
    return (
        qs.filter(
            RawSQL(f"ST_DWithin({_LOCATION_GEOGRAPHY}, {_QUERY_POINT}, %s)", (lon, lat, radius_m), BooleanField())
        )
        .annotate(
            distance_m=RawSQL(f"ST_Distance({_LOCATION_GEOGRAPHY}, {_QUERY_POINT})", (lon, lat), FloatField()),
            knn_distance=RawSQL(f"{_LOCATION_GEOGRAPHY} <-> {_QUERY_POINT}", (lon, lat), FloatField()),
        )
        .order_by("knn_distance", "id")
    )
