from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend.accounts.models import Organization
from backend.cases.codes import PROJECT_CODE_EXAMPLE
from backend.cases.deadlines import ItemDeadline, promise_state
from backend.cases.models import (
    ApprovalCase,
    ApprovalItem,
    Blzt,
    InvestmentType,
    ItemMode,
    Material,
    Priority,
    ProjectCategory,
    Stage,
    StartMilestone,
    WarningLevel,
)
from mobile_api.geometry import GeometryInputField

CODE_HELP = (
    "National project code (投资项目统一代码), 24 characters `YYMM-RRRRRR-DD-TT-NNNNNC`: year and month "
    f"(01–12), 6-digit region, department, type, 5-digit serial and a check character; e.g. `{PROJECT_CODE_EXAMPLE}`."
)


class ProjectSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    code = serializers.CharField(max_length=40, help_text=CODE_HELP)
    name = serializers.CharField(max_length=300)
    builder = serializers.PrimaryKeyRelatedField(
        queryset=Organization.objects.all(), help_text="The builder organisation (kind `builder`)."
    )
    builder_name = serializers.CharField(source="builder.name", read_only=True)
    investment_type = serializers.ChoiceField(choices=InvestmentType.choices)
    category = serializers.ChoiceField(choices=ProjectCategory.choices)
    is_simple_low_risk = serializers.BooleanField(default=False)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NONE)
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)
    region_code = serializers.CharField(read_only=True, help_text="The 6-digit region inside the code.")
    start_milestone = serializers.ChoiceField(
        choices=StartMilestone.choices,
        required=False,
        allow_blank=True,
        help_text="Where the total standard time starts: land_contract (土地出让合同签订) or, for projects "
        "without land, project_approval (项目立项); with start_milestone_on.",
    )
    start_milestone_on = serializers.DateField(required=False, allow_null=True)
    standard_days_override = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        help_text="Total standard time to the construction permit; null: 160 / 60 / 210 by the project's type.",
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class DeadlineSummarySerializer(serializers.Serializer):
    as_of = serializers.DateField()
    standard_days = serializers.IntegerField(help_text="Total standard time in calendar days.")
    elapsed_days = serializers.IntegerField(help_text="Calendar days since the case opened.")
    remaining_days = serializers.IntegerField(help_text="standard_days − elapsed_days (negative when over).")
    is_over_standard = serializers.BooleanField()
    item_levels = serializers.DictField(
        child=serializers.IntegerField(), help_text="Number of items per warning level (ok … overdue)."
    )
    next_due_at = serializers.DateTimeField(allow_null=True, help_text="The earliest due_at of an open item.")
    items_with_errors = serializers.IntegerField(
        help_text="Items with a part of their deadline unknown (it needs days past the calendar's horizon)."
    )
    items_level_unknown = serializers.IntegerField(
        help_text="Items whose warning level itself cannot be known yet; item_levels counts every other item."
    )


