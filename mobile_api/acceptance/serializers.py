from django.db.models import Q
from rest_framework import serializers

from backend.acceptance.models import (
    AcceptanceStage,
    CatalogueItem,
    Inspection,
    InspectionItem,
    InspectionResult,
    InspectionStatus,
    RectificationItem,
)
from backend.acceptance.selectors import inspection_items_visible_to
from backend.cases.selectors import cases_visible_to
from backend.sites.selectors import sites_visible_to
from mobile_api.geometry import GeometryInputField
from mobile_api.openapi import InputLimitedChoiceField
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field


class CatalogueItemSerializer(serializers.ModelSerializer):
    department = serializers.UUIDField(source="default_department_id", read_only=True, allow_null=True)
    department_name = serializers.SerializerMethodField()

    class Meta:
        model = CatalogueItem
        fields = ["code", "stage", "name", "department", "department_name", "order"]

    def get_department_name(self, row: CatalogueItem) -> str:
        return row.default_department.name if row.default_department_id else row.default_department_name


class _CreateOnlyFieldsMixin:
    """Fields that only make sense when the record is created; on an update, unchanged values are dropped."""

    create_only: tuple[str, ...] = ()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None:
            return attrs
        for name in self.create_only:
            if name not in attrs:
                continue
            current = getattr(self.instance, name, None)
            if attrs[name] == current:
                attrs.pop(name)
            else:
                raise serializers.ValidationError({name: ["Cannot be changed."]})
        return attrs


class InspectionSerializer(_CreateOnlyFieldsMixin, RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    site = visible_queryset_field(sites_visible_to, required=False, allow_null=True)
    stage = serializers.ChoiceField(choices=AcceptanceStage.choices)
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)
    results_complete = serializers.BooleanField(read_only=True)
    departments = serializers.DictField(
        child=serializers.UUIDField(),
        required=False,
        write_only=True,
        help_text="Catalogue code → department (organisation id) for items whose catalogue department is not wanted.",
    )
    item_codes = serializers.ListField(
        child=serializers.SlugField(),
        required=False,
        write_only=True,
        allow_empty=False,
        help_text="A subset of the stage's catalogue codes (refused for stage 1 of a key project).",
    )

    create_only = ("case", "stage")
    # For sync pull's SQL rendering: `results_complete` (Inspection.results_complete) over the row.
    sql_representation = {
        "results_complete": Q(status__in=[InspectionStatus.RESULTS_COMPLETE, InspectionStatus.SIGNED])
    }

    class Meta:
        model = Inspection
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "site",
            "stage",
            "status",
            "results_complete",
            "scheduled_at",
            "location",
            "remarks",
            "reinspection_of",
            "departments",
            "item_codes",
        ]
        read_only_fields = ["status", "reinspection_of"]

    def validate(self, attrs):
        if self.instance is not None:
            for name in ("departments", "item_codes"):
                if name in attrs:
                    raise serializers.ValidationError({name: ["Only when the inspection is created."]})
        return super().validate(attrs)


# `pending` is where an item starts; a client records one of the others.
RECORDABLE_RESULTS = [c for c in InspectionResult.choices if c[0] != InspectionResult.PENDING]


class InspectionItemSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    result = InputLimitedChoiceField(
        choices=InspectionResult.choices,
        input_choices=RECORDABLE_RESULTS,
        required=False,
    )

    class Meta:
        model = InspectionItem
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "inspection",
            "code",
            "name",
            "department",
            "result",
            "remarks",
            "recorded_at",
            "recorded_by",
            "is_final",
            "reinspection_of",
        ]
        read_only_fields = [
            "case",
            "inspection",
            "code",
            "name",
            "department",
            "recorded_at",
            "recorded_by",
            "is_final",
            "reinspection_of",
        ]


class RecordResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=RECORDABLE_RESULTS)
    remarks = serializers.CharField(required=False, allow_blank=True)


class ReinspectSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="Client id of the re-inspection (exactly-once).")
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)


class RectificationSerializer(_CreateOnlyFieldsMixin, RecordSerializerMixin, serializers.ModelSerializer):
    inspection_item = visible_queryset_field(inspection_items_visible_to)

    create_only = ("inspection_item",)

    class Meta:
        model = RectificationItem
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "inspection_item",
            "description",
            "due_date",
            "status",
            "fixed_at",
            "verified_at",
            "verified_by",
        ]
        read_only_fields = ["case", "status", "fixed_at", "verified_at", "verified_by"]
