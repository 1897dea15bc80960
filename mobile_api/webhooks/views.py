"""Webhook subscriptions (`/api/v1/webhooks/`) and the event feed (`/api/v1/events/`).

Rules live in backend.events (services, selectors); these views parse and render.
"""

import uuid

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.cases.selectors import cases_visible_to
from backend.common.errors import NotFound, ValidationFailed
from backend.events.catalogue import EVENT_TYPES
from backend.events.models import WebhookSubscription
from backend.events.selectors import events_visible_to, subscriptions_visible_to
from backend.events.services import (
    event_envelope,
    webhook_delivery_retry,
    webhook_ping,
    webhook_secret_rotate,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
)
from mobile_api.parsers import parse_non_negative_int
from mobile_api.webhooks.serializers import (
    EventFeedSerializer,
    WebhookDeliverySerializer,
    WebhookSubscriptionSerializer,
    WebhookSubscriptionWithSecretSerializer,
    WebhookSubscriptionWriteSerializer,
)

MAX_DELIVERIES = 200


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_body")
    return request.data


def _subscription(request: Request, pk) -> WebhookSubscription:
    subscription = subscriptions_visible_to(user=request.user).filter(pk=pk).first()
    if subscription is None:
        raise NotFound("No such webhook subscription.")
    return subscription


class WebhookListView(APIView):
    @extend_schema(responses=WebhookSubscriptionSerializer(many=True), operation_id="webhooks_list")
    def get(self, request: Request) -> Response:
        return Response(WebhookSubscriptionSerializer(subscriptions_visible_to(user=request.user), many=True).data)

    @extend_schema(
        request=WebhookSubscriptionWriteSerializer,
        responses={201: WebhookSubscriptionWithSecretSerializer},
        operation_id="webhooks_create",
        description="The answer carries the secret (`whsec_…`); it is never shown again.",
    )
    def post(self, request: Request) -> Response:
        data = _body(request)
        subscription, secret = webhook_subscription_create(
            by=request.user, url=data.get("url"), events=data.get("events"), is_active=data.get("is_active", True)
        )
        body = WebhookSubscriptionWithSecretSerializer(subscription, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    @extend_schema(responses=WebhookSubscriptionSerializer, operation_id="webhooks_retrieve")
    def get(self, request: Request, pk) -> Response:
        return Response(WebhookSubscriptionSerializer(_subscription(request, pk)).data)

    @extend_schema(
        request=WebhookSubscriptionWriteSerializer(partial=True),
        responses=WebhookSubscriptionSerializer,
        operation_id="webhooks_partial_update",
    )
    def patch(self, request: Request, pk) -> Response:
        subscription = webhook_subscription_update(
            subscription=_subscription(request, pk), by=request.user, changes=_body(request)
        )
        return Response(WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None}, operation_id="webhooks_destroy")
    def delete(self, request: Request, pk) -> Response:
        webhook_subscription_delete(subscription=_subscription(request, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(APIView):
    @extend_schema(
        request=None, responses=WebhookSubscriptionWithSecretSerializer, operation_id="webhooks_rotate_secret"
    )
    def post(self, request: Request, pk) -> Response:
        subscription, secret = webhook_secret_rotate(subscription=_subscription(request, pk), by=request.user)
        return Response(WebhookSubscriptionWithSecretSerializer(subscription, context={"secret": secret}).data)


class WebhookPingView(APIView):
    @extend_schema(request=None, responses={202: WebhookDeliverySerializer}, operation_id="webhooks_ping")
    def post(self, request: Request, pk) -> Response:
        delivery = webhook_ping(subscription=_subscription(request, pk), by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListView(APIView):
    @extend_schema(
        responses=WebhookDeliverySerializer(many=True),
        operation_id="webhooks_deliveries_list",
        description=f"The latest {MAX_DELIVERIES} deliveries, newest first.",
    )
    def get(self, request: Request, pk) -> Response:
        deliveries = _subscription(request, pk).deliveries.order_by("-created_at", "-id")[:MAX_DELIVERIES]
        return Response(WebhookDeliverySerializer(deliveries, many=True).data)


class WebhookDeliveryRetryView(APIView):
    @extend_schema(request=None, responses={202: WebhookDeliverySerializer}, operation_id="webhooks_delivery_retry")
    def post(self, request: Request, pk, delivery_id) -> Response:
        delivery = _subscription(request, pk).deliveries.filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound("No such delivery.")
        delivery = webhook_delivery_retry(delivery=delivery, by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


def _cursor(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    value = parse_non_negative_int(raw)
    if value is None:
        raise ValidationFailed(
            "cursor must be a value returned as next_cursor.", code="invalid_cursor", errors={"cursor": ["Invalid."]}
        )
    return value


def _types(raw: str | None) -> list[str]:
    if not raw:
        return []
    types = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in types if name not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown event types: {', '.join(name[:64] for name in unknown[:10])}.",
            code="invalid_event_type",
            errors={"types": [f"Must be among: {', '.join(EVENT_TYPES)}."]},
        )
    return types


def _limit(raw: str | None) -> int:
    maximum = settings.EVENTS_PAGE_SIZE
    if raw is None or raw == "":
        return maximum
    value = parse_non_negative_int(raw)
    if not value:
        raise ValidationFailed("limit must be an integer from 1.", code="invalid_limit", errors={"limit": ["From 1."]})
    return min(value, maximum)


class EventFeedView(APIView):
    """Events of the caller's cases in commit order; page with `?cursor=<next_cursor>`."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "cursor", OpenApiTypes.STR, description="next_cursor of the previous page; empty: from the start."
            ),
            OpenApiParameter(
                "types",
                OpenApiTypes.STR,
                description=f"Comma-separated event types, among: {', '.join(EVENT_TYPES)}.",
            ),
            OpenApiParameter("case", OpenApiTypes.UUID, description="Only this case's events."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Events per page (at most EVENTS_PAGE_SIZE)."),
        ],
        responses=EventFeedSerializer,
        operation_id="events_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        cursor = _cursor(params.get("cursor"))
        types = _types(params.get("types"))
        limit = _limit(params.get("limit"))
        events = events_visible_to(user=request.user).filter(id__gt=cursor)
        if types:
            events = events.filter(type__in=types)
        case = params.get("case")
        if case:
            visible_case = cases_visible_to(user=request.user).filter(pk=_uuid(case)).values_list("pk", flat=True)
            events = events.filter(case_id__in=visible_case)
        page = list(events[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        next_cursor = str(page[-1].pk) if page else str(cursor)
        return Response(
            {"results": [event_envelope(event) for event in page], "next_cursor": next_cursor, "has_more": has_more}
        )


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise ValidationFailed("case must be a UUID.", code="invalid_case", errors={"case": ["A UUID."]}) from error
