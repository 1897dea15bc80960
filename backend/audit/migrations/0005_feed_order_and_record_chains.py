import backend.audit.models
from django.db import migrations, models

# Entries written so far keep txid 0 and chain 'log' (the one chain they were written in, id order
# = commit order under the old global lock); from now on the database stamps the writing
# transaction and each entry chains onto its own record's previous entry. ADD COLUMN with a
# constant default touches no row, so the append-only triggers stay untouched.
ENTRY_COLUMNS = """
ALTER TABLE audit_auditentry ADD COLUMN txid bigint NOT NULL DEFAULT 0;
ALTER TABLE audit_auditentry ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint);
ALTER TABLE audit_auditentry ADD COLUMN chain varchar(8) NOT NULL DEFAULT 'log';
ALTER TABLE audit_auditentry ALTER COLUMN chain SET DEFAULT 'record';
"""
ENTRY_COLUMNS_REVERSE = """
ALTER TABLE audit_auditentry DROP COLUMN chain;
ALTER TABLE audit_auditentry DROP COLUMN txid;
"""

# The feed's horizon: the oldest transaction of this database still in flight (or, with none, the
# next transaction id). Every entry with a lower txid is committed or gone for good, so a reader
# that reads only below it can never pass an entry that commits later. Transactions of other
# databases of the cluster (identified through pg_locks / pg_stat_activity, which every role may
# read for this) do not hold it back; one not identified counts, which is only ever conservative.
# The caller's own transaction is never in its snapshot's in-progress list; with nothing else in
# flight, its own entries are below the horizon too (xmax alone may be its own xid).
HORIZON = """
CREATE OR REPLACE FUNCTION audit_feed_horizon() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    WITH snapshot AS (SELECT pg_current_snapshot() AS s),
    elsewhere AS (
        SELECT l.transactionid::text::bigint AS xid
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'transactionid' AND l.granted
          AND a.datid IS DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database())
    )
    SELECT coalesce(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(snapshot.s) AS x
         WHERE (x::text::bigint % 4294967296) NOT IN (SELECT xid FROM elsewhere)),
        greatest(
            pg_snapshot_xmax(snapshot.s)::text::bigint,
            coalesce(pg_current_xact_id_if_assigned()::text::bigint + 1, 0)
        )
    ) FROM snapshot
$$;
"""
HORIZON_REVERSE = "DROP FUNCTION IF EXISTS audit_feed_horizon();"


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_refuse_truncate_and_checkpoint_changes")]

    operations = [
        migrations.AddField(
            model_name="auditcheckpoint",
            name="digest",
            field=models.CharField(blank=True, db_default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditcheckpoint",
            name="last_txid",
            field=models.BigIntegerField(db_default=0),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ENTRY_COLUMNS, ENTRY_COLUMNS_REVERSE)],
            state_operations=[
                migrations.AddField(
                    model_name="auditentry",
                    name="chain",
                    field=models.CharField(
                        choices=[("log", "全局链"), ("record", "记录链")], db_default="record", max_length=8
                    ),
                ),
                migrations.AddField(
                    model_name="auditentry",
                    name="txid",
                    field=models.BigIntegerField(
                        db_default=backend.audit.models.CurrentTransactionId(), editable=False
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["txid", "id"], name="audit_entry_feed_idx"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["case_id", "txid", "id"], name="audit_entry_case_feed_idx"),
        ),
        migrations.RunSQL(HORIZON, HORIZON_REVERSE),
    ]
