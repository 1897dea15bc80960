"""Writes of the events app: the outbox, subscriptions and their deliveries.

Domain services call `event_record` (or `event_on`, which wraps a service's result) inside the
transaction of the change, so an event exists if and only if the change committed.
"""

import base64
import ipaddress
import json
import secrets
import socket
import uuid
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.audit.services import audit_lock
from backend.cases.models import ApprovalCase
from backend.common.errors import NotFound, PermissionDenied, ValidationFailed
from backend.events.catalogue import EVENT_TYPES, PING_TYPE
from backend.events.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription
from backend.events.selectors import cases_visible_to_organization

SECRET_PREFIX = "whsec_"
SIGNED_CONTENT_TYPES = frozenset({"survey", "inspection"})
T = TypeVar("T")


# --- the outbox ------------------------------------------------------------------------------


def event_envelope(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": str(event.event_id),
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "case": str(event.case_id),
        "external_no": event.external_no,
        "data": event.data,
    }


def _body(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def event_record(*, type: str, case: ApprovalCase, data: dict[str, Any]) -> OutboxEvent:  # noqa: A002
    """Insert an event in the current transaction, with a delivery for each subscription that sees its case."""
    if type not in EVENT_TYPES:
        raise ValueError(f"{type!r} is not in the event catalogue")
    with transaction.atomic():
        # Ids in commit order: the chain lock is held to commit by every record writer already.
        audit_lock()
        event = OutboxEvent.objects.create(
            type=type, case=case, external_no=case.external_no or "", occurred_at=timezone.now(), data=data
        )
        deliveries = _fan_out(event)
    if deliveries:
        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: deliveries_schedule(delivery_ids=ids))
    return event


def _fan_out(event: OutboxEvent) -> list[WebhookDelivery]:
    subscriptions = WebhookSubscription.objects.filter(is_active=True, events__contains=[event.type]).select_related(
        "organization"
    )
    body = _body(event_envelope(event))
    deliveries = [
        WebhookDelivery(
            subscription=subscription,
            event=event,
            case_ref=event.case_id,
            message_id=str(event.event_id),
            event_type=event.type,
            body=body,
        )
        for subscription in subscriptions
        if cases_visible_to_organization(organization=subscription.organization).filter(pk=event.case_id).exists()
    ]
    return WebhookDelivery.objects.bulk_create(deliveries)


def record_event_data(record: Any, **extra: Any) -> dict[str, Any]:
    """A record as the event's `data`: its stored fields (see backend/events/catalogue.py) and type."""
    from backend.common.records import record_snapshot, record_type_of

    record_type = record_type_of(record)
    data = {"record_type": record_type, **record_snapshot(record), **extra}
    if record_type in SIGNED_CONTENT_TYPES and record.is_locked:
        # What the departments signed: receivers can check it with /documents/verify.
        from backend.signatures.content import record_content_hash

        data["content_hash"] = record_content_hash(record_type=record_type, record=record)
    return data


def event_on(result: T, *, type: str, when: bool = True, **extra: Any) -> T:  # noqa: A002
    """Record `type` for the record a service returns, and return it unchanged.

    `result` is a record or a `(record, created)` pair (a replayed create emits nothing).
    """
    record, created = result if isinstance(result, tuple) else (result, True)
    if when and created:
        event_record(type=type, case=record.case, data=record_event_data(record, **extra))
    return result


# --- subscriptions ---------------------------------------------------------------------------


def webhook_can_manage(*, user: User, organization: Organization) -> bool:
    """An organisation's administrators, or any user of an external system, manage its subscriptions."""
    if not getattr(user, "is_authenticated", False) or user.organization_id != organization.pk:
        return False
    return Role.ADMINISTRATOR in user.roles or organization.kind == OrganizationKind.EXTERNAL_SYSTEM


