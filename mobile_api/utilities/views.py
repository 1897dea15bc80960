import json

from django.contrib.gis.geos import Point
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from backend.common.geometry import GCJ02, gcj02_to_wgs84
from backend.layers.timestamps import iso8601_sql
from backend.utilities.selectors import (
    NearbyQuery,
    utility_applications_visible_to,
    utility_points_nearby_query,
    utility_points_visible_to,
    utility_requests_visible_to,
)
from backend.utilities.services import (
    utility_point_transition,
    utility_request_mark_connected,
    utility_request_respond,
)
from mobile_api import answer_cache
from mobile_api.geometry import request_coord_system
from mobile_api.records.idempotency import idempotent
from mobile_api.records.views import (
    IDEMPOTENCY_KEY,
    X_COORD_SYSTEM,
    FieldRecordViewSet,
    device_id_of,
    optional_if_match,
    record_response,
)
from mobile_api.utilities.filters import UtilityApplicationFilter, UtilityPointFilter, UtilityRequestFilter
from mobile_api.utilities.serializers import (
    NearbyQuerySerializer,
    NearbyUtilityPointSerializer,
    PointTransitionSerializer,
    RespondSerializer,
    UtilityApplicationSerializer,
    UtilityPointSerializer,
    UtilityRequestSerializer,
)

NEARBY_DESCRIPTION = (
    "Visible access points within `radius_m` (≤ 50 000 m) of `lon`,`lat`, nearest first, each with "
    "`distance_m` (geodesic, metres). `X-Coord-System` declares the query point's coordinates.\n\n"
    + answer_cache.OPENAPI_NOTE
)
OPTIONAL_IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False, description='Optional ETag, e.g. "3".'
)


class UtilityApplicationViewSet(FieldRecordViewSet):
    """Joint utility applications (联合报装): `POST` with `{case, site, demands: {water: {…}, power: {…}}}`
    makes one request per utility, each addressed to one company, all or nothing. Not visible to
    utility companies (they see their own requests). Not changed after creation: change a request."""

    serializer_class = UtilityApplicationSerializer
    selector = staticmethod(utility_applications_visible_to)
    record_type = "utility_application"
    filterset_class = UtilityApplicationFilter
    http_method_names = ["get", "post", "head", "options"]