class CaseSerializer(serializers.ModelSerializer):
    project_code = serializers.CharField(source="project.code", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    standard_days = serializers.SerializerMethodField()
    deadline = serializers.SerializerMethodField()
    assigned_organizations = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=Organization.objects.all(),
        help_text="Crews, teams and companies working the case (officials of the jurisdiction set them).",
    )

    class Meta:
        model = ApprovalCase
        fields = [
            "id",
            "external_no",
            "project",
            "project_code",
            "project_name",
            "stage",
            "is_parallel",
            "status",
            "opened_at",
            "standard_days",
            "standard_days_override",
            "deadline",
            "assigned_organizations",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "external_no",
            "project",
            "stage",
            "is_parallel",
            "status",
            "opened_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.IntegerField())
    def get_standard_days(self, case: ApprovalCase) -> int:
        return self.context["case_deadlines"][case.pk].standard_days

    @extend_schema_field(DeadlineSummarySerializer)
    def get_deadline(self, case: ApprovalCase) -> dict[str, Any]:
        summary = self.context["case_deadlines"][case.pk]
        return DeadlineSummarySerializer({"as_of": self.context["as_of"], **summary.as_dict()}).data


class MaterialSerializer(serializers.ModelSerializer):
    promise_state = serializers.SerializerMethodField(
        help_text="Tolerance acceptance: received, received_late, pending or overdue against promised_by."
    )

    class Meta:
        model = Material
        fields = ["id", "name", "is_required", "is_waivable", "received_at", "promised_by", "promise_state"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_promise_state(self, material: Material) -> str | None:
        received_on = timezone.localdate(material.received_at) if material.received_at else None
        return promise_state(promised_by=material.promised_by, received_on=received_on, as_of=self.context["as_of"])


class DeadlineErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`calendar_horizon`")
    detail = serializers.CharField()
    horizon = serializers.DateField()
    needed = serializers.DateField()
    unknown = serializers.ListField(
        child=serializers.ChoiceField(
            choices=["due_date", "remaining_working_days", "warning_level", "paused_working_days"]
        ),
        help_text="The fields that need days past the horizon (null here); every other field is exact.",
    )


class ItemSerializer(serializers.ModelSerializer):
    department_name = serializers.CharField(source="department.name", read_only=True)
    handler_username = serializers.CharField(
        source="handler.username", read_only=True, allow_null=True, default=None, help_text="承办人"
    )
    handler_name = serializers.CharField(source="handler.full_name", read_only=True, allow_null=True, default=None)
    materials = MaterialSerializer(many=True, read_only=True)
    modes = serializers.ListField(child=serializers.ChoiceField(choices=ItemMode.choices), read_only=True)
    due_at = serializers.SerializerMethodField(help_text="End of the last working day (local time); null if unknown.")
    due_date = serializers.SerializerMethodField()
    warning_level = serializers.SerializerMethodField(
        help_text="ok, warn7, remind5, supervise3 or overdue; null when not started or not computable."
    )
    remaining_working_days = serializers.SerializerMethodField()
    clock = serializers.SerializerMethodField(help_text="not_started, running, paused, stopped or unknown.")
    paused_working_days = serializers.SerializerMethodField()
    first_overdue_on = serializers.SerializerMethodField(help_text="The first day the item was overdue.")
    deadline_error = serializers.SerializerMethodField(
        help_text="What of the deadline is unknown past the calendar's horizon, and why; else null."
    )

    class Meta:
        model = ApprovalItem
        fields = [
            "id",
            "case",
            "external_id",
            "name",
            "department",
            "department_name",
            "handler",
            "handler_username",
            "handler_name",
            "statutory_days",
            "promised_days",
            "accepted_at",
            "status",
            "completed_at",
            "modes",
            "materials",
            "due_at",
            "due_date",
            "warning_level",
            "remaining_working_days",
            "clock",
            "paused_working_days",
            "first_overdue_on",
            "deadline_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _deadline(self, item: ApprovalItem) -> ItemDeadline:
        return self.context["deadlines"][item.pk]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_due_at(self, item: ApprovalItem) -> str | None:
        due_at = self._deadline(item).due_at
        return serializers.DateTimeField().to_representation(due_at) if due_at else None

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_due_date(self, item: ApprovalItem) -> str | None:
        due = self._deadline(item).due_date
        return due.isoformat() if due else None

    @extend_schema_field(serializers.ChoiceField(choices=WarningLevel.choices, allow_null=True))
    def get_warning_level(self, item: ApprovalItem) -> str | None:
        return self._deadline(item).warning_level

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_remaining_working_days(self, item: ApprovalItem) -> int | None:
        return self._deadline(item).remaining_working_days

    @extend_schema_field(serializers.CharField())
    def get_clock(self, item: ApprovalItem) -> str:
        return self._deadline(item).clock

    @extend_schema_field(serializers.IntegerField())
    def get_paused_working_days(self, item: ApprovalItem) -> int:
        return self._deadline(item).paused_working_days

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_first_overdue_on(self, item: ApprovalItem) -> str | None:
        day = item.first_overdue_on or self._deadline(item).first_overdue_on
        return day.isoformat() if day else None

    @extend_schema_field(DeadlineErrorSerializer(allow_null=True))
    def get_deadline_error(self, item: ApprovalItem) -> dict[str, Any] | None:
        return self._deadline(item).error


class ItemStatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Blzt.choices, help_text="The new BLZT status code.")
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened; default now.")


# --- the approval system's upsert ------------------------------------------------------------


class BuilderRefSerializer(serializers.Serializer):
    credit_code = serializers.CharField(max_length=40, help_text="18-character unified social credit code.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ProjectUpsertSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40, help_text=CODE_HELP)
    name = serializers.CharField(max_length=300)
    builder = BuilderRefSerializer(help_text="Matched by credit code; created when unknown.")
    investment_type = serializers.ChoiceField(choices=InvestmentType.choices)
    category = serializers.ChoiceField(choices=ProjectCategory.choices)
    is_simple_low_risk = serializers.BooleanField(default=False)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NONE)
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)
    start_milestone = serializers.ChoiceField(choices=StartMilestone.choices, required=False, allow_blank=True)
    start_milestone_on = serializers.DateField(required=False, allow_null=True)
    standard_days_override = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)


class MaterialUpsertSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    is_required = serializers.BooleanField(default=True)
    is_waivable = serializers.BooleanField(default=False)
    received_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    promised_by = serializers.DateField(required=False, allow_null=True, default=None)


class StatusEventSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Blzt.choices)
    occurred_at = serializers.DateTimeField()


class ItemUpsertSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    name = serializers.CharField(max_length=200)
    department = serializers.UUIDField(required=False, help_text="Approval department id; or department_name.")
    department_name = serializers.CharField(max_length=200, required=False)
    handler = serializers.CharField(
        max_length=150,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="承办人: username of a user of the item's department; null clears it; omitted keeps it.",
    )
    statutory_days = serializers.IntegerField(min_value=0, max_value=3650)
    promised_days = serializers.IntegerField(min_value=0, max_value=3650)
    accepted_at = serializers.DateTimeField(required=False, allow_null=True)
    completed_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Blzt.choices)
    modes = serializers.ListField(child=serializers.ChoiceField(choices=ItemMode.choices), required=False)
    materials = MaterialUpsertSerializer(many=True, required=False)
    status_events = StatusEventSerializer(many=True, required=False, help_text="BLZT history; replays are ignored.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("department") and not attrs.get("department_name"):
            raise serializers.ValidationError({"department": ["Send department (id) or department_name."]})
        return attrs


class CaseUpsertSerializer(serializers.Serializer):
    project = ProjectUpsertSerializer()
    stage = serializers.ChoiceField(choices=Stage.choices)
    is_parallel = serializers.BooleanField(default=False)
    status = serializers.ChoiceField(choices=Blzt.choices)
    opened_at = serializers.DateTimeField()
    standard_days_override = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
    items = ItemUpsertSerializer(many=True, required=False)


# --- the full-chain plan of a project ---------------------------------------------------------


class PlanItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    department = serializers.UUIDField()
    department_name = serializers.CharField()
    status = serializers.IntegerField(help_text="BLZT code.")
    statutory_days = serializers.IntegerField()
    promised_days = serializers.IntegerField()
    standard_start = serializers.DateField(allow_null=True, help_text="Accepted on (the clock starts the day after).")
    standard_end = serializers.DateField(allow_null=True, help_text="Due date by the promised working days.")
    actual_start = serializers.DateField(allow_null=True)
    actual_end = serializers.DateField(allow_null=True, help_text="Completed on (a final status).")
    elapsed_working_days = serializers.IntegerField(allow_null=True)
    remaining_working_days = serializers.IntegerField(allow_null=True)
    warning_level = serializers.ChoiceField(choices=WarningLevel.choices, allow_null=True)
    first_overdue_on = serializers.DateField(allow_null=True)


class PlanCaseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    external_no = serializers.CharField()
    status = serializers.IntegerField()
    opened_at = serializers.DateTimeField()


class PlanStageSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.choices)
    label = serializers.CharField()
    is_counted = serializers.BooleanField(
        help_text="Counted in the total standard time (every stage up to the construction permit)."
    )
    status = serializers.ChoiceField(choices=["not_started", "running", "done"])
    cases = PlanCaseSerializer(many=True)
    standard_start = serializers.DateField(allow_null=True)
    standard_end = serializers.DateField(allow_null=True, help_text="The last due date of its items.")
    actual_start = serializers.DateField(allow_null=True)
    actual_end = serializers.DateField(allow_null=True, help_text="When its last item was done (all done).")
    elapsed_days = serializers.IntegerField(allow_null=True, help_text="In the standard's unit.")
    items = PlanItemSerializer(many=True)


