from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from backend.accounts.models import Organization
from backend.common.models import TimeStampedModel


class InvestmentType(models.TextChoices):
    PRIVATE = "private", "社会投资"
    FOREIGN = "foreign", "外商投资"
    STATE_OWNED = "state_owned", "国有投资"
    GOVERNMENT = "government", "政府投资"


class ProjectCategory(models.TextChoices):
    SOCIAL_INVESTMENT = "social_investment", "社会投资项目"
    URBAN_CONSTRUCTION = "urban_construction", "城建项目"
    INDUSTRIAL_FOUR_UPGRADES = "industrial_four_upgrades", "工业“四改”项目"


class Priority(models.TextChoices):
    NONE = "none", "一般项目"
    DISTRICT = "district", "区重点项目"
    CITY = "city", "市重点项目"
    PROVINCIAL = "provincial", "省重点项目"


class StartMilestone(models.TextChoices):
    """Where a project's total standard time starts (seed 003: 以完成土地出让合同为起点)."""

    LAND_CONTRACT = "land_contract", "土地出让合同签订"
    # Projects without land of their own (e.g. on existing land, simulated approval): 立项.
    PROJECT_APPROVAL = "project_approval", "项目立项"


class Project(TimeStampedModel):
    code = models.CharField(max_length=24, unique=True)
    name = models.CharField(max_length=300)
    builder = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="projects")
    investment_type = models.CharField(max_length=16, choices=InvestmentType.choices)
    category = models.CharField(max_length=32, choices=ProjectCategory.choices)
    is_simple_low_risk = models.BooleanField(default=False)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NONE)
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    # The 6-digit administrative division inside the code, for jurisdiction scoping.
    region_code = models.CharField(max_length=6, db_index=True, editable=False)
    # The total standard time (160 / 60 / 210 days by type, `standard_days_override` when set) runs
    # from this milestone to the construction permit, across the project's cases.
    start_milestone = models.CharField(
        max_length=20, choices=StartMilestone.choices, blank=True, default="", db_default=""
    )
    start_milestone_on = models.DateField(null=True, blank=True)
    standard_days_override = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(start_milestone="") & models.Q(start_milestone_on__isnull=True))
                | (~models.Q(start_milestone="") & models.Q(start_milestone_on__isnull=False)),
                name="project_start_milestone_with_its_date",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_key_project(self) -> bool:
        return self.priority != Priority.NONE


class Stage(models.TextChoices):
    LAND_USE_PLANNING = "land_use_planning", "立项用地规划许可"
    ENGINEERING_PLANNING = "engineering_planning", "工程建设许可"
    CONSTRUCTION_PERMIT = "construction_permit", "施工许可"
    COMPLETION_ACCEPTANCE = "completion_acceptance", "竣工验收"


class Blzt(models.IntegerChoices):
    """Status codes of the national approval exchange standard (办理状态 BLZT)."""

    RECEIVED = 1, "收件"
    ACCEPTED = 3, "受理"
    NOT_ACCEPTED = 4, "不予受理"
    RETURNED = 5, "退件"
    CORRECTION_START = 6, "补正开始"
    CORRECTION_END = 7, "补正结束"
    DEPARTMENT_ACCEPTED = 8, "部门受理"
    SPECIAL_PROCEDURE_START = 9, "特别程序开始"
    SPECIAL_PROCEDURE_END = 10, "特别程序结束"
    APPROVED = 11, "办结（通过）"
    APPROVED_WITH_TOLERANCE = 12, "容缺通过"
    REFUSED = 13, "办结（不予许可）"
    WITHDRAWN = 14, "撤件"
    REVOKED = 15, "撤销"


TERMINAL_BLZT = frozenset({Blzt.APPROVED, Blzt.APPROVED_WITH_TOLERANCE, Blzt.REFUSED})


class ApprovalCase(TimeStampedModel):
    external_no = models.CharField(max_length=64, unique=True)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="cases")
    stage = models.CharField(max_length=32, choices=Stage.choices)
    is_parallel = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(choices=Blzt.choices, default=Blzt.RECEIVED)
    opened_at = models.DateTimeField()
    # Total standard time in days; null means the default for the project's type.
    standard_days_override = models.PositiveIntegerField(null=True, blank=True)
    assigned_organizations = models.ManyToManyField(Organization, blank=True, related_name="assigned_cases")

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["project", "stage"])]

    def __str__(self) -> str:
        return self.external_no


class ItemMode(models.TextChoices):
    TOLERANCE = "tolerance", "容缺受理"
    COMMITMENT = "commitment", "告知承诺"
    SIMULATED = "simulated", "模拟审批"
    PARALLEL = "parallel", "并联审批"


