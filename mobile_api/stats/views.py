"""`stats/deadlines/` and `stats/service/`: figures over the records the user may see."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.errors import ValidationFailed
from backend.stats.deadlines import deadline_stats
from backend.stats.periods import period_from
from backend.stats.service import region_from, service_stats
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES, ProblemSerializer
from mobile_api.stats.renderers import XLSX_MEDIA_TYPE, ServiceStatsCSVRenderer, ServiceStatsXLSXRenderer
from mobile_api.stats.serializers import DeadlineStatsSerializer, ServiceStatsSerializer

PERIOD = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 1 January of `to`'s year)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."),
]
INVALID = {
    (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
        ProblemSerializer, description="validation_error (a bad date, department or region), invalid_period"
    )
}


@extend_schema(tags=["stats"])
class DeadlineStatsView(APIView):
    @extend_schema(
        operation_id="stats_deadlines",
        summary="Deadline figures: open items by level, done on time or late, working days used, supervisions",
        parameters=[*PERIOD, OpenApiParameter("department", OpenApiTypes.UUID, description="One department.")],
        responses={200: DeadlineStatsSerializer, **INVALID, **PROBLEM_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        period = period_from(start=params.get("from"), end=params.get("to"))
        department = params.get("department") or None
        if department is not None:
            try:
                department = uuid.UUID(department)
            except ValueError as error:
                message = "Expected an organisation id (UUID)."
                raise ValidationFailed(message, errors={"department": [message]}) from error
        stats = deadline_stats(user=request.user, period=period, department=department)
        return Response(DeadlineStatsSerializer(stats).data)


@extend_schema(tags=["stats"])
class ServiceStatsView(APIView):
    renderer_classes = [JSONRenderer, ServiceStatsCSVRenderer, ServiceStatsXLSXRenderer]

    @extend_schema(
        operation_id="stats_service",
        summary="The service's figures (visits, on-site items, surveys, findings, inspections, tolerance, time used)",
        description=(
            "JSON, or `?format=csv` (one long table: figure, label, group, measure, value) or `?format=xlsx` "
            "(one sheet per figure); `Accept: text/csv` or the XLSX media type works too."
        ),
        parameters=[
            *PERIOD,
            OpenApiParameter("region", OpenApiTypes.STR, description="Leading 2, 4 or 6 digits of the region code."),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv", "xlsx"]),
        ],
        responses={
            (200, "application/json"): ServiceStatsSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, XLSX_MEDIA_TYPE): OpenApiTypes.BINARY,
            **INVALID,
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="not_found: an unknown format"),
            **PROBLEM_RESPONSES,
        },
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        period = period_from(start=params.get("from"), end=params.get("to"))
        region = region_from(params.get("region"))
        stats = service_stats(user=request.user, period=period, region=region)
        response = Response(ServiceStatsSerializer(stats).data)
        extension = request.accepted_renderer.format
        if extension in {"csv", "xlsx"}:
            name = f"service-stats-{period.start.isoformat()}-{period.end.isoformat()}.{extension}"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
