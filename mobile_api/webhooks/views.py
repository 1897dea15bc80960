"""Webhook subscriptions (`/api/v1/webhooks/`), the event feed (`/api/v1/events/`) and the
signed opinion-PDF links that inspection events carry. Rules live in backend.events."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.acceptance.models import Inspection
from backend.acceptance.report import inspection_report_pdf
from backend.accounts.models import Organization
from backend.common.errors import NotFound, ValidationFailed
from backend.events.catalogue import EVENT_TYPES, REPORT_LINK_SALT
from backend.events.selectors import deliveries_of, event_envelope, events_feed, subscriptions_visible_to
from backend.events.services import (
    delivery_retry,
    subscription_create,
    subscription_delete,
    subscription_ping,
    subscription_replay,
    subscription_rotate_secret,
    subscription_update,
)
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, PROBLEM_RESPONSES, ProblemSerializer
from mobile_api.pagination import LimitOffsetPagination
from mobile_api.signatures.views import public_verify_url
from mobile_api.webhooks.serializers import (
    DeliverySerializer,
    EventFeedSerializer,
    EventTypeSerializer,
    PingResultSerializer,
    ReplayResultSerializer,
    ReplaySerializer,
    RotateSecretSerializer,
    SubscriptionPatchSerializer,
    SubscriptionSerializer,
    SubscriptionWithSecretSerializer,
    SubscriptionWriteSerializer,
)


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


NOT_FOUND = {(404, PROBLEM_CONTENT_TYPE): _problem("not_found")}
INVALID = {
    (400, PROBLEM_CONTENT_TYPE): _problem(
        "validation_error, unknown_event_type, webhook_url_not_allowed (not http(s), host not allowed, "
        "or a loopback/private/link-local address after DNS resolution)"
    )
}


def _subscription(request: Request, pk: Any):
    subscription = subscriptions_visible_to(user=request.user).filter(pk=pk).first()
    if subscription is None:
        raise NotFound("No such webhook.")
    return subscription


def _body(request: Request, serializer_class) -> dict[str, Any]:
    serializer = serializer_class(data=request.data if isinstance(request.data, dict) else {})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class WebhookListView(APIView):
    parser_classes = [JSONParser]
    pagination_class = LimitOffsetPagination

    @extend_schema(
        operation_id="webhooks_list",
        tags=["webhooks"],
        summary="The webhook subscriptions you manage",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–1000"),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: SubscriptionSerializer(many=True), **PROBLEM_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        qs = subscriptions_visible_to(user=request.user).order_by("created_at", "id")
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(SubscriptionSerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        tags=["webhooks"],
        summary="Subscribe a URL to events; the answer holds the secret, shown only once",
        request=SubscriptionWriteSerializer,
        responses={201: SubscriptionWithSecretSerializer, **INVALID, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        data = _body(request, SubscriptionWriteSerializer)
        organization = None
        if data.get("organization"):
            organization = Organization.objects.filter(pk=data["organization"]).first()
            if organization is None:
                raise NotFound("No such organisation.")
        subscription = subscription_create(
            by=request.user,
            url=data["url"],
            events=data.get("events"),
            is_active=data.get("is_active", True),
            description=data.get("description", ""),
            organization=organization,
        )
        return Response(SubscriptionWithSecretSerializer(subscription).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="webhooks_retrieve",
        tags=["webhooks"],
        responses={200: SubscriptionSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def get(self, request: Request, pk: Any) -> Response:
        return Response(SubscriptionSerializer(_subscription(request, pk)).data)

    @extend_schema(
        operation_id="webhooks_partial_update",
        tags=["webhooks"],
        summary="Change url, events, is_active (true also lifts a pause) or description",
        request=SubscriptionPatchSerializer,
        responses={200: SubscriptionSerializer, **INVALID, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def patch(self, request: Request, pk: Any) -> Response:
        changes = _body(request, SubscriptionPatchSerializer)
        subscription = subscription_update(subscription_id=pk, by=request.user, changes=changes)
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        tags=["webhooks"],
        responses={204: None, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def delete(self, request: Request, pk: Any) -> Response:
        subscription_delete(subscription_id=pk, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        tags=["webhooks"],
        summary="A new secret (shown once); the old one still signs for the overlap",
        request=RotateSecretSerializer,
        responses={200: SubscriptionWithSecretSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def post(self, request: Request, pk: Any) -> Response:
        data = _body(request, RotateSecretSerializer)
        subscription = subscription_rotate_secret(
            subscription_id=pk, by=request.user, overlap_seconds=data.get("overlap_seconds")
        )
        return Response(SubscriptionWithSecretSerializer(subscription).data)


class WebhookPingView(APIView):
    @extend_schema(
        operation_id="webhooks_ping",
        tags=["webhooks"],
        summary="Send a signed `webhook.ping` now and report the receiver's answer",
        request=None,
        responses={200: PingResultSerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def post(self, request: Request, pk: Any) -> Response:
        outcome = subscription_ping(subscription_id=pk, by=request.user)
        return Response(
            {
                "success": outcome.is_success,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error,
            }
        )


class WebhookReplayView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="webhooks_replay",
        tags=["webhooks"],
        summary="Send again every event since `since` this subscription receives (same webhook-id)",
        request=ReplaySerializer,
        responses={
            202: ReplayResultSerializer,
            (400, PROBLEM_CONTENT_TYPE): _problem("validation_error, replay_too_large"),
            **NOT_FOUND,
            **PROBLEM_RESPONSES,
        },
    )
    def post(self, request: Request, pk: Any) -> Response:
        data = _body(request, ReplaySerializer)
        queued = subscription_replay(subscription_id=pk, by=request.user, since=data["since"])
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


DELIVERY_STATUS = OpenApiParameter("status", OpenApiTypes.STR, enum=["pending", "succeeded", "dead"])


class WebhookDeliveryListView(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        tags=["webhooks"],
        summary="Deliveries, newest first: attempts, last status code, latency and error",
        parameters=[
            DELIVERY_STATUS,
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–1000"),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: DeliverySerializer(many=True), **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def get(self, request: Request, pk: Any) -> Response:
        subscription = _subscription(request, pk)
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in {"pending", "succeeded", "dead"}:
            raise ValidationFailed(
                "status is pending, succeeded or dead.", errors={"status": ["pending, succeeded or dead."]}
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deliveries_of(subscription=subscription, status=wanted), request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class WebhookDeliveryRetryView(APIView):
    @extend_schema(
        operation_id="webhooks_deliveries_retry",
        tags=["webhooks"],
        summary="Send a delivery again now (also a dead-lettered one)",
        request=None,
        responses={202: DeliverySerializer, **NOT_FOUND, **PROBLEM_RESPONSES},
    )
    def post(self, request: Request, pk: Any, delivery_id: Any) -> Response:
        delivery = delivery_retry(subscription_id=pk, delivery_id=delivery_id, by=request.user)
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventTypeListView(APIView):
    @extend_schema(
        operation_id="events_types",
        tags=["events"],
        summary="The catalogue of event types",
        responses={200: EventTypeSerializer(many=True), **PROBLEM_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {"name": t.name, "label": t.label, "description": t.description, "record_type": t.record_type}
                for t in sorted(EVENT_TYPES.values(), key=lambda t: t.name)
            ]
        )


class EventFeedView(APIView):
    @extend_schema(
        operation_id="events_feed",
        tags=["events"],
        summary="Events of the cases you see, in commit order, never skipping a late commit",
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The `cursor` of the previous page."),
            OpenApiParameter("types", OpenApiTypes.STR, description="Comma-separated event types."),
            OpenApiParameter("case", OpenApiTypes.UUID),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–1000, default 100"),
        ],
        responses={
            200: EventFeedSerializer,
            (400, PROBLEM_CONTENT_TYPE): _problem(
                "invalid_cursor, invalid_limit, unknown_event_type, validation_error"
            ),
            **PROBLEM_RESPONSES,
        },
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        limit = LimitOffsetPagination().get_limit(request)
        types = [t for t in (params.get("types") or "").split(",") if t]
        unknown = sorted(set(types) - set(EVENT_TYPES))
        if unknown:
            raise ValidationFailed(
                f"Unknown event types: {', '.join(unknown)}.",
                code="unknown_event_type",
                errors={"types": [f"Not in the catalogue: {', '.join(unknown)}."]},
            )
        case_id = params.get("case") or None
        if case_id is not None:
            import uuid

            try:
                case_id = uuid.UUID(case_id)
            except ValueError as error:
                raise ValidationFailed("case is a case id.", errors={"case": ["A UUID."]}) from error
        events, cursor, has_more = events_feed(
            user=request.user, cursor=params.get("cursor"), types=types, case_id=case_id, limit=limit
        )
        next_url = None
        if has_more:
            query = params.copy()
            query["cursor"] = cursor
            next_url = request.build_absolute_uri(f"{reverse('api:event-feed')}?{query.urlencode()}")
        return Response(
            {
                "results": [event_envelope(event) for event in events],
                "cursor": cursor,
                "has_more": has_more,
                "next": next_url,
            }
        )


class EventInspectionReportView(APIView):
    """The opinion PDF behind an inspection event's `data.report.url`: the signed link is the
    credential, and it expires (WEBHOOK_REPORT_LINK_SECONDS)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        operation_id="events_inspection_report",
        tags=["events"],
        auth=[],
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            (404, PROBLEM_CONTENT_TYPE): _problem("not_found: an unknown, altered or expired link"),
        },
    )
    def get(self, request: Request, token: str) -> HttpResponse:
        try:
            payload = signing.loads(token, salt=REPORT_LINK_SALT, max_age=settings.WEBHOOK_REPORT_LINK_SECONDS)
        except signing.BadSignature as error:
            raise NotFound("This link is unknown or has expired.") from error
        inspection = Inspection.objects.filter(pk=payload.get("inspection")).first()
        if inspection is None:
            raise NotFound("This link is unknown or has expired.")
        pdf = inspection_report_pdf(
            inspection=inspection,
            verify_url_for=lambda content_hash: public_verify_url(
                request, record_type="inspection", record_id=inspection.pk, content_hash=content_hash
            ),
            generated_at=timezone.now(),
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="inspection-{inspection.pk}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response
