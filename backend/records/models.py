"""The field record every record app subclasses: client UUIDs, versions, the sign-off seal
(`is_locked`), tombstones and per-field versions. Abstract: the kernel has no table of its own."""

import uuid

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

# Fields managed by the record machinery, never written by clients.
SYSTEM_FIELDS = frozenset(
    {
        "id",
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "device_id",
        "is_locked",
        "locked_at",
        "deleted_at",
        "field_versions",
        "client_digest",
    }
)


class LiveRecordManager(models.Manager):
    def get_queryset(self) -> QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class FieldRecord(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    case = models.ForeignKey("cases.ApprovalCase", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device_id = models.CharField(max_length=100, blank=True)
    is_locked = models.BooleanField(default=False)
    locked_at = models.DateTimeField(null=True, blank=True)
    # Tombstone: deleted records stay so devices learn of the deletion.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # {field: version at which it last changed}: lets concurrent edits of different fields merge.
    field_versions = models.JSONField(default=dict, blank=True)
    # SHA-256 of the client's create payload: the same id with the same content is a replay.
    client_digest = models.CharField(max_length=64, blank=True)

    all_objects = models.Manager()
    objects = LiveRecordManager()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"
        # Related managers (inspection.items, survey.participants …) must skip tombstones.
        default_manager_name = "objects"
