"""The events outbox, the subscriptions that receive it, and each event's delivery to each.

An `Event` is written in the transaction of the change it reports (backend.events.services), so
it exists if and only if the change committed. Its `position`, given at commit, is the commit
order that the pull feed and the webhook relay read in.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    # The envelope's `id`, also the `webhook-id` of every delivery of the event.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(default=timezone.now)
    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.CASCADE, related_name="+")
    external_no = models.CharField(max_length=64)
    # The commit order. Given at commit by a deferred trigger that holds a lock until the commit
    # is done (migration 0001), so a transaction that commits later always gets a larger
    # position, and every smaller position is already visible to whoever sees this one: reading
    # `position > cursor` never skips a late commit. NULL only before the writing transaction commits.
    position = models.BigIntegerField(null=True, unique=True, editable=False)
    record_type = models.CharField(max_length=64, blank=True)
    record_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [
            models.Index(fields=["case", "position"], name="event_case_position_idx"),
            models.Index(fields=["occurred_at"], name="event_occurred_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.uuid}"


class ItemLevelSeen(models.Model):
    """The warning level the daily run last saw for an approval item (deadline.level_changed)."""

    item = models.OneToOneField("cases.ApprovalItem", primary_key=True, on_delete=models.CASCADE, related_name="+")
    level = models.CharField(max_length=16)
    seen_on = models.DateField()

    def __str__(self) -> str:
        return f"{self.item_id}: {self.level}"


class RelayCursor(models.Model):
    """The last event position the relay has turned into deliveries. One row."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.position)


class PauseReason(models.TextChoices):
    FAILING = "failing", "持续推送失败"
    GONE = "gone", "接收方已注销（410）"


class Subscription(models.Model):
    """An organisation's webhook: it receives the chosen events of the cases the organisation sees."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    # Catalogued event types; empty means every type.
    events = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # `whsec_` + base64 of the key bytes. Kept readable: it signs every delivery.
    secret = models.CharField(max_length=100)
    # After a rotation the old secret keeps signing (a second signature) until this moment.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The first failure of the current run of failures (cleared by any success).
    failing_since = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=10, choices=PauseReason.choices, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="subscription_org_idx")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "待推送"
    SUCCEEDED = "succeeded", "已送达"
    DEAD = "dead", "已放弃"


class Delivery(models.Model):
    """One event for one subscription. `webhook-id` is the event's id on every attempt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    # Copied from the event: a case's deliveries go out in position (commit) order.
    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.CASCADE, related_name="+")
    position = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The receiver's 2xx: it has taken the result over.
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The last attempts, newest last: [{at, status_code, latency_ms, error}] (at most 20 kept).
    attempt_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="delivery_once_per_subscription"),
        ]
        indexes = [
            models.Index(
                fields=["subscription", "case", "position"],
                name="delivery_pending_queue_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["next_attempt_at"], name="delivery_pending_due_idx", condition=models.Q(status="pending")
            ),
            models.Index(fields=["subscription", "-created_at"], name="delivery_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id} ({self.status})"
