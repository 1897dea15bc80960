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


class AuditCheckpoint(models.Model):
    """A signed statement of the chain's head: "entry #last_entry_id has hash H and is the
    entry_count-th entry". Append-only like the log (database triggers refuse UPDATE, DELETE and
    TRUNCATE).

    The chain alone proves that no entry inside it was changed, but not that the newest entries are
    all still there, nor that it was not rewritten from some entry on with every later hash
    recomputed: the checkpoint's Ed25519 signature (the server's key, which the database does not
    hold) pins the head at the time it was taken. `sequence` numbers checkpoints 1, 2, 3… so a
    removed checkpoint leaves a gap; exported copies (`audit_checkpoints --export`) keep the newest
    ones outside the database.
    """

    id = models.BigAutoField(primary_key=True)
    sequence = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    last_entry_id = models.BigIntegerField()
    last_entry_hash = models.CharField(max_length=64)
    entry_count = models.PositiveBigIntegerField()
    key_id = models.CharField(max_length=100)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"checkpoint {self.sequence}: #{self.last_entry_id} ({self.entry_count} entries)"
