from django.db import models


class AuditEntry(models.Model):
    """One change to one record. Append-only (database triggers refuse UPDATE/DELETE) and
    hash-chained: `hash` = SHA-256 over the previous entry's hash and this entry's canonical JSON.

    Entries are appended under a transaction-scoped advisory lock, so their ids follow commit
    order: the sync feed reads changes from here.
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor_id = models.UUIDField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    device_id = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=32)
    record_type = models.CharField(max_length=64)
    record_id = models.UUIDField()
    case_id = models.UUIDField(null=True, blank=True)
    version = models.PositiveIntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["record_type", "record_id", "id"]),
            models.Index(fields=["case_id", "id"]),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} {self.record_type}:{self.record_id}"
