from rest_framework import serializers

from backend.accounts.models import Organization, OrganizationKind, Role, User, UtilityType


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    device_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    device_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class UserSerializer(serializers.ModelSerializer):
    """A user as the API shows it; `password` is write-only and never returned."""

    password = serializers.CharField(
        max_length=128, write_only=True, required=False, trim_whitespace=False, style={"input_type": "password"}
    )
    organization = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), allow_null=True, required=False
    )
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices), required=False)
    # Null for a user without an organisation (administrators); no `default`, which DRF would
    # skip on a partial update, leaving the field out of the answer.
    organization_name = serializers.CharField(source="organization.name", read_only=True, allow_null=True)
    organization_kind = serializers.CharField(read_only=True, allow_null=True)
    is_administrator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "password",
            "organization",
            "organization_name",
            "organization_kind",
            "roles",
            "full_name",
            "is_active",
            "is_administrator",
            "last_login",
            "date_joined",
        ]
        read_only_fields = ["id", "last_login", "date_joined"]
        # Uniqueness and the username pattern are checked by the service, with the same messages
        # for the API and the admin.
        extra_kwargs = {"username": {"validators": []}}

    def validate(self, attrs):
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": ["A password is required."]})
        return attrs


class TokenUserSerializer(serializers.ModelSerializer):
    # Null for a user without an organisation (administrators); no `default`, which DRF would
    # skip on a partial update, leaving the field out of the answer.
    organization_name = serializers.CharField(source="organization.name", read_only=True, allow_null=True)
    organization_kind = serializers.CharField(read_only=True, allow_null=True)
    is_administrator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "organization",
            "organization_name",
            "organization_kind",
            "roles",
            "full_name",
            "is_administrator",
        ]
        read_only_fields = fields


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once; stored hashed.")
    expires_at = serializers.DateTimeField()
    device_id = serializers.CharField()
    user = TokenUserSerializer()


class OrganizationSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=OrganizationKind.choices)
    utility_types = serializers.ListField(
        child=serializers.ChoiceField(choices=UtilityType.choices),
        required=False,
        help_text="Only for utility companies, which need at least one.",
    )
    region = serializers.CharField(
        max_length=6, required=False, allow_blank=True, help_text="Administrative division code: 2, 4 or 6 digits."
    )
    credit_code = serializers.CharField(
        max_length=18, required=False, allow_blank=True, help_text="Unified social credit code (统一社会信用代码)."
    )

    class Meta:
        model = Organization
        fields = ["id", "name", "kind", "utility_types", "region", "credit_code", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}
