"""Sending one delivery per Standard Webhooks 1.0, and the retry schedule."""

import base64
import hashlib
import hmac
import random
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.events.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from backend.events.selectors import deliveries_due
from backend.events.services import SECRET_PREFIX, webhook_signing_secrets, webhook_url_problem

MAX_RETRY_DELAY_SECONDS = 10 * 3600


def webhook_signature(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_delay_seconds(attempt: int) -> float:
    """Wait after failed attempt n (1-based): base * 4**(n-1), capped at 10 h, +-20 % jitter."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 4 ** (attempt - 1)
    return min(base, MAX_RETRY_DELAY_SECONDS) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)


def _post(subscription: WebhookSubscription, delivery: WebhookDelivery) -> tuple[int | None, str, str]:
    """(status code or None, response text, error)."""
    problem = webhook_url_problem(subscription.url)
    if problem is not None:
        return None, "", problem[0]
    timestamp = int(time.time())
    signatures = " ".join(
        webhook_signature(secret=secret, message_id=delivery.message_id, timestamp=timestamp, body=delivery.body)
        for secret in webhook_signing_secrets(subscription)
    )
    headers = {
        "content-type": "application/json",
        "user-agent": "field-records-webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        with requests.post(
            subscription.url,
            data=delivery.body.encode(),
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        ) as response:
            text = response.raw.read(settings.WEBHOOK_MAX_RESPONSE_BYTES, decode_content=True) or b""
            return response.status_code, text.decode(errors="replace"), ""
    except requests.RequestException as error:
        return None, "", f"{type(error).__name__}: {error}"[:500]


def delivery_attempt(*, delivery_id) -> WebhookDelivery | None:
    """Try one due delivery once; None if another worker holds it or it is not pending.

    The row stays locked during the call: two workers never send the same delivery at once, and
    a worker killed mid-call leaves it pending (its transaction rolls back), so it is sent again.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("subscription")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .first()
        )
        if delivery is None:
            return None
        subscription = delivery.subscription
        started = time.monotonic()
        status_code, text, error = _post(subscription, delivery)
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_latency_ms = int((time.monotonic() - started) * 1000)
        delivery.last_status_code = status_code
        delivery.last_response = text
        delivery.last_error = error or ("" if status_code and 200 <= status_code < 300 else f"HTTP {status_code}")
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = now
        elif status_code == 410:
            # The receiver says the endpoint is gone for good: stop sending to it.
            delivery.status = DeliveryStatus.FAILED
            subscription.is_active = False
            subscription.disabled_reason = "The receiver answered 410 Gone."
            subscription.save(update_fields=["is_active", "disabled_reason"])
        elif error == "webhook_target_forbidden" or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        else:
            delay = retry_delay_seconds(delivery.attempts)
            delivery.retry_delays = [*delivery.retry_delays, round(delay, 3)]
            delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save()
        return delivery


def deliveries_deliver_due(*, limit: int = 1000) -> int:
    """Attempt every due delivery once, in order; returns how many were attempted.

    Rounds repeat while they deliver something: a success can release the next event of its case.
    """
    seen: set = set()
    while len(seen) < limit:
        batch = [pk for pk in deliveries_due().values_list("pk", flat=True)[: limit - len(seen)] if pk not in seen]
        if not batch:
            break
        for delivery_id in batch:
            seen.add(delivery_id)
            delivery_attempt(delivery_id=delivery_id)
    return len(seen)


def deliveries_deliver_case_after(delivery: WebhookDelivery) -> None:
    """After a success, send the events of the same case that waited for it (the worker's path)."""
    while delivery is not None and delivery.status == DeliveryStatus.SUCCEEDED and delivery.case_ref is not None:
        following = (
            deliveries_due()
            .filter(subscription_id=delivery.subscription_id, case_ref=delivery.case_ref)
            .values_list("pk", flat=True)
            .first()
        )
        delivery = delivery_attempt(delivery_id=following) if following is not None else None
