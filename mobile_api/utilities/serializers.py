from rest_framework import serializers

from backend.accounts.models import Organization, OrganizationKind, UtilityType
from backend.cases.selectors import cases_visible_to
from backend.common.geometry import POINT
from backend.sites.selectors import sites_visible_to
from backend.utilities.models import UtilityApplication, UtilityPoint, UtilityRequest
from backend.utilities.selectors import utility_requests_visible_to
from mobile_api.geometry import GeometryInputField
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field


def _utility_companies():
    return Organization.objects.filter(kind=OrganizationKind.UTILITY_COMPANY)


class CreateOnlyMixin:
    """Fields a client sets on create and never again: sent unchanged on update they are
    ignored, changed they are refused (never silently dropped)."""

    CREATE_ONLY: tuple[str, ...] = ()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None:
            errors = {}
            for name in self.CREATE_ONLY:
                if name in attrs:
                    if attrs.pop(name) != getattr(self.instance, name):
                        errors[name] = ["Cannot be changed after creation."]
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class UtilityRequestSerializer(CreateOnlyMixin, RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to)
    utility_type = serializers.ChoiceField(choices=UtilityType.choices)
    company = serializers.PrimaryKeyRelatedField(
        queryset=_utility_companies(),
        required=False,
        allow_null=True,
        help_text="Optional on create: a utility company serving the type; otherwise the one company serving "
        "the type in the project's region is chosen (400 no_company_for_type if there is none or several). "
        "Never changed afterwards.",
    )
    company_name = serializers.CharField(source="company.name", read_only=True)
    demand = serializers.JSONField(help_text="Per utility type; see backend/utilities/demand.py for units and ranges.")
    responded_by = serializers.UUIDField(source="responded_by_id", read_only=True, allow_null=True)

    CREATE_ONLY = ("case", "site", "utility_type", "company")

    class Meta:
        model = UtilityRequest
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "application",
            "utility_type",
            "company",
            "company_name",
            "demand",
            "status",
            "applicant_name",
            "contact_phone",
            "plan",
            "planned_connection_date",
            "response_note",
            "responded_at",
            "responded_by",
        ]
        read_only_fields = [
            "application",
            "status",
            "plan",
            "planned_connection_date",
            "response_note",
            "responded_at",
        ]


class UtilityRequestSummarySerializer(serializers.ModelSerializer):
    company_name = serializers.CharField(source="company.name", read_only=True)

    class Meta:
        model = UtilityRequest
        fields = ["id", "utility_type", "company", "company_name", "status", "version"]
        read_only_fields = fields


class UtilityApplicationSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to)
    demands = serializers.JSONField(
        write_only=True,
        help_text="{utility_type: demand}: one request is made per type, each addressed to one company.",
    )
    companies = serializers.DictField(
        child=serializers.PrimaryKeyRelatedField(queryset=_utility_companies()),
        write_only=True,
        required=False,
        help_text="Optional {utility_type: company id}; by default the company serving the type in the region.",
    )
    requests = serializers.SerializerMethodField()

    class Meta:
        model = UtilityApplication
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "applicant_name",
            "contact_phone",
            "note",
            "demands",
            "companies",
            "requests",
        ]

    def get_requests(self, application: UtilityApplication) -> list[dict]:
        requests = application.requests.select_related("company").order_by("utility_type")
        return UtilityRequestSummarySerializer(requests, many=True).data


class UtilityPointSerializer(CreateOnlyMixin, RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    utility_type = serializers.ChoiceField(choices=UtilityType.choices)
    company = serializers.PrimaryKeyRelatedField(
        queryset=_utility_companies(),
        required=False,
        allow_null=True,
        help_text="Optional on create: the request's company, the recording company, or the company serving "
        "the type in the region. Never changed afterwards.",
    )
    company_name = serializers.CharField(source="company.name", read_only=True)
    request = visible_queryset_field(utility_requests_visible_to, required=False, allow_null=True)
    location = GeometryInputField(allowed_types=POINT)
    attributes = serializers.JSONField(required=False, help_text="Per utility type, all optional.")

    CREATE_ONLY = ("case", "utility_type", "company")

    class Meta:
        model = UtilityPoint
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "utility_type",
            "company",
            "company_name",
            "request",
            "name",
            "location",
            "status",
            "attributes",
            "note",
        ]
        read_only_fields = ["status"]


class NearbyUtilityPointSerializer(UtilityPointSerializer):
    distance_m = serializers.FloatField(read_only=True, help_text="Geodesic distance (WGS84 spheroid), metres.")

    class Meta(UtilityPointSerializer.Meta):
        fields = [*UtilityPointSerializer.Meta.fields, "distance_m"]


class RespondSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "need_info", "reject"])
    plan = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")
    planned_connection_date = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, default="", help_text="Required for need_info and reject."
    )


class PointTransitionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["surveyed", "agreed", "connected"])


class NearbyQuerySerializer(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    radius_m = serializers.FloatField(min_value=0.001, max_value=50_000, help_text="At most 50 000 m.")
    utility_type = serializers.ChoiceField(choices=UtilityType.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    offset = serializers.IntegerField(min_value=0, max_value=9_000, default=0, help_text="offset + limit ≤ 10 000.")
