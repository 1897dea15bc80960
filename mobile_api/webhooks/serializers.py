from rest_framework import serializers

from backend.events.catalogue import EVENT_TYPE_CHOICES, PING_TYPE
from backend.events.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES))

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "events",
            "is_active",
            "disabled_reason",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "disabled_reason", "previous_secret_expires_at", "created_at", "updated_at"]


class WebhookSubscriptionWriteSerializer(serializers.Serializer):
    """Request body of POST/PATCH (documentation: the service validates and answers with codes)."""

    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES))
    is_active = serializers.BooleanField(default=True)


class WebhookSubscriptionWithSecretSerializer(WebhookSubscriptionSerializer):
    """The answer to create and rotate-secret: the only time the secret is shown."""

    secret = serializers.SerializerMethodField()

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]

    def get_secret(self, subscription) -> str:
        return self.context["secret"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_type = serializers.ChoiceField(choices=[*EVENT_TYPE_CHOICES, (PING_TYPE, PING_TYPE)], read_only=True)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)
    event = serializers.CharField(source="message_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "retry_delays",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class EventEnvelopeSerializer(serializers.Serializer):
    """One event as webhooks send it and the feed lists it."""

    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=EVENT_TYPE_CHOICES)
    timestamp = serializers.DateTimeField()
    case = serializers.UUIDField()
    external_no = serializers.CharField()
    data = serializers.DictField()


class EventFeedSerializer(serializers.Serializer):
    results = EventEnvelopeSerializer(many=True)
    next_cursor = serializers.CharField(help_text="Pass as ?cursor= for the next page (the last event's position).")
    has_more = serializers.BooleanField()
