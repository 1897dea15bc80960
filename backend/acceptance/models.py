"""Joint completion acceptance (竣工联合验收): inspections, their per-department items, rectifications.

An inspection covers one stage of the catalogue; creating it creates one item per catalogue row
of the stage, each addressed to one department. A failed item gets rectification items (整改)
and a re-inspection (复验): a new inspection whose items point at the failed items they re-check.
Every write goes through backend.acceptance.services.
"""

from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.accounts.models import Organization
from backend.records.models import FieldRecord


class AcceptanceStage(models.IntegerChoices):
    STAGE_1 = 1, "第一阶段"
    STAGE_2 = 2, "第二阶段"


class CatalogueItem(models.Model):
    """One acceptance matter of a stage, editable by administrators; seeded by migration 0002."""

    code = models.SlugField(max_length=50, unique=True)
    stage = models.PositiveSmallIntegerField(choices=AcceptanceStage.choices, db_index=True)
    name = models.CharField(max_length=200)
    # The department that inspects this matter unless the inspection request names another:
    # the organisation itself, or else its name (resolved when an inspection is created).
    default_department = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_department_name = models.CharField(max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["stage", "order", "code"]

    def __str__(self) -> str:
        return f"{self.stage}. {self.name}"


class InspectionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "已安排"
    IN_PROGRESS = "in_progress", "验收中"
    RESULTS_COMPLETE = "results_complete", "结果齐全"
    SIGNED = "signed", "已签署"


class Inspection(FieldRecord):
    site = models.ForeignKey("sites.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stage = models.PositiveSmallIntegerField(choices=AcceptanceStage.choices)
    # Kept by the services: never written by clients.
    status = models.CharField(max_length=20, choices=InspectionStatus.choices, default=InspectionStatus.SCHEDULED)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    remarks = models.TextField(blank=True)
    # A re-inspection (复验) points at the inspection whose failed items it re-checks.
    reinspection_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reinspections"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["case", "stage"]),
        ]

    def __str__(self) -> str:
        return f"验收 {self.case_id} 第{self.stage}阶段 ({self.status})"

    @property
    def results_complete(self) -> bool:
        return self.status in (InspectionStatus.RESULTS_COMPLETE, InspectionStatus.SIGNED)


class InspectionResult(models.TextChoices):
    PENDING = "pending", "待验收"
    PASS = "pass", "通过"
    FAIL = "fail", "不通过"
    FILED = "filed", "备案"


class InspectionItem(FieldRecord):
    inspection = models.ForeignKey(Inspection, on_delete=models.PROTECT, related_name="items")
    code = models.SlugField(max_length=50)
    # Copied from the catalogue when created, so renaming a catalogue row never rewrites history.
    name = models.CharField(max_length=200)
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="inspection_items")
    result = models.CharField(max_length=10, choices=InspectionResult.choices, default=InspectionResult.PENDING)
    remarks = models.TextField(blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Final: pass or filed; a fail only once its rectifications are verified and its
    # re-inspection item is final. Kept by the services.
    is_final = models.BooleanField(default=False)
    # On a re-inspection: the failed item this one re-checks.
    reinspection_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reinspections"
    )

    class Meta:
        ordering = ["inspection", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["inspection", "code"],
                condition=models.Q(deleted_at__isnull=True),
                name="inspection_item_unique_code_per_inspection",
            )
        ]
        indexes = [
            models.Index(fields=["department", "inspection"]),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.result}"


class RectificationStatus(models.TextChoices):
    OPEN = "open", "待整改"
    FIXED = "fixed", "已整改"
    VERIFIED = "verified", "已核验"


class RectificationItem(FieldRecord):
    inspection_item = models.ForeignKey(InspectionItem, on_delete=models.PROTECT, related_name="rectifications")
    description = models.TextField()
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=RectificationStatus.choices, default=RectificationStatus.OPEN)
    fixed_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["inspection_item", "status"]),
        ]

    def __str__(self) -> str:
        return f"整改 {self.description[:30]} ({self.status})"
