import uuid

from django.conf import settings
from django.db import models


class StorageBackend(models.TextChoices):
    FILESYSTEM = "filesystem", "文件系统"
    S3 = "s3", "S3 兼容对象存储"


class Blob(models.Model):
    """One stored file, kept once under its SHA-256 and never changed afterwards.

    The bytes live in the blob storage under `blobs/ab/cd/<sha256>`; they are private and
    reached only through authenticated views or short-lived presigned URLs.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    # Where the bytes are: settings may move new blobs to S3 while old ones stay on disk.
    storage = models.CharField(max_length=16, choices=StorageBackend.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="blob_sha256_is_hex"),
            models.CheckConstraint(condition=models.Q(size__gte=0), name="blob_size_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256} ({self.size} B)"


class UploadStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "上传中"
    COMPLETE = "complete", "已完成"
    # The bytes did not match the declared sha256; the data was discarded.
    FAILED = "failed", "校验失败"


class Upload(models.Model):
    """A tus resumable upload. All its state is here, so any app server can continue it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    # Decoded Upload-Metadata (key → text value); `raw_metadata` is echoed back on HEAD.
    metadata = models.JSONField(default=dict, blank=True)
    raw_metadata = models.TextField(blank=True)
    filename = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    expected_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.IN_PROGRESS)
    storage = models.CharField(max_length=16, choices=StorageBackend.choices)
    # S3 only: the multipart upload, its finished parts ({part_number, etag, size}) and the
    # pending objects ({key, size}) holding bytes not yet enough for a part (>= 5 MiB).
    s3_multipart_upload_id = models.CharField(max_length=1024, blank=True)
    s3_parts = models.JSONField(default=list, blank=True)
    s3_pending = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField()
    blob = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT, related_name="uploads")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="upload_owner_created_idx"),
            models.Index(fields=["status", "expires_at"], name="upload_status_expires_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(offset__gte=0) & models.Q(offset__lte=models.F("length")),
                name="upload_offset_within_length",
            ),
            models.CheckConstraint(
                condition=models.Q(expected_sha256__regex=r"^[0-9a-f]{64}$"), name="upload_expected_sha256_is_hex"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="complete") | models.Q(blob__isnull=False),
                name="upload_complete_has_blob",
            ),
        ]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.offset}/{self.length})"

    @property
    def sha256(self) -> str | None:
        """The stored file's hash once complete (the Blob's primary key)."""
        return self.blob_id