class UtilityRequestViewSet(FieldRecordViewSet):
    """One utility's connection request, addressed to one company, which answers with `respond`."""

    serializer_class = UtilityRequestSerializer
    selector = staticmethod(utility_requests_visible_to)
    record_type = "utility_request"
    filterset_class = UtilityRequestFilter

    @extend_schema(request=RespondSerializer, responses=UtilityRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def respond(self, request: Request, pk: str | None = None) -> Response:
        """The addressed company's answer: accept (plan, planned_connection_date), need_info or reject
        (both need a note). Other companies get 404, other users who can see the request 403."""
        instance = self.get_object()
        serializer = RespondSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = utility_request_respond(
            request=instance,
            by=request.user,
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
            **serializer.validated_data,
        )
        return record_response(self.get_serializer(updated).data, updated.version)

    @extend_schema(request=None, responses=UtilityRequestSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def connect(self, request: Request, pk: str | None = None) -> Response:
        """The addressed company reports the connection made (accepted → connected)."""
        instance = self.get_object()
        updated = utility_request_mark_connected(
            request=instance,
            by=request.user,
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(updated).data, updated.version)


class UtilityPointViewSet(FieldRecordViewSet):
    """Utility access points (接入点); status moves proposed → surveyed → agreed → connected via `transition`."""

    serializer_class = UtilityPointSerializer
    selector = staticmethod(utility_points_visible_to)
    record_type = "utility_point"
    filterset_class = UtilityPointFilter

    @extend_schema(
        request=PointTransitionSerializer,
        responses=UtilityPointSerializer,
        parameters=[IDEMPOTENCY_KEY, OPTIONAL_IF_MATCH],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def transition(self, request: Request, pk: str | None = None) -> Response:
        """`{status}`: the next status; anything but the next one is 409 illegal_transition."""
        instance = self.get_object()
        serializer = PointTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = utility_point_transition(
            point=instance,
            to=serializer.validated_data["status"],
            by=request.user,
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
        )
        return record_response(self.get_serializer(updated).data, updated.version)

    @extend_schema(
        parameters=[NearbyQuerySerializer, X_COORD_SYSTEM],
        responses=NearbyUtilityPointSerializer(many=True),
        description=NEARBY_DESCRIPTION,
    )
    @action(detail=False, methods=["get"], filterset_class=None, filter_backends=[])
    def nearby(self, request: Request) -> Response | HttpResponse:
        """The layers' answer cache in front of `_nearby`: the same user, request (query string,
        X-Coord-System) and data version get the stored body."""
        extra = request.META.get("HTTP_X_COORD_SYSTEM", "")
        return answer_cache.drf_answer(request, lambda: self._nearby(request), extra=extra)

    def _nearby(self, request: Request) -> Response:
        query = NearbyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        lon, lat = params["lon"], params["lat"]
        if request_coord_system(request) == GCJ02:
            lon, lat = gcj02_to_wgs84(lon, lat)
        point = Point(lon, lat, srid=4326)
        offset, limit = params["offset"], params["limit"]
        query = utility_points_nearby_query(
            user=request.user,
            point=point,
            radius_m=params["radius_m"],
            utility_type=params.get("utility_type"),
            limit=limit,
            offset=offset,
        )
        page, count = nearby_page_and_count(query, limit=limit, offset=offset)
        return Response(
            {
                "count": count,
                "next": self._nearby_link(request, offset + limit, limit) if offset + limit < count else None,
                "previous": self._nearby_link(request, max(0, offset - limit), limit) if offset > 0 else None,
                "results": page,
            }
        )

    @staticmethod
    def _nearby_link(request: Request, offset: int, limit: int) -> str:
        query = request.query_params.copy()
        query["offset"] = str(offset)
        query["limit"] = str(limit)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _nearby_row_json() -> str:
    """json_build_object of one nearby point (`t`, its company `c`, its distance `n.distance_m`)
    as NearbyUtilityPointSerializer renders it."""
    row = {
        "id": "t.id",
        "version": "t.version",
        "created_at": iso8601_sql("t.created_at"),
        "updated_at": iso8601_sql("t.updated_at"),
        "created_by": "t.created_by_id",
        "device_id": "t.device_id",
        "is_locked": "t.is_locked",
        "case": "t.case_id",
        "utility_type": "t.utility_type",
        "company": "t.company_id",
        "company_name": "c.name",
        "request": "t.request_id",
        "name": "t.name",
        # json_build_array of float8 prints the shortest exact decimal, as Python's repr does.
        "location": "json_build_object('type', 'Point', 'coordinates', json_build_array(ST_X(t.location), ST_Y(t.location)))",
        "status": "t.status",
        "attributes": "t.attributes",
        "note": "t.note",
        "distance_m": "n.distance_m",
    }
    pairs = ", ".join(f"'{name}', {sql}" for name, sql in row.items())
    return f"json_build_object({pairs})"


def nearby_page_and_count(query: NearbyQuery, *, limit: int, offset: int) -> tuple[list[dict], int]:
    """The selector's page of nearby points as NearbyUtilityPointSerializer renders them, and the
    page's `count`, in one statement: PostgreSQL builds each row (json_build_object) rather than a
    model and a serializer pass per point, and counts the radius only when the page cannot tell
    (a short page is the last one: its count is `offset` + its length; an empty page past the end
    tells nothing). The serializer stays the contract: a test asserts both agree."""
    sql = (
        f"WITH n AS MATERIALIZED ({query.page_sql}), "
        "size AS (SELECT count(*) AS rows FROM n) "
        f"SELECT (SELECT COALESCE(json_agg({_nearby_row_json()} ORDER BY n.distance_m, n.id), '[]')::text "
        "FROM n JOIN utilities_utilitypoint t ON t.id = n.id JOIN accounts_organization c ON c.id = t.company_id), "
        "(SELECT CASE WHEN size.rows < %s AND (size.rows > 0 OR %s = 0) THEN %s + size.rows "
        f"ELSE ({query.count_sql}) END FROM size)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*query.page_params, limit, offset, offset, *query.count_params))
        results, count = cursor.fetchone()
    return json.loads(results), count
