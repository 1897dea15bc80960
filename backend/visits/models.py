"""The approval-service vehicle (直通车): vehicles, their visits to sites, and their GPS tracks;
builders' booking requests and key projects' monthly service plans."""

from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.contrib.postgres.fields.ranges import RangeBoundary
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Now

from backend.accounts.models import Organization
from backend.common.models import TimeStampedModel
from backend.records.models import FieldRecord


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


# The exclusion constraint that keeps one vehicle from being booked twice for overlapping times.
VISIT_NO_OVERLAP = "visit_vehicle_no_overlap"
# Minutes a visit may book its vehicle for; the maximum also bounds overlap queries from below.
VISIT_DEFAULT_DURATION = 120
VISIT_MIN_DURATION, VISIT_MAX_DURATION = 15, 720


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Visit(FieldRecord):
    site = models.ForeignKey("sites.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="visits")
    scheduled_for = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=120)
    # scheduled_for + duration_minutes, kept by the services: the booked range is
    # [scheduled_for, scheduled_until), which the exclusion constraint compares.
    scheduled_until = models.DateTimeField()
    # The monthly service plan that generated this visit, if any.
    plan = models.ForeignKey(
        "visits.ServicePlan", null=True, blank=True, on_delete=models.SET_NULL, related_name="visits"
    )
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
        constraints = [
            models.CheckConstraint(condition=Q(scheduled_until__gt=F("scheduled_for")), name="visit_ends_after_start"),
            # Races cannot double-book: PostgreSQL refuses the second overlapping row of a vehicle
            # (btree_gist for the vehicle's equality). Cancelled visits and tombstones free the time.
            ExclusionConstraint(
                name=VISIT_NO_OVERLAP,
                expressions=[
                    (F("vehicle"), RangeOperators.EQUAL),
                    (TsTzRange("scheduled_for", "scheduled_until", RangeBoundary()), RangeOperators.OVERLAPS),
                ],
                condition=Q(deleted_at__isnull=True) & ~Q(status="cancelled"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} → {self.case_id} @ {self.scheduled_for:%Y-%m-%d %H:%M}"


class BookingRequestStatus(models.TextChoices):
    PENDING = "pending", "待安排"
    CONFIRMED = "confirmed", "已确认"
    DECLINED = "declined", "未能安排"


class BookingRequest(FieldRecord):
    """A builder's request for the vehicle (预约申请), filed by the builder or by the service's
    staff on its behalf (phone, WeChat); staff confirm it (booking a visit) or decline it."""

    site = models.ForeignKey("sites.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    purpose = ArrayField(models.CharField(max_length=16, choices=VisitPurpose.choices))
    # [{"start": iso, "end": iso}, …]: when the builder would like the vehicle, most preferred first.
    preferred_windows = models.JSONField(default=list)
    channel = models.CharField(max_length=10, choices=BookingChannel.choices)
    contact = models.CharField(max_length=100, blank=True, help_text="联系人及电话")
    remarks = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=BookingRequestStatus.choices, default=BookingRequestStatus.PENDING)
    visit = models.OneToOneField(Visit, null=True, blank=True, on_delete=models.PROTECT, related_name="booking_request")
    decided_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_status_display()} @ {self.created_at:%Y-%m-%d}"


class ServicePlan(TimeStampedModel):
    """A key project's monthly service plan (服务计划): a rule that books recurring visits.

    `rule`: {"kind": "weekly", "weekdays": [1..7], "time": "HH:MM"} or
    {"kind": "nth_weekday", "n": 1..5 or -1 (last), "weekday": 1..7, "time": "HH:MM"}.
    """

    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("sites.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="plans")
    month = models.DateField(help_text="The first day of the planned month.")
    rule = models.JSONField()
    duration_minutes = models.PositiveSmallIntegerField(default=120)
    purpose = ArrayField(models.CharField(max_length=16, choices=VisitPurpose.choices))
    remarks = models.TextField(blank=True)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # [{"scheduled_for", "status": booked | clash | not_workday | invalid, "visit"?, "clashing_visit"?, "detail"?}]
    occurrences = models.JSONField(default=list)

    class Meta:
        ordering = ["-month", "-created_at"]
        indexes = [models.Index(fields=["case", "month"]), models.Index(fields=["vehicle", "month"])]

    def __str__(self) -> str:
        return f"{self.case_id} {self.month:%Y-%m}"


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
