"""The transactional outbox and webhook subscriptions.

An `OutboxEvent` row is inserted in the transaction of the change it reports, so it exists if
and only if the change committed. Inserts take the audit chain's advisory lock first (every
record writer already holds it), so event ids are assigned in commit order and a reader paging
by id never skips a transaction that commits late.
"""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    # The envelope's "id" (and every delivery's webhook-id): stable across retries and the feed.
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64)
    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.PROTECT, related_name="+")
    external_no = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["case", "id"], name="events_outbox_case_id"),
            models.Index(fields=["type", "id"], name="events_outbox_type_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class WebhookSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=64), default=list)
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100)
    # After a rotation the previous secret still signs (a second signature) until it expires.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="events_subscription_org")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    SUCCEEDED = "succeeded", "已送达"
    FAILED = "failed", "已放弃"


class WebhookDelivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    # Null for pings, which are not outbox events.
    event = models.ForeignKey(OutboxEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case_ref = models.UUIDField(null=True, blank=True)
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    # The exact bytes sent on every attempt: the signature and webhook-id never change on retry.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The receiver's answer (first WEBHOOK_MAX_RESPONSE_BYTES) on the last attempt.
    last_response = models.TextField(blank=True)
    # Seconds waited before each retry, in order: the backoff actually applied.
    retry_delays = ArrayField(models.FloatField(), default=list, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], condition=models.Q(event__isnull=False), name="events_delivery_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="events_delivery_due",
            ),
            models.Index(fields=["subscription", "created_at"], name="events_delivery_subscription"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id}"
