"""`GET items/`: approval items across the cases the user can see (worklists)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from backend.cases.deadlines import items_deadlines
from backend.cases.models import ItemMode, WarningLevel
from backend.cases.worklists import promises_due, worklist_at_level, worklist_items
from backend.common.errors import ValidationFailed
from mobile_api.cases.serializers import ItemSerializer, PromiseSerializer
from mobile_api.cases.views import AS_OF, VALIDATION, _is_uuid, as_of_from
from mobile_api.exceptions import PROBLEM_RESPONSES

WORKLIST_FILTERS = [
    AS_OF,
    OpenApiParameter("warning_level", OpenApiTypes.STR, enum=WarningLevel.values),
    OpenApiParameter("department", OpenApiTypes.UUID),
    OpenApiParameter("handler", OpenApiTypes.STR, enum=["me"], description="me: items you handle (承办人)."),
    OpenApiParameter("mode", OpenApiTypes.STR, enum=ItemMode.values),
]


@extend_schema(tags=["cases"])
class WorklistViewSet(viewsets.GenericViewSet):
    serializer_class = ItemSerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="items_worklist",
        summary="Approval items across your cases, by warning level, department, handler and mode",
        parameters=WORKLIST_FILTERS,
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        as_of = as_of_from(request)
        errors: dict[str, list[str]] = {}
        department = params.get("department") or None
        if department is not None and not _is_uuid(department):
            errors["department"] = ["Expected an organisation id (UUID)."]
        handler = params.get("handler") or None
        if handler not in (None, "me"):
            errors["handler"] = ["Only handler=me is supported."]
        mode = params.get("mode") or None
        if mode is not None and mode not in ItemMode.values:
            errors["mode"] = [f"One of {', '.join(ItemMode.values)}."]
        level = params.get("warning_level") or None
        if level is not None and level not in WarningLevel.values:
            errors["warning_level"] = [f"One of {', '.join(WarningLevel.values)}."]
        if errors:
            raise ValidationFailed("Invalid worklist filter.", errors=errors)
        qs = worklist_items(
            user=request.user,
            department=department,
            handler=request.user if handler == "me" else None,
            mode=mode,
        )
        if level is None:
            page = self.paginate_queryset(qs)
            deadlines = items_deadlines(items=page, as_of=as_of)
        else:
            items, deadlines = worklist_at_level(qs, level=level, as_of=as_of)
            page = self.paginate_queryset(items)
        context: dict[str, Any] = {**self.get_serializer_context(), "as_of": as_of, "deadlines": deadlines}
        return self.get_paginated_response(ItemSerializer(page, many=True, context=context).data)


PROMISE_FILTERS = [
    AS_OF,
    OpenApiParameter(
        "due_by", OpenApiTypes.DATE, description="Promised on or before this date (default: as_of, i.e. due now)."
    ),
    OpenApiParameter("state", OpenApiTypes.STR, enum=["pending", "overdue"]),
    OpenApiParameter("department", OpenApiTypes.UUID),
    OpenApiParameter("handler", OpenApiTypes.STR, enum=["me"], description="me: promises of items you handle."),
    OpenApiParameter("case", OpenApiTypes.UUID),
]


@extend_schema(tags=["cases"])
class PromiseWorklistViewSet(viewsets.GenericViewSet):
    serializer_class = PromiseSerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="promises_due",
        summary="Tolerance promises (容缺) falling due or overdue, across your cases, soonest first",
        parameters=PROMISE_FILTERS,
        responses={200: PromiseSerializer(many=True), **VALIDATION, **PROBLEM_RESPONSES},
    )
    def list(self, request: Request) -> Response:
        params = request.query_params
        as_of = as_of_from(request)
        errors: dict[str, list[str]] = {}
        due_by = as_of
        if params.get("due_by"):
            try:
                due_by = dt.date.fromisoformat(params["due_by"])
            except ValueError:
                errors["due_by"] = ["Expected YYYY-MM-DD."]
        state = params.get("state") or None
        if state not in (None, "pending", "overdue"):
            errors["state"] = ["One of pending, overdue."]
        ids = {}
        for name in ("department", "case"):
            value = params.get(name) or None
            if value is not None and not _is_uuid(value):
                errors[name] = ["Expected an id (UUID)."]
            ids[name] = value
        handler = params.get("handler") or None
        if handler not in (None, "me"):
            errors["handler"] = ["Only handler=me is supported."]
        if errors:
            raise ValidationFailed("Invalid promise filter.", errors=errors)
        qs = promises_due(
            user=request.user,
            due_by=due_by,
            as_of=as_of,
            state=state,
            department=ids["department"],
            handler=request.user if handler == "me" else None,
            case=ids["case"],
        )
        page = self.paginate_queryset(qs)
        context: dict[str, Any] = {**self.get_serializer_context(), "as_of": as_of}
        return self.get_paginated_response(PromiseSerializer(page, many=True, context=context).data)
