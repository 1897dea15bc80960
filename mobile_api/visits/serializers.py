from rest_framework import serializers

from backend.cases.selectors import cases_visible_to
from backend.sites.selectors import sites_visible_to
from backend.visits.models import (
    BookingChannel,
    BookingRequest,
    BookingRequestStatus,
    ServicePlan,
    Vehicle,
    Visit,
    VisitPurpose,
)
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
    duration_minutes = serializers.IntegerField(
        required=False, min_value=15, max_value=720, help_text="How long the vehicle is booked (default 120)."
    )
    scheduled_until = serializers.DateTimeField(
        read_only=True, help_text="scheduled_for + duration_minutes: the end of the booked time."
    )
    plan = serializers.UUIDField(source="plan_id", read_only=True, allow_null=True)

    class Meta:
        model = Visit
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "vehicle",
            "scheduled_for",
            "duration_minutes",
            "scheduled_until",
            "booked_via",
            "purpose",
            "status",
            "team",
            "plan",
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


class RescheduleSerializer(serializers.Serializer):
    scheduled_for = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField(required=False, min_value=15, max_value=720)
    vehicle = visible_queryset_field(vehicles_visible_to, required=False, pk_field=serializers.UUIDField())


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


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class PreferredWindowsField(serializers.JSONField):
    """`[{"start", "end"}, …]` (1 to 5, ISO 8601 with offset, each up to a day); checked by the service."""


class BookingRequestSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to, required=False, allow_null=True)
    purpose = serializers.ListField(child=serializers.ChoiceField(choices=VisitPurpose.choices), allow_empty=False)
    preferred_windows = PreferredWindowsField(help_text="[{start, end}, …], most preferred first (1 to 5).")
    channel = serializers.ChoiceField(
        choices=BookingChannel.choices,
        required=False,
        help_text="Builders: wechat (the default for them); staff on a builder's behalf: phone or wechat.",
    )
    status = serializers.ChoiceField(choices=BookingRequestStatus.choices, read_only=True)
    visit = serializers.UUIDField(source="visit_id", read_only=True, allow_null=True)
    decided_by = serializers.UUIDField(source="decided_by_id", read_only=True, allow_null=True)

    class Meta:
        model = BookingRequest
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "purpose",
            "preferred_windows",
            "channel",
            "contact",
            "remarks",
            "status",
            "visit",
            "decided_by",
            "decided_at",
            "decline_reason",
        ]
        read_only_fields = ["decided_at", "decline_reason"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None and "case" in attrs:
            if attrs["case"] != self.instance.case:
                raise serializers.ValidationError({"case": ["Cannot be changed."]})
            attrs.pop("case")
        return attrs


class BookingConfirmSerializer(serializers.Serializer):
    vehicle = visible_queryset_field(vehicles_visible_to, pk_field=serializers.UUIDField())
    scheduled_for = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Default: the start of the preferred window `window`."
    )
    window = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text="Index into preferred_windows (default 0)."
    )
    duration_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=15, max_value=720, help_text="Default: the window's length."
    )
    team = TeamField(required=False)
    remarks = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class BookingDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Told to the builder.")


class ServicePlanSerializer(serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to, required=False, allow_null=True)
    vehicle = visible_queryset_field(vehicles_visible_to)
    month = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM.")
    rule = serializers.JSONField(
        help_text='{"kind": "weekly", "weekdays": [1..7], "time": "HH:MM"} or '
        '{"kind": "nth_weekday", "n": 1..5 or -1 (last), "weekday": 1..7, "time": "HH:MM"}; local time.'
    )
    purpose = serializers.ListField(child=serializers.ChoiceField(choices=VisitPurpose.choices), allow_empty=False)
    duration_minutes = serializers.IntegerField(required=False, min_value=15, max_value=720)
    team = TeamField(required=False, write_only=True)
    occurrences = serializers.JSONField(
        read_only=True,
        help_text="[{scheduled_for, status: booked | clash | not_workday | past, visit?, clashing_visit?, detail?}]",
    )
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = ServicePlan
        fields = [
            "id",
            "case",
            "site",
            "vehicle",
            "month",
            "rule",
            "duration_minutes",
            "purpose",
            "team",
            "remarks",
            "occurrences",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["month"] = instance.month.strftime("%Y-%m")
        return data


class AvailabilityVisitSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    case = serializers.UUIDField()
    status = serializers.CharField()
    purpose = serializers.ListField(child=serializers.CharField())


class AvailabilityWindowSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["free", "booked"])
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    visit = AvailabilityVisitSerializer(
        allow_null=True, help_text="The booked visit, for those who may see it; null when free or only busy."
    )
