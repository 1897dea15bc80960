"""The working-day calendar: each year's official holiday arrangement, and how far it reaches."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from backend.cases.calendar import calendar_status, calendar_year_load, calendar_year_summaries, calendar_years
from backend.common.errors import PermissionDenied
from mobile_api.accounts.permissions import IsAdministratorOrReadOnly
from mobile_api.calendar.serializers import (
    CalendarStatusFields,
    CalendarYearDocumentSerializer,
    CalendarYearListSerializer,
    CalendarYearSerializer,
)
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES, ProblemSerializer

INVALID = {
    (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
        ProblemSerializer, description="invalid_calendar_year: `errors` lists every problem; nothing was loaded"
    )
}
NOT_FOUND = {(404, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="not_found")}


@extend_schema(tags=["calendar"])
class CalendarYearListView(GenericAPIView):
    permission_classes = [permissions.IsAuthenticated]

    def get_queryset(self):
        return calendar_years()

    @extend_schema(
        operation_id="calendar_years_list",
        summary="Every year the working-day calendar knows, and how far it reaches (any signed-in user)",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="Page size (default 100, max 1000)."),
            OpenApiParameter("offset", OpenApiTypes.INT, description="Years to skip (oldest first)."),
        ],
        responses={200: CalendarYearListSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        page = list(self.paginate_queryset(self.get_queryset()))
        summaries = calendar_year_summaries(page)
        response = self.get_paginated_response(
            CalendarYearSerializer([summaries[r.year] for r in page], many=True).data
        )
        # How far the calendar reaches sits beside the page: administrators see the warning on the list.
        response.data.update(CalendarStatusFields(calendar_status()).data)
        return response


@extend_schema_view(
    get=extend_schema(
        operation_id="calendar_years_retrieve",
        summary="One year's arrangement",
        responses={200: CalendarYearSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    ),
    put=extend_schema(
        operation_id="calendar_years_load",
        summary="Load or replace a year from the State Council's notice (administrators)",
        description=(
            "The whole document is validated: every date inside the year; each holiday named, start <= end, "
            "none overlapping; make-up workdays on weekends and outside every holiday; the year before already "
            "loaded. Any problem → 400 `invalid_calendar_year` listing all of them in `errors`, nothing written. "
            "Otherwise every day of the year is written (weekdays work, weekends rest, plus the notice; "
            "administrators' single-day overrides are kept) and stored due dates are recomputed."
        ),
        request=CalendarYearDocumentSerializer,
        responses={200: CalendarYearSerializer, **INVALID, **PROBLEM_RESPONSES},
    ),
)
@extend_schema(tags=["calendar"])
class CalendarYearView(GenericAPIView):
    permission_classes = [permissions.IsAuthenticated, IsAdministratorOrReadOnly]
    serializer_class = CalendarYearSerializer

    def get(self, request: Request, year: int) -> Response:
        row = get_object_or_404(calendar_years(), year=year)
        return Response(CalendarYearSerializer(calendar_year_summaries([row])[year]).data)

    def put(self, request: Request, year: int) -> Response:
        if not request.user.is_administrator:
            raise PermissionDenied("Only administrators may load a year's holiday arrangement.")
        row = calendar_year_load(year=year, document=request.data, by=request.user)
        row = calendar_years().get(year=row.year)
        return Response(CalendarYearSerializer(calendar_year_summaries([row])[year]).data)


@extend_schema_view(get=extend_schema(exclude=True), put=extend_schema(exclude=True))
class CalendarYearTrailingSlashView(CalendarYearView):
    """The same with a trailing slash, for clients that add one (not in the OpenAPI document)."""
