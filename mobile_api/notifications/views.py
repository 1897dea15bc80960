"""The signed-in user's in-app notices."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from backend.common.errors import ValidationFailed
from backend.notifications.selectors import notifications_for, supervisions_visible_to
from backend.notifications.services import notification_mark_read, notifications_mark_all_read, supervision_respond
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES, ProblemSerializer
from mobile_api.notifications.serializers import (
    NotificationSerializer,
    ReadAllSerializer,
    SupervisionRespondSerializer,
    SupervisionSerializer,
)

NOT_FOUND = {(404, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="not_found")}
UNREAD = OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: only unread; false: only read.")


def _unread(raw: str | None) -> bool | None:
    if raw in (None, ""):
        return None
    if raw.lower() in {"true", "1"}:
        return True
    if raw.lower() in {"false", "0"}:
        return False
    raise ValidationFailed("unread is true or false.", errors={"unread": ["Expected true or false."]})


@extend_schema(tags=["notifications"])
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer
    filter_backends: list = []

    def get_queryset(self):
        return notifications_for(user=self.request.user, unread=_unread(self.request.query_params.get("unread")))

    @extend_schema(summary="Your notices, newest first", parameters=[UNREAD])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="notifications_read",
        summary="Mark one of your notices read",
        request=None,
        responses={200: NotificationSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def read(self, request: Request, pk: Any) -> Response:
        notification = notification_mark_read(notification_id=pk, by=request.user)
        return Response(NotificationSerializer(notification).data)

    @extend_schema(
        operation_id="notifications_read_all",
        summary="Mark all your notices read",
        request=None,
        responses={200: ReadAllSerializer, **PROBLEM_RESPONSES},
    )
    def read_all(self, request: Request) -> Response:
        return Response({"marked_read": notifications_mark_all_read(by=request.user)})


OPEN = OpenApiParameter("open", OpenApiTypes.BOOL, description="true: only open; false: only closed.")


@extend_schema(tags=["supervisions"])
class SupervisionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """督办单: the department's own; supervisors those of their region; administrators all."""

    serializer_class = SupervisionSerializer
    filter_backends: list = []

    def get_queryset(self):
        qs = supervisions_visible_to(user=self.request.user)
        raw = self.request.query_params.get("open")
        if raw not in (None, ""):
            if raw.lower() not in {"true", "1", "false", "0"}:
                raise ValidationFailed("open is true or false.", errors={"open": ["Expected true or false."]})
            qs = qs.filter(closed_at__isnull=raw.lower() in {"true", "1"})
        return qs.order_by("-created_at", "-id")

    @extend_schema(summary="Supervisions (督办单), newest first", parameters=[OPEN])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="supervisions_respond",
        summary="The department's acknowledgement and response",
        request=SupervisionRespondSerializer,
        responses={200: SupervisionSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def respond(self, request: Request, pk: Any) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        supervision = supervision_respond(supervision_id=pk, by=request.user, response=body.get("response"))
        return Response(SupervisionSerializer(supervision).data)
