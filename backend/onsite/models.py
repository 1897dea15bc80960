"""What the vehicle may do on site, per department, and who may decide on a department's behalf."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from backend.accounts.models import Organization, OrganizationKind
from backend.common.models import TimeStampedModel


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