class WarningLevel(models.TextChoices):
    OK = "ok"
    WARN7 = "warn7"
    REMIND5 = "remind5"
    SUPERVISE3 = "supervise3"
    OVERDUE = "overdue"


class ApprovalItem(TimeStampedModel):
    case = models.ForeignKey(ApprovalCase, on_delete=models.CASCADE, related_name="items")
    name = models.CharField(max_length=200)
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="approval_items")
    # 承办人: the official of the department who handles the item (warned first, seed 002).
    # No index of its own: (handler, due_date) below leads with it, and a second one only gave the
    # planner a worse choice for the worklist's handler + due-date window.
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_items",
        db_index=False,
    )
    statutory_days = models.PositiveIntegerField()
    promised_days = models.PositiveIntegerField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    status = models.PositiveSmallIntegerField(choices=Blzt.choices, default=Blzt.RECEIVED)
    modes = ArrayField(models.CharField(max_length=16, choices=ItemMode.choices), default=list, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The approval system's own id of the item; upserts match items by it (else by name).
    external_id = models.CharField(max_length=64, blank=True, default="")
    # Kept by the deadline service; null when not yet accepted or past the calendar.
    due_date = models.DateField(null=True, blank=True, db_index=True)
    # The first day the item was found overdue (due date + 1); set once, never cleared.
    first_overdue_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["case", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "external_id"],
                condition=~models.Q(external_id=""),
                name="approval_item_unique_external_id_per_case",
            )
        ]
        indexes = [
            models.Index(fields=["department", "due_date"]),
            # Worklists (items/?handler=me&warning_level=…) narrow by due date per handler.
            models.Index(fields=["handler", "due_date"], name="approval_item_handler_due"),
            GinIndex(fields=["modes"], name="approval_item_modes"),
        ]

    def __str__(self) -> str:
        return self.name


class ItemStatusEvent(models.Model):
    """Every BLZT status an item passed through; pauses (6→7, 9→10) are read from here."""

    item = models.ForeignKey(ApprovalItem, on_delete=models.CASCADE, related_name="status_events")
    status = models.PositiveSmallIntegerField(choices=Blzt.choices)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["item", "occurred_at"])]
        constraints = [
            # Replaying the approval system's history must not duplicate it.
            models.UniqueConstraint(fields=["item", "status", "occurred_at"], name="item_status_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {self.status} @ {self.occurred_at}"


class Material(TimeStampedModel):
    item = models.ForeignKey(ApprovalItem, on_delete=models.CASCADE, related_name="materials")
    name = models.CharField(max_length=200)
    is_required = models.BooleanField(default=True)
    is_waivable = models.BooleanField(default=False)
    received_at = models.DateTimeField(null=True, blank=True)
    # Tolerance acceptance: the date the applicant promised to supply a missing material.
    promised_by = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["item", "name"]
        indexes = [
            # The promises worklist and the daily notices read the outstanding promises by date.
            models.Index(
                fields=["promised_by"],
                condition=models.Q(promised_by__isnull=False, received_at__isnull=True),
                name="material_outstanding_promise",
            )
        ]

    def __str__(self) -> str:
        return self.name


class CalendarDay(models.Model):
    """The national working-day calendar, seeded from `chinesecalendar`, overridable by an admin.

    Every day of every `CalendarYear` has a row; days exist for no other year, so the calendar's
    horizon is the last day of the last year loaded.
    """

    class Source(models.TextChoices):
        SEED = "seed", "chinesecalendar"
        OVERRIDE = "override", "管理员调整"
        NOTICE = "notice", "国务院通知"

    date = models.DateField(primary_key=True)
    is_workday = models.BooleanField()
    name = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SEED)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'workday' if self.is_workday else 'rest day'}"


class CalendarYear(models.Model):
    """One year's official arrangement (国务院办公厅关于节假日安排的通知) as loaded.

    `holidays` are `[{"name", "start", "end"}]` (ISO dates, inclusive) and `workdays` the make-up
    weekend days (ISO dates); the year's `CalendarDay` rows are written from them.
    """

    class Origin(models.TextChoices):
        SEED = "seed", "chinesecalendar"
        NOTICE = "notice", "国务院通知"

    year = models.PositiveSmallIntegerField(primary_key=True)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    source = models.CharField(max_length=500)
    holidays = models.JSONField(default=list)
    workdays = models.JSONField(default=list)
    loaded_at = models.DateTimeField()
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


# The scans of materials are field records (backend.cases.materials), re-exported here.
from backend.cases.materials import MaterialScan, ScanContentType  # noqa: E402, F401
