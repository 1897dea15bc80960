"""Joint site surveys (联合踏勘): the survey, its participating departments and the problems found.

All three are field records (client ids, versions, tombstones, audit). They are written only
through backend.surveys.services, which REST, sync push and the admin share.
"""

from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.accounts.models import Organization
from backend.records.models import FieldRecord
from backend.sites.models import Site


class SurveyStatus(models.TextChoices):
    SCHEDULED = "scheduled", "已通知"
    IN_PROGRESS = "in_progress", "踏勘中"
    SUBMITTED = "submitted", "已提交"
    SIGNED = "signed", "已签署"
    CLOSED = "closed", "已归档"
    CANCELLED = "cancelled", "已取消"


class SurveyConclusion(models.TextChoices):
    AGREE = "agree", "同意"
    AGREE_WITH_CONDITIONS = "agree_with_conditions", "有条件同意"
    DISAGREE = "disagree", "不同意"


class Survey(FieldRecord):
    """One joint site survey of a case: notice → participants confirm → on site → opinions → minutes.

    `site` is optional: a survey may be scheduled before the red line is drawn (the survey often
    is what fixes it); when given it must belong to the case's project.
    """

    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="surveys")
    scheduled_at = models.DateTimeField()
    # The actual time on site; set by the start and submit transitions unless the device sent them.
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=SurveyStatus.choices, default=SurveyStatus.SCHEDULED)
    # 项目概况
    summary = models.TextField(blank=True)
    # Blank until submitted; submitting requires it.
    conclusion = models.CharField(max_length=32, choices=SurveyConclusion.choices, blank=True)
    # The conditions of an "agree with conditions" conclusion; required for that conclusion.
    conditions = models.TextField(blank=True)
    # 会议纪要
    minutes = models.TextField(blank=True)
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    class Meta(FieldRecord.Meta):
        ordering = ["-scheduled_at", "id"]
        indexes = [
            models.Index(fields=["case", "scheduled_at"], name="survey_case_scheduled"),
            models.Index(fields=["status", "scheduled_at"], name="survey_status_scheduled"),
            models.Index(fields=["updated_at"], name="survey_updated"),
        ]

    def __str__(self) -> str:
        return f"联合踏勘 {self.scheduled_at:%Y-%m-%d} ({self.get_status_display()})"


class ParticipantConfirmation(models.TextChoices):
    """The department's answer to the survey notice (踏勘通知), given before the survey."""

    PENDING = "pending", "待确认"
    CONFIRMED = "confirmed", "确认参加"
    DECLINED = "declined", "不参加"


class SurveyParticipant(FieldRecord):
    """A department invited to a survey. `case` is the survey's case, set by the service.

    Complete when it attended and gave an opinion, or was waived (`is_waived` or a
    `waived_reason`) with a non-blank reason; only `must_attend` participants are required.

    Notice → confirm: while the survey is scheduled the department is told (`notified_at`) and
    answers (`confirmation`, `confirmed_at`, `decline_reason`); a new time asks it again.
    """

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="participants")
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    person_name = models.CharField(max_length=100, blank=True)
    must_attend = models.BooleanField(default=True)
    attended = models.BooleanField(default=False)
    arrived_at = models.DateTimeField(null=True, blank=True)
    # 踏勘意见
    opinion = models.TextField(blank=True)
    opinion_at = models.DateTimeField(null=True, blank=True)
    is_waived = models.BooleanField(default=False)
    waived_reason = models.TextField(blank=True)
    # When the department was last told of the survey's (current) time; null: not told.
    notified_at = models.DateTimeField(null=True, blank=True)
    confirmation = models.CharField(
        max_length=16, choices=ParticipantConfirmation.choices, default=ParticipantConfirmation.PENDING
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)

    class Meta(FieldRecord.Meta):
        ordering = ["created_at", "id"]
        constraints = [
            # One (live) row per department and survey: completeness is judged per department.
            models.UniqueConstraint(
                fields=["survey", "department"],
                condition=models.Q(deleted_at__isnull=True),
                name="survey_participant_one_per_department",
            )
        ]
        indexes = [models.Index(fields=["case", "updated_at"], name="survey_participant_case")]

    def __str__(self) -> str:
        return f"{self.department} @ {self.survey_id}"

    @property
    def waiver_requested(self) -> bool:
        return self.is_waived or bool(self.waived_reason.strip())


class FindingStatus(models.TextChoices):
    OPEN = "open", "待整改"
    RESOLVED = "resolved", "已解决"


class Finding(FieldRecord):
    """A problem found (问题清单) on a case, usually during a survey, for a department to follow up.

    `resolved` may go back to `open` (the fix did not hold); both moves are audited transitions.
    """

    survey = models.ForeignKey(Survey, null=True, blank=True, on_delete=models.PROTECT, related_name="findings")
    description = models.TextField()
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    responsible_department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    # Reference of the coordination meeting (协调会) that handles the problem, e.g. its minutes number.
    meeting_ref = models.CharField(max_length=200, blank=True)
    # The (latest) coordination meeting that took the problem up; set by the meetings services.
    meeting = models.ForeignKey(
        "meetings.Meeting", null=True, blank=True, on_delete=models.PROTECT, related_name="escalated_findings"
    )

    class Meta(FieldRecord.Meta):
        ordering = ["status", "due_date", "created_at", "id"]
        indexes = [
            models.Index(fields=["case", "status", "due_date"], name="finding_case_status"),
            models.Index(fields=["responsible_department", "status", "due_date"], name="finding_department_status"),
        ]

    def __str__(self) -> str:
        return self.description[:60]
