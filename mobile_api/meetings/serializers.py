from rest_framework import serializers

from backend.accounts.models import Organization
from backend.cases.selectors import cases_visible_to
from backend.meetings.models import Meeting, MeetingDecision, MeetingParticipant
from backend.meetings.selectors import meetings_visible_to
from backend.surveys.selectors import findings_visible_to
from mobile_api.geometry import GeometryInputField
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field


def _fixed_after_create(serializer: serializers.Serializer, attrs: dict, *names: str) -> dict:
    """Fields set once on create: equal values on update are dropped, other values refused."""
    if serializer.instance is None:
        return attrs
    errors = {}
    for name in names:
        if name in attrs:
            value = attrs.pop(name)
            current = getattr(serializer.instance, name)
            if getattr(value, "pk", value) != getattr(current, "pk", current):
                errors[name] = ["Cannot be changed after creation."]
    if errors:
        raise serializers.ValidationError(errors)
    return attrs


def _visible_ids(serializer: serializers.Serializer, selector, ids: list, label: str) -> list:
    """Ids once each, sorted (as stored); one the caller cannot see reads like one that does not exist."""
    wanted = sorted(set(ids))
    user = serializer.context["request"].user
    found = set(selector(user=user).filter(pk__in=wanted).values_list("pk", flat=True))
    unknown = [str(record_id) for record_id in wanted if record_id not in found]
    if unknown:
        raise serializers.ValidationError(f"No such {label}: {', '.join(unknown)}.")
    return wanted


class MeetingSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to, help_text="The case that convened the meeting.")
    further_cases = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=50,
        help_text="Other cases whose findings the meeting takes up; the meeting is theirs too "
        "(visible, on their timelines, pulled with them).",
    )
    findings = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=200,
        help_text="The findings (问题清单) the meeting takes up, of any of its cases; each names the meeting.",
    )
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)

    class Meta:
        model = Meeting
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "further_cases",
            "kind",
            "number",
            "title",
            "scheduled_at",
            "held_at",
            "place",
            "location",
            "status",
            "agenda",
            "minutes",
            "findings",
            "cancel_reason",
        ]
        read_only_fields = ["status", "cancel_reason"]

    def validate_further_cases(self, value):
        # Keeping a case one can no longer see is not refused here: the service checks what is added.
        current = set(self.instance.further_cases) if self.instance is not None else set()
        added = [case_id for case_id in value if case_id not in current]
        _visible_ids(self, cases_visible_to, added, "case")
        return sorted(set(value))

    def validate_findings(self, value):
        current = set(self.instance.findings) if self.instance is not None else set()
        _visible_ids(self, findings_visible_to, [f for f in value if f not in current], "finding")
        return sorted(set(value))

    def validate(self, attrs):
        return _fixed_after_create(self, attrs, "case")


class MeetingParticipantSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    meeting = visible_queryset_field(meetings_visible_to)
    case = serializers.UUIDField(source="case_id", read_only=True, help_text="The meeting's case.")
    department = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )
    department_name = serializers.CharField(source="department.name", read_only=True, allow_null=True)

    class Meta:
        model = MeetingParticipant
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "meeting",
            "case",
            "department",
            "department_name",
            "person_name",
            "position",
            "attended",
            "remarks",
        ]

    def validate(self, attrs):
        return _fixed_after_create(self, attrs, "meeting", "department")


class MeetingDecisionSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    meeting = visible_queryset_field(meetings_visible_to)
    case = serializers.UUIDField(source="case_id", read_only=True, help_text="The finding's case, else the meeting's.")
    responsible_department = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )
    finding = visible_queryset_field(findings_visible_to, required=False, allow_null=True)
    resolves_finding = serializers.BooleanField(
        required=False, default=False, help_text="true: the decision resolves `finding` (it goes to resolved)."
    )

    class Meta:
        model = MeetingDecision
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "meeting",
            "case",
            "text",
            "responsible_department",
            "due_date",
            "finding",
            "resolves_finding",
        ]

    def validate(self, attrs):
        if self.instance is not None and "resolves_finding" not in self.initial_data:
            attrs.pop("resolves_finding", None)  # the default, not something the client sent
        return _fixed_after_create(self, attrs, "meeting", "finding", "resolves_finding")


# --- action bodies ----------------------------------------------------------------------


class MeetingHoldSerializer(serializers.Serializer):
    held_at = serializers.DateTimeField(required=False, help_text="When the meeting took place; default now.")
    minutes = serializers.CharField(required=False, allow_blank=True)