def _require_manager(user: User) -> Organization:
    organization = user.organization if getattr(user, "organization_id", None) else None
    if organization is None or not webhook_can_manage(user=user, organization=organization):
        raise PermissionDenied("Only an organisation's administrators or an external system manage webhooks.")
    return organization


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _address_is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def webhook_url_problem(url: str) -> tuple[str, str] | None:
    """(code, message) if the URL may not be called, else None; also checked before every call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "webhook_url_invalid", "The URL cannot be parsed."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "webhook_url_invalid", "The URL must be http or https with a host."
    if parts.username is not None or parts.password is not None:
        return "webhook_url_invalid", "The URL may not contain credentials."
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        return "webhook_url_unresolvable", "The URL's host does not resolve."
    if any(_address_is_private(info[4][0]) for info in infos):
        return "webhook_target_forbidden", "The URL points to a loopback, private or link-local address."
    return None


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise ValidationFailed("A URL is required.", code="webhook_url_invalid", errors={"url": ["Required."]})
    url = url.strip()
    problem = webhook_url_problem(url)
    if problem is not None:
        raise ValidationFailed(problem[1], code=problem[0], errors={"url": [problem[1]]})
    return url


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(name, str) for name in events):
        raise ValidationFailed(
            "events must be a non-empty list of event types.",
            code="webhook_events_invalid",
            errors={"events": ["A non-empty list of event types."]},
        )
    unknown = sorted({name for name in events if name not in EVENT_TYPES})
    if unknown:
        raise ValidationFailed(
            f"Unknown event types: {', '.join(name[:64] for name in unknown[:10])}.",
            code="webhook_events_invalid",
            errors={"events": [f"Must be among: {', '.join(EVENT_TYPES)}."]},
        )
    return sorted(set(events))


def _check_active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("is_active must be true or false.", errors={"is_active": ["A boolean."]})
    return value


@transaction.atomic
def webhook_subscription_create(
    *, by: User, url: Any, events: Any, is_active: Any = True
) -> tuple[WebhookSubscription, str]:
    """A subscription of the caller's organisation; returns it and its secret (shown only now)."""
    organization = _require_manager(by)
    secret = _new_secret()
    subscription = WebhookSubscription.objects.create(
        organization=organization,
        url=_check_url(url),
        events=_check_events(events),
        is_active=_check_active(is_active),
        secret=secret,
        created_by=by,
    )
    return subscription, secret


@transaction.atomic
def webhook_subscription_update(
    *, subscription: WebhookSubscription, by: User, changes: dict[str, Any]
) -> WebhookSubscription:
    _require_manager(by)
    unknown = sorted(set(changes) - {"url", "events", "is_active"})
    if unknown:
        raise ValidationFailed(
            f"Not writable: {', '.join(name[:40] for name in unknown[:10])}.",
            code="read_only_field",
            errors={name[:40]: ["Not writable."] for name in unknown[:10]},
        )
    current = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    if "url" in changes:
        current.url = _check_url(changes["url"])
    if "events" in changes:
        current.events = _check_events(changes["events"])
    if "is_active" in changes:
        current.is_active = _check_active(changes["is_active"])
        if current.is_active:
            current.disabled_reason = ""
    current.updated_at = timezone.now()
    current.save()
    return current


@transaction.atomic
def webhook_subscription_delete(*, subscription: WebhookSubscription, by: User) -> None:
    _require_manager(by)
    WebhookSubscription.objects.filter(pk=subscription.pk).delete()


@transaction.atomic
def webhook_secret_rotate(*, subscription: WebhookSubscription, by: User) -> tuple[WebhookSubscription, str]:
    """A new secret; the old one keeps signing for WEBHOOK_SECRET_OVERLAP_HOURS (both signatures sent)."""
    _require_manager(by)
    current = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = _new_secret()
    current.previous_secret = current.secret
    current.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    current.secret = secret
    current.updated_at = timezone.now()
    current.save()
    return current, secret


def webhook_signing_secrets(subscription: WebhookSubscription, *, now=None) -> list[str]:
    now = now or timezone.now()
    found = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        found.append(subscription.previous_secret)
    return found


@transaction.atomic
def webhook_ping(*, subscription: WebhookSubscription, by: User) -> WebhookDelivery:
    """Queue a `webhook.ping` delivery (not an outbox event; no case)."""
    _require_manager(by)
    message_id = str(uuid.uuid4())
    envelope = {
        "id": message_id,
        "type": PING_TYPE,
        "timestamp": timezone.now().isoformat(),
        "case": None,
        "external_no": "",
        "data": {"subscription": str(subscription.pk)},
    }
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, message_id=message_id, event_type=PING_TYPE, body=_body(envelope)
    )
    transaction.on_commit(lambda: deliveries_schedule(delivery_ids=[delivery.pk]))
    return delivery


@transaction.atomic
def webhook_delivery_retry(*, delivery: WebhookDelivery, by: User) -> WebhookDelivery:
    """Send a delivery again now (also a dead-lettered one); attempts continue from where they were."""
    _require_manager(by)
    current = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
    if current is None:
        raise NotFound("No such delivery.")
    if current.status == DeliveryStatus.SUCCEEDED:
        raise ValidationFailed("The delivery already succeeded.", code="delivery_succeeded", status=409)
    current.status = DeliveryStatus.PENDING
    current.next_attempt_at = timezone.now()
    current.save(update_fields=["status", "next_attempt_at"])
    transaction.on_commit(lambda: deliveries_schedule(delivery_ids=[current.pk]))
    return current


def deliveries_schedule(*, delivery_ids: list[uuid.UUID]) -> None:
    """After commit: queue each delivery for the worker (the periodic sweep catches any missed)."""
    from backend.events.tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        webhook_deliver_task.defer(delivery_id=str(delivery_id))


def approval_item_event_data(item: Any) -> dict[str, Any]:
    """`data` of case.item.status_changed: the item as stored, with its department's name."""
    from backend.common.records import record_snapshot

    return {"record_type": "approval_item", **record_snapshot(item), "department_name": item.department.name}
