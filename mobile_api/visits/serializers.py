from rest_framework import serializers

from backend.cases.selectors import cases_visible_to
from backend.sites.selectors import sites_visible_to
from backend.visits.models import BookingChannel, Vehicle, Visit, VisitPurpose
from backend.visits.selectors import vehicles_visible_to
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field


class VehicleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vehicle
        fields = ["id", "plate", "name", "team", "is_active"]
        read_only_fields = fields


class TeamField(serializers.JSONField):
    """`{"lead": "<user id or name>", "agents": [...], "approvers": [...]}`; checked by the service."""


class VisitSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to, required=False, allow_null=True)
    vehicle = visible_queryset_field(vehicles_visible_to)
    booked_via = serializers.ChoiceField(choices=BookingChannel.choices)
    purpose = serializers.ListField(child=serializers.ChoiceField(choices=VisitPurpose.choices), allow_empty=False)
    team = TeamField(required=False)

    class Meta:
        model = Visit
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "vehicle",
            "scheduled_for",
            "booked_via",
            "purpose",
            "status",
            "team",
            "remarks",
            "departed_at",
            "started_at",
            "ended_at",
            "cancelled_reason",
        ]
        read_only_fields = ["status", "departed_at", "started_at", "ended_at", "cancelled_reason"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None and "case" in attrs:
            if attrs["case"] != self.instance.case:
                raise serializers.ValidationError({"case": ["Cannot be changed."]})
            attrs.pop("case")
        return attrs


class TransitionSerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it happened on the device (default: now)."
    )


class CancelSerializer(TransitionSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class PositionSerializer(serializers.Serializer):
    """One GPS fix (documentation only: batches are validated by backend.visits.services)."""

    recorded_at = serializers.DateTimeField()
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    speed = serializers.FloatField(required=False, allow_null=True, help_text="m/s")
    heading = serializers.FloatField(required=False, allow_null=True, help_text="degrees from north")
    accuracy = serializers.FloatField(required=False, allow_null=True, help_text="metres")


class TrackBatchSerializer(serializers.Serializer):
    positions = PositionSerializer(many=True, help_text="At most 10 000 positions.")


class TrackBatchResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
