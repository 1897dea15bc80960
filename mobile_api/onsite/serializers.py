from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend.accounts.models import Organization, User
from backend.cases.models import ApprovalItem, Material
from backend.cases.selectors import cases_visible_to
from backend.onsite.models import (
    Certificate,
    DecisionOutcome,
    Delegation,
    IntakeMaterialState,
    OnsiteDecision,
    OnsiteIntake,
    OnsiteItem,
)
from backend.onsite.selectors import onsite_intakes_visible_to
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field


class OnsiteItemSerializer(serializers.ModelSerializer):
    department = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    department_name = serializers.CharField(source="department.name", read_only=True)

    class Meta:
        model = OnsiteItem
        fields = ["id", "department", "department_name", "name", "accept_on_site", "decide_on_site", "active"]
        # Uniqueness is the service's rule (its own error), not a DRF validator.
        validators: list = []


class DelegationSerializer(serializers.ModelSerializer):
    department = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    delegate = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    items = serializers.PrimaryKeyRelatedField(queryset=OnsiteItem.objects.all(), many=True)
    department_name = serializers.CharField(source="department.name", read_only=True)
    delegate_name = serializers.CharField(source="delegate.full_name", read_only=True)
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = Delegation
        fields = [
            "id",
            "department",
            "department_name",
            "delegate",
            "delegate_name",
            "items",
            "valid_from",
            "valid_to",
            "granted_by",
            "created_at",
            "revoked",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
        ]
        read_only_fields = ["granted_by", "created_at", "revoked_at", "revoked_by", "revoke_reason"]

    def get_revoked(self, obj: Delegation) -> bool:
        return obj.revoked_at is not None


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class DelegationCheckQuerySerializer(serializers.Serializer):
    department = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    item = serializers.PrimaryKeyRelatedField(queryset=OnsiteItem.objects.all())
    at = serializers.DateTimeField(required=False, help_text="When the decision is made; default: now.")


class DelegationCheckSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    delegation = serializers.UUIDField()
    valid_to = serializers.DateTimeField()


# --- on-site intake, decision, certificate -----------------------------------------------------


def _materials_visible_to(*, user):
    return Material.objects.filter(item__case__in=cases_visible_to(user=user))


def _items_visible_to(*, user):
    return ApprovalItem.objects.filter(case__in=cases_visible_to(user=user))


class IntakeMaterialSerializer(serializers.Serializer):
    material = visible_queryset_field(_materials_visible_to)
    state = serializers.ChoiceField(choices=IntakeMaterialState.choices)
    # For `scanned`: the material-scans/ record of it.
    scan = serializers.UUIDField(required=False, allow_null=True)
    # For `promised`: the date the applicant promises to supply it (容缺).
    promised_by = serializers.DateField(required=False, allow_null=True)


class IntakeChecklistField(serializers.ListField):
    """Written as `[{material, state, scan?, promised_by?}]`; read back as accepted, with names."""

    child = IntakeMaterialSerializer()

    def to_representation(self, data):
        return list(data or [])


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "material": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "state": {"type": "string", "enum": IntakeMaterialState.values},
                "scan": {"type": "string", "format": "uuid"},
                "promised_by": {"type": "string", "format": "date"},
            },
            "required": ["material", "state"],
        },
    }
)
class _ChecklistSchemaField(IntakeChecklistField):
    pass


class OnsiteIntakeSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    item = visible_queryset_field(_items_visible_to)
    onsite_item = serializers.PrimaryKeyRelatedField(read_only=True)
    applicant = serializers.CharField(max_length=200, required=False, allow_blank=True)
    received_at = serializers.DateTimeField(required=False)
    materials = _ChecklistSchemaField(required=False)

    class Meta:
        model = OnsiteIntake
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "item",
            "onsite_item",
            "applicant",
            "received_at",
            "materials",
            "note",
            "visit_id",
        ]


class CertificateSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Certificate
        fields = ["id", "number", "issued_at"]


class OnsiteDecisionSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    intake = visible_queryset_field(onsite_intakes_visible_to)
    outcome = serializers.ChoiceField(choices=DecisionOutcome.choices)
    item = serializers.PrimaryKeyRelatedField(read_only=True)
    onsite_item = serializers.PrimaryKeyRelatedField(read_only=True)
    department = serializers.PrimaryKeyRelatedField(read_only=True)
    delegation = serializers.PrimaryKeyRelatedField(read_only=True)
    delegate = serializers.PrimaryKeyRelatedField(read_only=True)
    decided_at = serializers.DateTimeField(read_only=True)
    certificate = serializers.SerializerMethodField()

    class Meta:
        model = OnsiteDecision
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "intake",
            "outcome",
            "reason",
            "item",
            "onsite_item",
            "department",
            "delegation",
            "delegate",
            "decided_at",
            "certificate",
        ]

    @extend_schema_field(CertificateSummarySerializer(allow_null=True))
    def get_certificate(self, decision: OnsiteDecision):
        try:
            certificate = decision.certificate  # joined by the selector
        except Certificate.DoesNotExist:
            certificate = None
        return CertificateSummarySerializer(certificate).data if certificate is not None else None


class CertificateSerializer(serializers.ModelSerializer):
    verify_url = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id",
            "number",
            "decision",
            "case",
            "holder",
            "item_name",
            "outcome",
            "department",
            "department_name",
            "issued_at",
            "content_hash",
            "key_id",
            "server_signature",
            "verify_url",
        ]

    def get_verify_url(self, certificate: Certificate) -> str:
        from mobile_api.onsite.public_views import certificate_verify_url

        return certificate_verify_url(self.context.get("request"), certificate)
