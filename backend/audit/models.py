from django.db import models


class CurrentTransactionId(models.Func):
    """The writing transaction's id (`pg_current_xact_id()`, an xid8) as a bigint."""

    template = "(pg_current_xact_id()::text::bigint)"
    output_field = models.BigIntegerField()


class AuditChain(models.TextChoices):
    # Entries written before 0005, under the one global lock: one chain over the whole log in id order.
    LOG = "log", "全局链"
    # Since 0005: one chain per record ((record_type, record_id) in id order), appended under that
    # record's own lock, so writers of different records never wait for each other.
    RECORD = "record", "记录链"


class AuditEntry(models.Model):
    """One change to one record. Append-only (database triggers refuse UPDATE/DELETE/TRUNCATE)
    and hash-chained per record: `hash` = SHA-256 over the record's previous entry's hash and this
    entry's canonical JSON. Signed checkpoints (backend.audit.checkpoints) fold every entry, in feed
    order, into a digest the server signs off the request path, so a removed, cut-off or reordered
    entry fails `audit_verify` even where no per-record link shows it.

    The sync feed reads changes from here in *feed order* `(txid, id)`: `txid` is the writing
    transaction's id, stamped by the database. Readers only read entries whose transaction is below
    the oldest transaction still in flight (`audit_feed_horizon()`), so no entry can later commit
    behind a position a reader has passed, without any lock shared by writers.
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
    # Stamped by the database (0 for entries written before feed order existed: they are in id order).
    txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)
    chain = models.CharField(max_length=8, choices=AuditChain.choices, db_default=AuditChain.RECORD)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["record_type", "record_id", "id"]),
            models.Index(fields=["case_id", "id"]),
            models.Index(fields=["txid", "id"], name="audit_entry_feed_idx"),
            models.Index(fields=["case_id", "txid", "id"], name="audit_entry_case_feed_idx"),
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
    # Feed position of the head (with last_entry_id) and the digest folded over every entry up to
    # it in feed order (checkpoint format 2; empty on checkpoints signed before feed order).
    last_txid = models.BigIntegerField(db_default=0)
    digest = models.CharField(max_length=64, blank=True, db_default="")
    key_id = models.CharField(max_length=100)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"checkpoint {self.sequence}: #{self.last_entry_id} ({self.entry_count} entries)"
