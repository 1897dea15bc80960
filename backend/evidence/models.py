import uuid

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.records.models import FieldRecord


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


class LocationSource(models.TextChoices):
    EXIF = "exif", "照片 EXIF"
    DEVICE = "device", "设备定位"
    NONE = "none", "无位置"


class PhotoProcessing(models.TextChoices):
    # The thumbnail and preview are made in the background after the photo is stored.
    PENDING = "pending", "处理中"
    READY = "ready", "已完成"
    FAILED = "failed", "处理失败"


class Photo(FieldRecord):
    """A photo attached to a field record (`record_type`, `record_id`), geotagged and checked
    against the site's red line. The original bytes are a Blob (content-addressed, private);
    the thumbnail and preview are JPEG blobs without EXIF, made in the background.

    Written only through backend.evidence.photos, which validates the image before anything
    is stored. Identity: a photo created with a client id is that id (the device finds it
    there, even when the same bytes are already on the record under another id); without one,
    the same bytes attached twice to one record are one photo.
    """

    record_type = models.CharField(max_length=40)
    record_id = models.UUIDField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="photos")
    # Detected from the bytes, never taken from the client.
    content_type = models.CharField(max_length=100)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True)
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    location_source = models.CharField(max_length=8, choices=LocationSource.choices, default=LocationSource.NONE)
    # Degrees clockwise from north, [0, 360).
    heading = models.FloatField(null=True, blank=True)
    # Null when there is no location or no red line to compare with.
    within_site = models.BooleanField(null=True, blank=True)
    distance_to_site_m = models.FloatField(null=True, blank=True)
    thumbnail = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    preview = models.ForeignKey(Blob, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    processing_status = models.CharField(
        max_length=16, choices=PhotoProcessing.choices, default=PhotoProcessing.PENDING
    )
    processing_error = models.CharField(max_length=500, blank=True)
    # Whether the client named the photo's id; rows without one are identified by their bytes.
    has_client_id = models.BooleanField(default=False)
    # Why the photo's EXIF location or heading was not used ([{code, detail}], empty when it was).
    location_warnings = models.JSONField(default=list, blank=True)

    class Meta(FieldRecord.Meta):
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["record_type", "record_id"], name="photo_record_idx"),
            models.Index(fields=["processing_status"], name="photo_processing_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["record_type", "record_id", "blob"],
                condition=models.Q(deleted_at__isnull=True, has_client_id=False),
                name="photo_once_per_record_without_client_id",
            ),
            models.CheckConstraint(condition=models.Q(width__gt=0, height__gt=0), name="photo_has_size"),
            models.CheckConstraint(
                condition=models.Q(heading__isnull=True) | models.Q(heading__gte=0, heading__lt=360),
                name="photo_heading_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(distance_to_site_m__isnull=True) | models.Q(distance_to_site_m__gte=0),
                name="photo_distance_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(location_source="none", location__isnull=True)
                | models.Q(location_source__in=["exif", "device"], location__isnull=False),
                name="photo_location_matches_source",
            ),
        ]

    def __str__(self) -> str:
        return f"photo {self.blob_id[:12]} of {self.record_type} {self.record_id}"

    @property
    def sha256(self) -> str:
        return self.blob_id