class ProjectPlanSerializer(serializers.Serializer):
    project = serializers.UUIDField()
    code = serializers.CharField()
    name = serializers.CharField()
    as_of = serializers.DateField()
    start_milestone = serializers.ChoiceField(choices=StartMilestone.choices, allow_null=True)
    start_milestone_label = serializers.CharField(allow_null=True)
    start_milestone_on = serializers.DateField(allow_null=True)
    standard_days = serializers.IntegerField(help_text="160 / 60 / 210 by the project's type, or its override.")
    standard_days_unit = serializers.ChoiceField(choices=["calendar", "working"])
    is_standard_days_overridden = serializers.BooleanField()
    standard_end = serializers.DateField(allow_null=True, help_text="Start milestone + standard_days.")
    construction_permit_on = serializers.DateField(allow_null=True)
    status = serializers.ChoiceField(choices=["no_start_milestone", "running", "permit_obtained"])
    elapsed_days = serializers.IntegerField(
        allow_null=True, help_text="From the start milestone to the permit (or as_of)."
    )
    remaining_days = serializers.IntegerField(allow_null=True, help_text="standard_days − elapsed_days.")
    is_over_standard = serializers.BooleanField()
    error = serializers.DictField(allow_null=True, help_text="calendar_horizon (working-day unit past the calendar).")
    stages = PlanStageSerializer(many=True)


# --- tolerance promises across cases -----------------------------------------------------------


class PromiseSerializer(serializers.ModelSerializer):
    """A material promised under tolerance acceptance (容缺受理) and not received yet."""

    promise_state = serializers.SerializerMethodField(help_text="pending or overdue at as_of.")
    days_overdue = serializers.SerializerMethodField(help_text="Calendar days past promised_by (0 if not yet).")
    item = serializers.UUIDField(source="item_id", read_only=True)
    item_name = serializers.CharField(source="item.name", read_only=True)
    item_status = serializers.IntegerField(source="item.status", read_only=True)
    department = serializers.UUIDField(source="item.department_id", read_only=True)
    department_name = serializers.CharField(source="item.department.name", read_only=True)
    handler = serializers.UUIDField(source="item.handler_id", read_only=True, allow_null=True)
    case = serializers.UUIDField(source="item.case_id", read_only=True)
    external_no = serializers.CharField(source="item.case.external_no", read_only=True)

    class Meta:
        model = Material
        fields = [
            "id",
            "name",
            "promised_by",
            "promise_state",
            "days_overdue",
            "item",
            "item_name",
            "item_status",
            "department",
            "department_name",
            "handler",
            "case",
            "external_no",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "overdue"]))
    def get_promise_state(self, material: Material) -> str | None:
        return promise_state(promised_by=material.promised_by, received_on=None, as_of=self.context["as_of"])

    @extend_schema_field(serializers.IntegerField())
    def get_days_overdue(self, material: Material) -> int:
        return max(0, (self.context["as_of"] - material.promised_by).days)
