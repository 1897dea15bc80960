import uuid

from django.conf import settings
from django.db import models


class NotificationKind(models.TextChoices):
    """What a notice is about; each kind is sent once per recipient, subject and day."""

    CALENDAR_HORIZON = "calendar_horizon", "工作日历即将到期"
    # Deadline chain of an approval item (seed 002), one kind per level.
    ITEM_WARN7 = "item_warn7", "事项预警"
    ITEM_REMIND5 = "item_remind5", "事项提醒"
    ITEM_SUPERVISE3 = "item_supervise3", "事项督办"
    ITEM_OVERDUE = "item_overdue", "事项超期"
    PROMISE_DUE = "promise_due", "容缺材料到期"
    FINDING_OVERDUE = "finding_overdue", "问题整改超期"
    UTILITY_UNANSWERED = "utility_unanswered", "报装申请未答复"
    SURVEY_SCHEDULED = "survey_scheduled", "踏勘通知"
    BOOKING_REQUESTED = "booking_requested", "直通车预约申请"
    BOOKING_CONFIRMED = "booking_confirmed", "直通车预约已确认"
    BOOKING_DECLINED = "booking_declined", "直通车预约未能安排"
    VISIT_PLANNED = "visit_planned", "直通车服务计划"
    DECISION_MADE = "decision_made", "现场审批结果"
    MEETING_SCHEDULED = "meeting_scheduled", "协调会通知"
    WEBHOOK_PAUSED = "webhook_paused", "推送订阅已暂停"


class Notification(models.Model):
    """An in-app notice to one user (the signed-in user reads their own)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique constraint and the by-user indexes below start with it (one
    # index fewer to maintain on the daily run's hundred thousand inserts).
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # What the notice is about, e.g. "calendar:2026-12-31" or an item's id: with `kind` and `day`
    # it makes a notice idempotent, so a second run on the same day sends nothing new.
    subject = models.CharField(max_length=200)
    day = models.DateField(help_text="The local day the notice is for.")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # E-mail copy: sent after the notice is committed; a failure is kept here, the notice stays.
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "subject", "day"], name="notification_once_per_subject_and_day"
            )
        ]
        indexes = [
            # The unread badge and list: a user's unread notices, newest first.
            models.Index(
                fields=["recipient", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_by_user",
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id} ({self.day})"


class Supervision(models.Model):
    """督办单: opened when an item reaches supervise3 (or overdue), closed when it is done.

    Records whom the chain told and when, and the department's acknowledgement and response.
    One open supervision per item; a later one may follow if the item is reopened.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey("cases.ApprovalItem", on_delete=models.CASCADE, related_name="supervisions")
    # Denormalised from the item: the case timeline and department lists filter on them.
    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.CASCADE, related_name="supervisions")
    department = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="supervisions")
    opened_on = models.DateField()
    # [{"user": id, "username": …, "level": "supervise3" | "overdue", "day": …, "at": …}], in order.
    notified = models.JSONField(default=list, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    response = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(closed_at__isnull=True), name="supervision_one_open_per_item"
            )
        ]
        indexes = [
            models.Index(fields=["department", "-created_at"], name="supervision_by_department"),
            models.Index(fields=["case", "created_at"], name="supervision_by_case"),
        ]

    def __str__(self) -> str:
        return f"督办 {self.item_id} ({self.opened_on})"

    # The case timeline shows every entry with these (field records have them as columns).
    created_by_id = None

    @property
    def is_locked(self) -> bool:
        return self.closed_at is not None

    @property
    def status(self) -> str:
        if self.closed_at is not None:
            return "closed"
        return "responded" if self.responded_at else "open"
