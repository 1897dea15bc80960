"""The approval-service vehicle (直通车): vehicles, their visits to sites, and their GPS tracks."""

from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from backend.accounts.models import Organization
from backend.common.models import TimeStampedModel
from backend.common.records import FieldRecord


class Vehicle(TimeStampedModel):
    plate = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100, blank=True)
    # The vehicle team (直通车专班) that drives it; only its members post the track.
    team = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="vehicles")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["plate"]

    def __str__(self) -> str:
        return f"{self.plate} {self.name}".strip()


class BookingChannel(models.TextChoices):
    WECHAT = "wechat", "微信预约"
    PHONE = "phone", "电话预约"
    ON_SITE = "on_site", "现场预约"


class VisitPurpose(models.TextChoices):
    INTAKE = "intake", "现场受理"
    SURVEY = "survey", "踏勘"
    ACCEPTANCE = "acceptance", "验收"
    APPROVAL = "approval", "现场审批出证"


class VisitStatus(models.TextChoices):
    BOOKED = "booked", "已预约"
    EN_ROUTE = "en_route", "出发"
    ON_SITE = "on_site", "到达现场"
    COMPLETED = "completed", "已完成"
    CANCELLED = "cancelled", "已取消"


class Visit(FieldRecord):
    site = models.ForeignKey("sites.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="visits")
    scheduled_for = models.DateTimeField()
    booked_via = models.CharField(max_length=10, choices=BookingChannel.choices)
    purpose = ArrayField(models.CharField(max_length=16, choices=VisitPurpose.choices))
    status = models.CharField(max_length=10, choices=VisitStatus.choices, default=VisitStatus.BOOKED)
    # {"lead": "<user id or name>", "agents": [...], "approvers": [...]}: 班长, 代办员, 审批员.
    team = models.JSONField(default=dict, blank=True)
    remarks = models.TextField(blank=True)
    departed_at = models.DateTimeField(null=True, blank=True)
    # Arrival on site and completion bound the records "made during the visit".
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-scheduled_for"]
        indexes = [
            models.Index(fields=["vehicle", "scheduled_for"]),
            models.Index(fields=["status", "scheduled_for"]),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} → {self.case_id} @ {self.scheduled_for:%Y-%m-%d %H:%M}"


class VehiclePosition(models.Model):
    """One GPS fix of a vehicle. Re-sent batches are absorbed by the (vehicle, recorded_at) key."""

    id = models.BigAutoField(primary_key=True)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="+", db_index=False)
    recorded_at = models.DateTimeField()
    location = gis_models.PointField(srid=4326)
    speed = models.FloatField(null=True, blank=True, help_text="m/s")
    heading = models.FloatField(null=True, blank=True, help_text="degrees clockwise from north")
    accuracy = models.FloatField(null=True, blank=True, help_text="metres")
    # A database default, so the bulk INSERT of a track batch fills it too.
    received_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["vehicle", "recorded_at"]
        constraints = [
            # Its index also serves the track queries (vehicle, time range, ordered by time).
            models.UniqueConstraint(fields=["vehicle", "recorded_at"], name="vehicle_position_unique_time"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} @ {self.recorded_at.isoformat()}"
