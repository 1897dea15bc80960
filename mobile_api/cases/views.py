"""Projects, approval cases and their items; the approval system's upsert."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import django_filters
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from backend.cases import services
from backend.cases.deadlines import case_deadline_of, items_deadlines
from backend.cases.models import ApprovalCase, ApprovalItem, Blzt, Stage, WarningLevel
from backend.cases.plans import project_plan
from backend.cases.selectors import case_items_visible_to, cases_visible_to, projects_visible_to
from backend.common.errors import ValidationFailed
from mobile_api.cases.serializers import (
    CaseSerializer,
    CaseUpsertSerializer,
    ItemSerializer,
    ItemStatusChangeSerializer,
    ProjectPlanSerializer,
    ProjectSerializer,
)
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES, ProblemSerializer

VALIDATION = {(400, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="validation_error, …")}
NOT_FOUND = {(404, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="not_found")}
CONFLICT = {
    (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="illegal_transition, concurrent_update")
}
AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATE,
    description="Evaluate deadlines on this date instead of today (Asia/Shanghai).",
)


def as_of_from(request: Request) -> dt.date:
    raw = request.query_params.get("as_of")
    if not raw:
        return timezone.localdate()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as error:
        raise ValidationFailed("as_of is a date YYYY-MM-DD.", errors={"as_of": ["Expected YYYY-MM-DD."]}) from error


# --- projects -------------------------------------------------------------------------------


class ProjectFilter(django_filters.FilterSet):
    code = django_filters.CharFilter()
    builder = django_filters.UUIDFilter()
    investment_type = django_filters.CharFilter()
    category = django_filters.CharFilter()
    priority = django_filters.CharFilter()
    region_code = django_filters.CharFilter(lookup_expr="startswith")


@extend_schema_view(
    list=extend_schema(summary="List projects (officials: their jurisdiction; builders: their own)"),
    retrieve=extend_schema(summary="A project", responses={200: ProjectSerializer, **NOT_FOUND, **PROBLEM_RESPONSES}),
    create=extend_schema(
        summary="Register a project (administrators, officials of the code's region)",
        responses={201: ProjectSerializer, **VALIDATION, **PROBLEM_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change a project", responses={200: ProjectSerializer, **VALIDATION, **NOT_FOUND, **PROBLEM_RESPONSES}
    ),
    update=extend_schema(
        summary="Replace a project", responses={200: ProjectSerializer, **VALIDATION, **NOT_FOUND, **PROBLEM_RESPONSES}
    ),
)
@extend_schema(tags=["projects"])
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ProjectSerializer
    filterset_class = ProjectFilter

    def get_queryset(self):
        return projects_visible_to(user=self.request.user).order_by("code")

    def perform_create(self, serializer):
        serializer.instance = services.project_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.project_update(
            project=serializer.instance, by=self.request.user, data=dict(serializer.validated_data)
        )

    @extend_schema(
        operation_id="projects_plan",
        summary="The project's full-chain plan: standard time from its start milestone to the construction permit",
        description=(
            "Every stage and item of the cases you may see, with standard and actual dates; the total "
            "standard time (160 / 60 / 210 days by type, or the project's override) runs from the start "
            "milestone (land contract, or project approval without land) to the construction permit; the "
            "completion acceptance stage is listed but not counted."
        ),
        parameters=[AS_OF],
        responses={200: ProjectPlanSerializer, **VALIDATION, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    @action(detail=True, methods=["get"], url_path="plan")
    def plan(self, request: Request, pk: Any = None) -> Response:
        as_of = as_of_from(request)
        project = self.get_object()
        return Response(ProjectPlanSerializer(project_plan(project=project, user=request.user, as_of=as_of)).data)


# --- cases ----------------------------------------------------------------------------------


class CaseFilter(django_filters.FilterSet):
    stage = django_filters.ChoiceFilter(choices=Stage.choices)
    status = django_filters.TypedChoiceFilter(choices=Blzt.choices, coerce=int)
    project = django_filters.UUIDFilter()
    external_no = django_filters.CharFilter()
    assigned_to = django_filters.UUIDFilter(field_name="assigned_organizations", distinct=True)

    class Meta:
        model = ApprovalCase
        fields = ["stage", "status", "project", "external_no", "assigned_to"]


def case_context(cases: list[ApprovalCase], *, as_of: dt.date) -> dict[str, Any]:
    """Deadline summaries of cases (items and events prefetched), one calendar load for all."""
    items = [item for case in cases for item in case.items.all()]
    deadlines = items_deadlines(items=items, as_of=as_of)
    return {
        "as_of": as_of,
        "case_deadlines": {
            case.pk: case_deadline_of(
                case=case, as_of=as_of, item_deadlines=[deadlines[item.pk] for item in case.items.all()]
            )
            for case in cases
        },
    }


@extend_schema_view(
    list=extend_schema(summary="List the approval cases you may see", parameters=[AS_OF]),
    retrieve=extend_schema(
        summary="An approval case with its deadline summary",
        parameters=[AS_OF],
        responses={200: CaseSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Assign organisations or override the standard time (officials of the jurisdiction)",
        responses={200: CaseSerializer, **VALIDATION, **NOT_FOUND, **PROBLEM_RESPONSES},
    ),
)
@extend_schema(tags=["cases"])
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = CaseSerializer
    filterset_class = CaseFilter
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return (
            cases_visible_to(user=self.request.user)
            .select_related("project")
            .prefetch_related("assigned_organizations", "items__status_events")
            .order_by("-opened_at", "id")
        )

    def _context_for(self, cases: list[ApprovalCase]) -> dict[str, Any]:
        return {**self.get_serializer_context(), **case_context(cases, as_of=as_of_from(self.request))}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = list(self.paginate_queryset(queryset))
        serializer = CaseSerializer(page, many=True, context=self._context_for(page))
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        return Response(CaseSerializer(case, context=self._context_for([case])).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        serializer = CaseSerializer(case, data=request.data, partial=True, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.case_update(
            case=case,
            by=request.user,
            assigned_organizations=data.get("assigned_organizations"),
            standard_days_override=data["standard_days_override"] if "standard_days_override" in data else ...,
        )
        case = self.get_queryset().get(pk=case.pk)
        return Response(CaseSerializer(case, context=self._context_for([case])).data)


class CaseUpsertView(GenericAPIView):
    """`PUT cases/by-external/{external_no}`: the approval system mirrors a case into this backend."""

    serializer_class = CaseUpsertSerializer

    @extend_schema(
        operation_id="cases_by_external_upsert",
        summary="Create or update a case by its external number (approval system, administrators)",
        description=(
            "Creates or updates the case, its project (matched by code, builder by credit code) and its "
            "items (matched by `external_id`, else by name; never deleted). Status events are deduplicated, "
            "so sending the same body again changes nothing and answers 200. 201 when the case was created."
        ),
        request=CaseUpsertSerializer,
        responses={
            200: CaseSerializer,
            201: CaseSerializer,
            **VALIDATION,
            **NOT_FOUND,
            **CONFLICT,
            **PROBLEM_RESPONSES,
        },
        tags=["cases"],
    )
    def put(self, request: Request, external_no: str) -> Response:
        if not services.user_is_integration(user=request.user):
            # Refuse before reading the body: the endpoint is the approval system's alone.
            raise services.PermissionDenied("Only the approval system or an administrator may push cases.")
        serializer = CaseUpsertSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        case, created = services.case_upsert_by_external(
            external_no=external_no, data=serializer.validated_data, by=request.user
        )
        case = (
            ApprovalCase.objects.select_related("project")
            .prefetch_related("assigned_organizations", "items__status_events")
            .get(pk=case.pk)
        )
        body = CaseSerializer(
            case, context={**self.get_serializer_context(), **case_context([case], as_of=timezone.localdate())}
        )
        return Response(body.data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@extend_schema_view(put=extend_schema(exclude=True))
class CaseUpsertTrailingSlashView(CaseUpsertView):
    """The same upsert with a trailing slash, for clients that add one (not in the OpenAPI document)."""


# --- items ----------------------------------------------------------------------------------

ITEM_FILTERS = [
    AS_OF,
    OpenApiParameter("status", OpenApiTypes.INT, description="BLZT status code."),
    OpenApiParameter("stage", OpenApiTypes.STR, enum=Stage.values, description="The case's stage."),
    OpenApiParameter("warning_level", OpenApiTypes.STR, enum=WarningLevel.values),
    OpenApiParameter("department", OpenApiTypes.UUID),
]


@extend_schema(tags=["cases"])
class CaseItemViewSet(viewsets.GenericViewSet):
    """Approval items of one visible case, with their computed deadlines."""

    serializer_class = ItemSerializer
    filter_backends: list = []

    def get_case(self) -> ApprovalCase:
        return get_object_or_404(
            cases_visible_to(user=self.request.user).select_related("project"), pk=self.kwargs["case_id"]
        )

    def get_queryset(self):
        return case_items_visible_to(user=self.request.user, case=self.get_case()).select_related("handler")

    def _context(self, items: list[ApprovalItem], as_of: dt.date) -> dict[str, Any]:
        return {**self.get_serializer_context(), "as_of": as_of, "deadlines": items_deadlines(items=items, as_of=as_of)}

    @extend_schema(summary="List a case's approval items with due_at and warning_level", parameters=ITEM_FILTERS)
    def list(self, request: Request, case_id: Any) -> Response:
        as_of = as_of_from(request)
        case = self.get_case()
        queryset = case_items_visible_to(user=request.user, case=case).select_related("handler")
        params = request.query_params
        if params.get("stage") and params["stage"] != case.stage:
            queryset = queryset.none()
        if params.get("status"):
            try:
                queryset = queryset.filter(status=int(params["status"]))
            except ValueError as error:
                raise ValidationFailed("status is a BLZT code.", errors={"status": ["Expected an integer."]}) from error
        if params.get("department"):
            queryset = (
                queryset.filter(department_id=params["department"])
                if _is_uuid(params["department"])
                else queryset.none()
            )
        items = list(queryset)
        context = self._context(items, as_of)
        level = params.get("warning_level")
        if level:
            if level not in WarningLevel.values:
                raise ValidationFailed(
                    "Unknown warning level.", errors={"warning_level": [f"One of {', '.join(WarningLevel.values)}."]}
                )
            items = [item for item in items if context["deadlines"][item.pk].warning_level == level]
        page = self.paginate_queryset(items)
        return self.get_paginated_response(ItemSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="One approval item",
        parameters=[AS_OF],
        responses={200: ItemSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def retrieve(self, request: Request, case_id: Any, pk: Any) -> Response:
        item = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(ItemSerializer(item, context=self._context([item], as_of_from(request))).data)

    @extend_schema(
        operation_id="cases_items_status_change",
        summary="Move an item to a BLZT status (its department, the approval system, administrators)",
        request=ItemStatusChangeSerializer,
        responses={200: ItemSerializer, **VALIDATION, **NOT_FOUND, **CONFLICT, **PROBLEM_RESPONSES},
    )
    def change_status(self, request: Request, case_id: Any, pk: Any) -> Response:
        item = get_object_or_404(self.get_queryset(), pk=pk)
        serializer = ItemStatusChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.approval_item_change_status(
            item=item,
            status=serializer.validated_data["status"],
            occurred_at=serializer.validated_data.get("occurred_at"),
            by=request.user,
        )
        item = self.get_queryset().get(pk=pk)
        return Response(ItemSerializer(item, context=self._context([item], timezone.localdate())).data)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
