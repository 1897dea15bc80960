"""Offline sync: what devices pushed (receipts), what clashed (conflicts), and what files a record
still waits for (attachment manifests)."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class ReceiptStatus(models.TextChoices):
    APPLIED = "applied", "已应用"
    MERGED = "merged", "已合并"
    CONFLICT = "conflict", "冲突"
    REJECTED = "rejected", "已拒绝"
    # Only ever sent, never stored: a replay of an op_id that already has a receipt.
    DUPLICATE = "duplicate", "重复"


class SyncReceipt(models.Model):
    """The outcome of one pushed operation, kept so a replayed op_id gets the same answer.

    Written in the same transaction as the change it reports: after a crash an operation is
    either applied with its receipt or not applied at all.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    op_id = models.UUIDField()
    device_id = models.CharField(max_length=100, blank=True)
    record_type = models.CharField(max_length=64)
    record_id = models.UUIDField(null=True, blank=True)
    action = models.CharField(max_length=16)
    # SHA-256 of the operation's content: the same op_id with other content is refused.
    op_digest = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=ReceiptStatus.choices)
    version = models.PositiveIntegerField(null=True, blank=True)
    # The receipt as first sent (without missing_attachments, which is recomputed on replay).
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "op_id"], name="sync_receipt_op_id_unique_per_user")]
        indexes = [models.Index(fields=["record_type", "record_id"], name="sync_receipt_record_idx")]

    def __str__(self) -> str:
        return f"{self.op_id} {self.status}"


class ConflictStatus(models.TextChoices):
    OPEN = "open", "待处理"
    RESOLVED = "resolved", "已处理"


class ConflictResolution(models.TextChoices):
    SERVER = "server", "保留服务器版本"
    CLIENT = "client", "采用设备版本"
    EDIT = "edit", "人工编辑"


class SyncConflict(models.Model):
    """A device changed fields someone else had changed since the device's base version.

    Nothing of the device's operation was applied; the back office decides (keep the server's
    values, take the device's, or edit), and the decision is applied through the record's
    own update service and audited.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case_id = models.UUIDField(null=True, blank=True)
    record_type = models.CharField(max_length=64)
    record_id = models.UUIDField()
    op_id = models.UUIDField()
    device_id = models.CharField(max_length=100, blank=True)
    pushed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    base_version = models.PositiveIntegerField(null=True, blank=True)
    server_version = models.PositiveIntegerField()
    # The fields changed on both sides.
    fields = ArrayField(models.CharField(max_length=100), default=list)
    # The operation's `data` as the device sent it, and the server's record when it clashed.
    client_data = models.JSONField(default=dict)
    server_data = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=ConflictStatus.choices, default=ConflictStatus.OPEN)
    resolution = models.CharField(max_length=16, choices=ConflictResolution.choices, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_version = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case_id", "status", "created_at"], name="sync_conflict_case_idx"),
            models.Index(fields=["status", "created_at"], name="sync_conflict_status_idx"),
            models.Index(fields=["record_type", "record_id"], name="sync_conflict_record_idx"),
        ]

    def __str__(self) -> str:
        return f"conflict {self.record_type}:{self.record_id} {self.fields}"


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", "照片"
    SIGNATURE = "signature", "签名"
    SCAN = "scan", "扫描件"


class SyncAttachment(models.Model):
    """One file a record needs (by SHA-256). The record is complete when all have arrived."""

    id = models.BigAutoField(primary_key=True)
    record_type = models.CharField(max_length=64)
    record_id = models.UUIDField()
    case_id = models.UUIDField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=AttachmentKind.choices)
    is_arrived = models.BooleanField(default=False)
    arrived_at = models.DateTimeField(null=True, blank=True)
    # Set when the file arrived but its bytes were refused (a scan's JPEG whose metadata hides
    # another file: the `image_rejected` reason, or the error code): it stays missing for everyone.
    rejected_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_id", "sha256"], name="sync_attachment_unique_per_record"
            ),
            models.CheckConstraint(
                condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="sync_attachment_sha256_hex"
            ),
        ]
        indexes = [
            models.Index(fields=["sha256"], condition=models.Q(is_arrived=False), name="sync_attachment_waiting_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.record_type}:{self.record_id} needs {self.sha256[:12]}"
