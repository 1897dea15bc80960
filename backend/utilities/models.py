"""Utility connection (水电气暖信 联合报装): joint applications, per-utility requests, access points.

One joint application per site fans out into one request per utility type, each addressed to
one company; the company answers it. Access points (接入点) are where the site will connect.
Written only through backend.utilities.services.
"""

from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.accounts.models import Organization, UtilityType
from backend.records.models import FieldRecord
from backend.sites.models import Site


class UtilityApplication(FieldRecord):
    """The joint application (联合报装申请) of a site; its requests carry the per-type demand."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="utility_applications")
    applicant_name = models.CharField(max_length=200, blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "created_at"]), models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return f"联合报装 {self.site_id} ({self.created_at:%Y-%m-%d})"


class UtilityRequestStatus(models.TextChoices):
    SUBMITTED = "submitted", "已提交"
    ACCEPTED = "accepted", "已受理"
    NEED_INFO = "need_info", "需补充资料"
    REJECTED = "rejected", "不予受理"
    CONNECTED = "connected", "已接入"


class UtilityRequest(FieldRecord):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="utility_requests")
    application = models.ForeignKey(
        UtilityApplication, null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    utility_type = models.CharField(max_length=16, choices=UtilityType.choices)
    # Chosen by the service when the request is made; never changed afterwards.
    company = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="utility_requests")
    # Validated per type by backend.utilities.demand.validate_demand.
    demand = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=UtilityRequestStatus.choices, default=UtilityRequestStatus.SUBMITTED
    )
    applicant_name = models.CharField(max_length=200, blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    # The company's answer.
    plan = models.TextField(blank=True)
    planned_connection_date = models.DateField(null=True, blank=True)
    response_note = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["company", "status"]),
            models.Index(fields=["case", "utility_type"]),
            models.Index(fields=["updated_at"]),
        ]
        constraints = [
            # One open request per site and utility: a rejected or deleted one may be made again.
            models.UniqueConstraint(
                fields=["site", "utility_type"],
                condition=models.Q(deleted_at__isnull=True) & ~models.Q(status="rejected"),
                name="utility_request_one_open_per_site_and_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_utility_type_display()} {self.get_status_display()} ({self.pk})"


class UtilityPointStatus(models.TextChoices):
    PROPOSED = "proposed", "拟接入"
    SURVEYED = "surveyed", "已踏勘"
    AGREED = "agreed", "已确认"
    CONNECTED = "connected", "已接入"


class UtilityPoint(FieldRecord):
    utility_type = models.CharField(max_length=16, choices=UtilityType.choices)
    company = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="utility_points")
    request = models.ForeignKey(UtilityRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="points")
    name = models.CharField(max_length=200, blank=True)
    # WGS84; a GiST index on the geometry, and a functional GiST index on location::geography
    # (migration 0002) for distances in metres.
    location = gis_models.PointField(srid=4326)
    status = models.CharField(max_length=16, choices=UtilityPointStatus.choices, default=UtilityPointStatus.PROPOSED)
    # Validated per type by backend.utilities.demand.validate_attributes.
    attributes = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["company", "utility_type"]),
            models.Index(fields=["case", "utility_type"]),
            models.Index(fields=["updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_utility_type_display()} {self.name or self.pk} ({self.get_status_display()})"
