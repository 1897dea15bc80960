from django.db.models import BooleanField, Case, ExpressionWrapper, Q, When
from rest_framework import serializers

from backend.accounts.models import Organization
from backend.cases.selectors import cases_visible_to
from backend.sites.selectors import sites_visible_to
from backend.surveys.models import Finding, Survey, SurveyConclusion, SurveyParticipant
from backend.surveys.selectors import surveys_visible_to
from mobile_api.geometry import GeometryInputField
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field

# A regular expression matching text that str.strip() does not leave empty: one character that is
# not whitespace as Python sees it.
_NOT_BLANK = "[^" + "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "]"


def _fixed_after_create(serializer: serializers.Serializer, attrs: dict, *names: str) -> dict:
    """Fields set once on create: equal values on update are dropped, other values refused."""
    if serializer.instance is None:
        return attrs
    errors = {}
    for name in names:
        if name in attrs:
            value = attrs.pop(name)
            if getattr(value, "pk", value) != getattr(serializer.instance, f"{name}_id"):
                errors[name] = ["Cannot be changed after creation."]
    if errors:
        raise serializers.ValidationError(errors)
    return attrs


class SurveySerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to, required=False, allow_null=True)
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)

    class Meta:
        model = Survey
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "scheduled_at",
            "started_at",
            "ended_at",
            "status",
            "summary",
            "conclusion",
            "conditions",
            "minutes",
            "location",
            "cancel_reason",
            "locked_at",
        ]
        read_only_fields = ["status", "cancel_reason", "locked_at"]

    def validate(self, attrs):
        return _fixed_after_create(self, attrs, "case")


class SurveyParticipantSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    survey = visible_queryset_field(surveys_visible_to)
    case = serializers.UUIDField(source="case_id", read_only=True, help_text="The survey's case.")
    department = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    department_name = serializers.CharField(source="department.name", read_only=True)
    is_complete = serializers.SerializerMethodField(
        help_text="Attended with an opinion, or waived with a reason (what submitting requires of must-attend ones)."
    )
    # For sync pull's SQL rendering: get_is_complete over the row (blank as str.strip() sees it).
    sql_representation = {
        "is_complete": Case(
            When(
                Q(is_waived=True) | Q(waived_reason__regex=_NOT_BLANK),
                then=ExpressionWrapper(Q(waived_reason__regex=_NOT_BLANK), output_field=BooleanField()),
            ),
            default=ExpressionWrapper(Q(attended=True, opinion__regex=_NOT_BLANK), output_field=BooleanField()),
            output_field=BooleanField(),
        )
    }

    class Meta:
        model = SurveyParticipant
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "survey",
            "case",
            "department",
            "department_name",
            "person_name",
            "must_attend",
            "attended",
            "arrived_at",
            "opinion",
            "opinion_at",
            "is_waived",
            "waived_reason",
            "is_complete",
            "notified_at",
            "confirmation",
            "confirmed_at",
            "decline_reason",
        ]
        read_only_fields = ["notified_at", "confirmed_at"]
        extra_kwargs = {
            "confirmation": {
                "help_text": "The department's answer to the survey notice: set confirmed or declined (as "
                "`POST survey-participants/{id}/confirm` does), before the survey starts."
            }
        }
        # Uniqueness per department is the service's rule (409 duplicate_participant).
        validators: list = []

    def get_is_complete(self, participant: SurveyParticipant) -> bool:
        if participant.waiver_requested:
            return bool(participant.waived_reason.strip())
        return participant.attended and bool(participant.opinion.strip())

    def validate(self, attrs):
        if self.instance is None:
            # An invitation is not yet answered; a device may echo the pending state it shows.
            if attrs.get("confirmation", "pending") != "pending" or attrs.get("decline_reason", ""):
                raise serializers.ValidationError(
                    {"confirmation": ["Answered after the invitation (POST survey-participants/{id}/confirm)."]}
                )
            attrs.pop("confirmation", None)
            attrs.pop("decline_reason", None)
        return _fixed_after_create(self, attrs, "survey", "department")


class FindingSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    survey = visible_queryset_field(surveys_visible_to, required=False, allow_null=True)
    responsible_department = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    responsible_department_name = serializers.CharField(source="responsible_department.name", read_only=True)
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)
    meeting = serializers.UUIDField(
        source="meeting_id",
        read_only=True,
        allow_null=True,
        help_text="The coordination meeting (`meetings/`) that took the problem up, latest first; null: none.",
    )

    class Meta:
        model = Finding
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "survey",
            "description",
            "location",
            "responsible_department",
            "responsible_department_name",
            "due_date",
            "status",
            "resolved_at",
            "resolution",
            "meeting_ref",
            "meeting",
        ]
        read_only_fields = ["status", "resolved_at", "resolution"]

    def validate(self, attrs):
        return _fixed_after_create(self, attrs, "case")


# --- action bodies ----------------------------------------------------------------------


class SurveyStartSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField(required=False, help_text="When the survey began on site; default now.")


class SurveySubmitSerializer(serializers.Serializer):
    conclusion = serializers.ChoiceField(choices=SurveyConclusion.choices, required=False)
    conditions = serializers.CharField(required=False, allow_blank=True)
    minutes = serializers.CharField(required=False, allow_blank=True)
    ended_at = serializers.DateTimeField(required=False)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, required=False, default="")


class ParticipantConfirmSerializer(serializers.Serializer):
    attending = serializers.BooleanField(help_text="true: the department will attend; false: it declines.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", help_text="Why it declines.")


class FindingResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(required=False, allow_blank=True, default="")


class SurveyIncompleteSerializer(serializers.Serializer):
    """409 survey_incomplete: problem+json plus the departments that are missing."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    # Only on survey_incomplete; the other 409s of the same operations are plain problems.
    departments = serializers.ListField(child=serializers.UUIDField(), required=False)
    missing = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="{participant, department, department_name, reason}"
    )
