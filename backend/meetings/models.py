"""Coordination meetings (协调会 / 联席会议): where the departments settle the problems surveys found.

A meeting, its participants and its decisions are field records (client ids, versions,
tombstones, audit), written only through backend.meetings.services.

One meeting, several cases. A meeting often takes up the problems of several projects at once
(seed 004: 28 problems through 17 meetings). `case` (the record contract's one case) is the case
that convened it; `further_cases` lists the other cases whose findings it takes up. The meeting
is visible to whoever sees any of its cases, is on each of their timelines, and a device that
sees only a further case pulls it too (the services add an audit entry under each further case
for every change, so the change feed, keyed by case, carries it there).

Participants belong to the convening case. A decision belongs to the case of the finding it
settles (else the convening case), so it is on that project's timeline.
"""

from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from backend.accounts.models import Organization
from backend.records.models import FieldRecord, LiveRecordManager


class MeetingKind(models.TextChoices):
    COORDINATION = "coordination", "协调会"
    JOINT = "joint", "联席会议"


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", "已通知"
    HELD = "held", "已召开"
    CLOSED = "closed", "已归档"
    CANCELLED = "cancelled", "已取消"


class MeetingQuerySet(models.QuerySet):
    def of_case(self, case_id) -> "MeetingQuerySet":
        """The meetings a case takes part in, as convening or as further case (its timeline)."""
        return self.filter(Q(case_id=case_id) | Q(further_cases__contains=[case_id]))


class Meeting(FieldRecord):
    further_cases = ArrayField(models.UUIDField(), default=list, blank=True)
    kind = models.CharField(max_length=16, choices=MeetingKind.choices, default=MeetingKind.COORDINATION)
    # 纪要编号, e.g. 西海岸审批协调〔2026〕12号: what findings' `meeting_ref` used to hold as text.
    number = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200)
    scheduled_at = models.DateTimeField()
    held_at = models.DateTimeField(null=True, blank=True)
    place = models.CharField(max_length=200, blank=True)
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    status = models.CharField(max_length=16, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED)
    # 议程
    agenda = models.TextField(blank=True)
    # 会议纪要
    minutes = models.TextField(blank=True)
    # The findings (问题清单) the meeting takes up, of any of its cases; each such finding names
    # the meeting (`Finding.meeting`).
    findings = ArrayField(models.UUIDField(), default=list, blank=True)
    cancel_reason = models.TextField(blank=True)

    all_objects = models.Manager.from_queryset(MeetingQuerySet)()
    objects = LiveRecordManager.from_queryset(MeetingQuerySet)()

    class Meta(FieldRecord.Meta):
        ordering = ["-scheduled_at", "id"]
        indexes = [
            models.Index(fields=["case", "scheduled_at"], name="meeting_case_scheduled"),
            models.Index(fields=["status", "scheduled_at"], name="meeting_status_scheduled"),
            models.Index(fields=["updated_at"], name="meeting_updated"),
            GinIndex(fields=["further_cases"], name="meeting_further_cases"),
            GinIndex(fields=["findings"], name="meeting_findings"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number or self.title} ({self.get_status_display()})"

    @property
    def case_ids(self) -> list:
        return [self.case_id, *(case_id for case_id in self.further_cases if case_id != self.case_id)]


class MeetingParticipant(FieldRecord):
    """A department or a person at a meeting (attended or not). `case` is the meeting's case."""

    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="participants")
    department = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    person_name = models.CharField(max_length=100, blank=True)
    # 职务
    position = models.CharField(max_length=100, blank=True)
    attended = models.BooleanField(default=False)
    remarks = models.TextField(blank=True)

    class Meta(FieldRecord.Meta):
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "updated_at"], name="meeting_participant_case"),
            models.Index(fields=["meeting", "created_at"], name="meeting_participant_meeting"),
        ]

    def __str__(self) -> str:
        return " ".join(part for part in (str(self.department or ""), self.person_name) if part)


class MeetingDecision(FieldRecord):
    """A decision (议定事项) of a held meeting; one that `resolves_finding` resolved its finding.

    `case` is the finding's case when it concerns one (else the meeting's), set by the service.
    """

    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="decisions")
    text = models.TextField()
    responsible_department = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    finding = models.ForeignKey(
        "surveys.Finding", null=True, blank=True, on_delete=models.PROTECT, related_name="meeting_decisions"
    )
    resolves_finding = models.BooleanField(default=False)

    class Meta(FieldRecord.Meta):
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "updated_at"], name="meeting_decision_case"),
            models.Index(fields=["meeting", "created_at"], name="meeting_decision_meeting"),
        ]

    def __str__(self) -> str:
        return self.text[:60]
