from rest_framework import serializers

from backend.accounts.models import Organization, User
from backend.onsite.models import Delegation, OnsiteItem


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
