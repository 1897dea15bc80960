"""Let the test runner's flush empty the append-only audit tables.

Transactional tests end with `flush`, one TRUNCATE of every table, which the audit tables'
BEFORE TRUNCATE triggers refuse (backend/audit/migrations/0004). The flush disables those two
triggers inside its own transaction and enables them again before it commits, so no test ever
runs without them and production has no way around them but ALTER TABLE.
"""

from django.db.backends.postgresql.operations import DatabaseOperations

TRUNCATE_TRIGGERS = {
    "audit_auditentry": "audit_entry_no_truncate",
    "audit_auditcheckpoint": "audit_checkpoint_no_truncate",
}

_sql_flush = DatabaseOperations.sql_flush


def _sql_flush_past_audit_triggers(self, style, tables, **options):
    statements = _sql_flush(self, style, tables, **options)
    guarded = [(table, trigger) for table, trigger in TRUNCATE_TRIGGERS.items() if table in tables]
    if not statements or not guarded:
        return statements
    return (
        [f"ALTER TABLE {table} DISABLE TRIGGER {trigger};" for table, trigger in guarded]
        + statements
        + [f"ALTER TABLE {table} ENABLE TRIGGER {trigger};" for table, trigger in guarded]
    )


def pytest_configure(config):
    DatabaseOperations.sql_flush = _sql_flush_past_audit_triggers
