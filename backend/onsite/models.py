"""What the vehicle may do on site, per department, and who may decide on a department's behalf."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from backend.accounts.models import Organization, OrganizationKind
from backend.cases.models import ApprovalItem
from backend.common.models import TimeStampedModel
from backend.records.models import FieldRecord


class OnsiteItem(TimeStampedModel):
    """One entry of the catalogue: an approval item of a department and what may happen on site."""

    department = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="onsite_items",
        limit_choices_to={"kind": OrganizationKind.APPROVAL_DEPARTMENT},
    )
    # Matched against ApprovalItem.name of the department's items.
    name = models.CharField(max_length=200)
    # 现场受理
    accept_on_site = models.BooleanField(default=False)
    # 现场审批 (decided by a delegate of the department)
    decide_on_site = models.BooleanField(default=False)
    # Retired entries stay for the delegations and records that name them.
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["department__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["department", "name"], name="onsite_item_unique_name_per_department"),
            models.CheckConstraint(
                condition=Q(accept_on_site=True) | Q(decide_on_site=True),
                name="onsite_item_accepted_or_decided_on_site",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} · {self.name}"


class DepartmentHead(models.Model):
    """Who heads a department, i.e. may grant and revoke its delegations."""

    department = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="heads",
        limit_choices_to={"kind": OrganizationKind.APPROVAL_DEPARTMENT},
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="headed_departments")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["department", "user"], name="department_head_unique")]

    def __str__(self) -> str:
        return f"{self.department}: {self.user}"


class Delegation(TimeStampedModel):
    """授权: a department lets a vehicle approver decide listed items on its behalf for a period."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="delegations")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations")
    items = models.ManyToManyField(OnsiteItem, related_name="delegations")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_granted"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="delegations_revoked"
    )
    revoke_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(valid_to__gt=models.F("valid_from")), name="delegation_period_valid"),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_by__isnull=False),
                name="delegation_revoked_by_someone",
            ),
        ]
        indexes = [models.Index(fields=["delegate", "department"])]

    def __str__(self) -> str:
        return f"{self.department} → {self.delegate}"


# --- on-site intake and decision (field records) ---------------------------------------------


class IntakeMaterialState(models.TextChoices):
    # Scanned in the vehicle (a material_scan of the case item names it).
    SCANNED = "scanned", "已扫描"
    # 容缺受理: missing today, the applicant promises it by a date (Material.promised_by).
    PROMISED = "promised", "容缺承诺"


class OnsiteIntake(FieldRecord):
    """现场受理: the vehicle accepts an application for a case item, with its materials checklist.

    `materials` is the checklist as accepted: `[{material, name, state, scan?, promised_by?}]`
    (ids as strings, dates ISO). A promised material's date is also set on the case's
    `Material.promised_by`, the tolerance promise the deadline notices already follow.
    """

    item = models.ForeignKey(ApprovalItem, on_delete=models.PROTECT, related_name="+")
    onsite_item = models.ForeignKey(OnsiteItem, on_delete=models.PROTECT, related_name="intakes")
    # 申请人: who applies, and holds the certificate if the item is approved.
    applicant = models.CharField(max_length=200)
    received_at = models.DateTimeField()
    materials = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    # The vehicle visit during which it was accepted (a visits record id).
    visit_id = models.UUIDField(null=True, blank=True)

    class Meta(FieldRecord.Meta):
        ordering = ["-received_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="onsite_intake_case_idx"),
            models.Index(fields=["item"], name="onsite_intake_item_idx"),
        ]

    def __str__(self) -> str:
        return f"现场受理 {self.onsite_item.name if self.onsite_item_id else ''}"


class DecisionOutcome(models.TextChoices):
    APPROVE = "approve", "准予许可"
    APPROVE_WITH_TOLERANCE = "approve_with_tolerance", "容缺许可"
    REFUSE = "refuse", "不予许可"


class OnsiteDecision(FieldRecord):
    """现场审批: a delegate decides an accepted item on the department's behalf. Final once made
    (stored locked); an approval issues a certificate. The approval system takes it over through
    the outbound events and closes the item by its own status update."""

    intake = models.ForeignKey(OnsiteIntake, on_delete=models.PROTECT, related_name="decisions")
    item = models.ForeignKey(ApprovalItem, on_delete=models.PROTECT, related_name="+")
    onsite_item = models.ForeignKey(OnsiteItem, on_delete=models.PROTECT, related_name="decisions")
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    delegation = models.ForeignKey(Delegation, on_delete=models.PROTECT, related_name="decisions")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=32, choices=DecisionOutcome.choices)
    # 审批意见 (required for a refusal: the grounds).
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField()

    class Meta(FieldRecord.Meta):
        ordering = ["-decided_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="onsite_decision_case_idx"),
            models.Index(fields=["department", "decided_at"], name="onsite_decision_dept_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["intake"], condition=Q(deleted_at__isnull=True), name="onsite_decision_one_per_intake"
            ),
        ]

    def __str__(self) -> str:
        return f"现场审批 {self.get_outcome_display()}"


class Certificate(models.Model):
    """证照: what an on-site approval issues. Written once by the decision service; the server's
    Ed25519 signature covers the certificate's facts and the decision's content hash."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    decision = models.OneToOneField(OnsiteDecision, on_delete=models.PROTECT, related_name="certificate")
    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    number = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=200)
    item_name = models.CharField(max_length=200)
    outcome = models.CharField(max_length=32, choices=DecisionOutcome.choices)
    department_name = models.CharField(max_length=200)
    issued_at = models.DateTimeField()
    # SHA-256 of the decision's signed content (backend.signatures.content).
    content_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=100)
    server_signature = models.CharField(max_length=100)

    class Meta:
        ordering = ["-issued_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["department", "year", "sequence"], name="certificate_sequence_unique"),
            models.CheckConstraint(condition=~Q(outcome="refuse"), name="certificate_not_for_refusal"),
        ]
        indexes = [models.Index(fields=["case", "issued_at"], name="certificate_case_idx")]

    def __str__(self) -> str:
        return self.number
