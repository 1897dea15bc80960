from rest_framework import serializers

from backend.events.catalogue import event_type_names
from backend.events.models import Delivery, Subscription


class EventTypeField(serializers.ChoiceField):
    """An event type of the catalogue (the choices are read when the schema is built)."""

    def __init__(self, **kwargs):
        super().__init__(choices=event_type_names(), **kwargs)


class SubscriptionSerializer(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization_id", read_only=True)
    events = serializers.ListField(child=EventTypeField(), help_text="Event types; empty: every type.")
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "organization",
            "url",
            "events",
            "description",
            "is_active",
            "paused_at",
            "pause_reason",
            "failing_since",
            "previous_secret_expires_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="`whsec_…`: shown only in this answer.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionWriteSerializer(serializers.Serializer):
    """Types are checked by the service (`unknown_event_type`); the URL too (`webhook_url_not_allowed`)."""

    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    is_active = serializers.BooleanField(required=False, default=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    organization = serializers.UUIDField(required=False, help_text="Administrators only: the owning organisation.")


class SubscriptionPatchSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    is_active = serializers.BooleanField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class RotateSecretSerializer(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=7 * 86400, help_text="Default WEBHOOK_SECRET_OVERLAP_SECONDS."
    )


class ReplaySerializer(serializers.Serializer):
    since = serializers.DateTimeField()


class ReplayResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField()


class PingResultSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class AttemptSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class DeliverySerializer(serializers.ModelSerializer):
    event = serializers.UUIDField(source="event.uuid", read_only=True, help_text="The event id (`webhook-id`).")
    type = serializers.CharField(source="event.type", read_only=True)
    case = serializers.UUIDField(source="case_id", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "type",
            "case",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "delivered_at",
            "attempt_log",
            "created_at",
        ]
        read_only_fields = fields


class EventSerializer(serializers.Serializer):
    """The envelope, the same in webhooks and the feed."""

    id = serializers.UUIDField()
    type = EventTypeField()
    timestamp = serializers.DateTimeField()
    case = serializers.UUIDField()
    external_no = serializers.CharField()
    data = serializers.DictField(help_text="The record as stored, by API field names, plus what the type adds.")


class EventFeedSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    cursor = serializers.CharField(help_text="Pass as `cursor` for the next page; opaque.")
    has_more = serializers.BooleanField()
    next = serializers.CharField(allow_null=True)


class EventTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    record_type = serializers.CharField(allow_blank=True)
