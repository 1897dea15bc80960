import uuid

from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from backend.accounts.models import Organization
from backend.signatures.models import Signature
from mobile_api.geometry import GeometryInputField
from mobile_api.records.views import RecordSerializerMixin


class SignerSerializer(serializers.Serializer):
    """Leave it out (or send only `role`) to sign as yourself for your organisation. Give `name`
    when another person signs on your device: you are recorded as the `witness`; `organization` is
    an organisation id or, for an unregistered one, its name (default: the `department`)."""

    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    role = serializers.CharField(max_length=100, required=False, allow_blank=True)
    organization = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    organization_name = serializers.CharField(read_only=True)
    user = serializers.UUIDField(read_only=True, allow_null=True)
    witness = serializers.UUIDField(read_only=True, allow_null=True)

    def get_attribute(self, instance: Signature) -> Signature:
        return instance

    def to_representation(self, instance: Signature) -> dict:
        return {
            "name": instance.signer_name,
            "role": instance.signer_role,
            "organization": str(instance.signer_organization_id) if instance.signer_organization_id else None,
            "organization_name": instance.signer_organization_name,
            "user": str(instance.signer_user_id) if instance.signer_user_id else None,
            "witness": str(instance.witness_id) if instance.witness_id else None,
        }


class SignatureImageField(serializers.FileField):
    """In: the PNG file (multipart). Out: `{sha256, url}` of the stored image."""

    def get_attribute(self, instance: Signature) -> Signature:
        return instance

    def to_representation(self, instance: Signature) -> dict:
        request = self.context.get("request")
        path = reverse("api:signature-image", args=[instance.pk])
        return {"sha256": instance.image_id, "url": request.build_absolute_uri(path) if request else path}


class SignatureImageFieldSchema(OpenApiSerializerFieldExtension):
    target_class = SignatureImageField

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return {"type": "string", "format": "binary"}
        return {
            "type": "object",
            "properties": {"sha256": {"type": "string"}, "url": {"type": "string", "format": "uri"}},
        }


class SignatureSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    """A signature of a field record. Create with `record_type`, `record_id`, the PNG of the
    handwritten signature as `image` (multipart) or `image_sha256` (a finished tus upload of
    yours), and optionally `department` (the signer slot), `signer`, `location`,
    `device_signed_at` (the device's clock, for offline signatures) and `strokes`. The server
    sets `signed_at`, computes `content_hash` of the record as it is now and signs it."""

    record_type = serializers.CharField(max_length=40)
    record_id = serializers.UUIDField()
    case = serializers.UUIDField(source="case_id", required=False, help_text="Derived from the record.")
    department = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all(), required=False)
    signer = SignerSerializer(required=False)
    image = SignatureImageField(required=False, allow_empty_file=False, use_url=False)
    image_sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False)
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)
    device_signed_at = serializers.DateTimeField(required=False, allow_null=True)
    strokes = serializers.JSONField(required=False, allow_null=True)

    class Meta:
        model = Signature
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "record_type",
            "record_id",
            "case",
            "department",
            "signer",
            "signed_at",
            "device_signed_at",
            "location",
            "image",
            "image_sha256",
            "strokes",
            "content_hash",
            "server_signature",
            "key_id",
            "status",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = ["signed_at", "content_hash", "server_signature", "key_id", "status", "voided_at"]
        extra_kwargs = {"void_reason": {"read_only": True}}

    def to_representation(self, instance: Signature) -> dict:
        data = super().to_representation(instance)
        data["image_sha256"] = instance.image_id
        return data

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None:
            # Signatures are never changed; the service refuses any change (409).
            return attrs
        attrs["target_id"] = attrs.pop("record_id")
        if "image_sha256" in attrs:
            attrs["image_sha256"] = attrs["image_sha256"].lower()
        signer = attrs.pop("signer", None) or {}
        attrs["signer_name"] = signer.get("name") or ""
        attrs["signer_role"] = signer.get("role") or ""
        organization = (signer.get("organization") or "").strip()
        if organization:
            try:
                organization_id = uuid.UUID(organization)
            except ValueError:
                attrs["signer_organization_name"] = organization
            else:
                found = Organization.objects.filter(pk=organization_id).first()
                if found is None:
                    raise serializers.ValidationError({"signer": {"organization": ["No such organisation."]}})
                attrs["signer_organization"] = found
        return attrs
