import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from backend.audit.checkpoints import AuditProblem, audit_verify
from backend.audit.models import AuditEntry
from backend.audit.services import GENESIS_HASH, audit_append


def _append(n: int, record_id: uuid.UUID | None = None) -> list[AuditEntry]:
    """`n` changes of one record (its own chain)."""
    record_id = record_id or uuid.uuid4()
    entries = []
    with transaction.atomic():
        for i in range(n):
            entries.append(
                audit_append(action="update", record_type="survey", record_id=record_id, after={"n": i, "x": 0.1})
            )
    return entries


@pytest.mark.django_db
def test_entries_chain_per_record_from_genesis():
    first, second = _append(2)
    (other,) = _append(1)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    # Another record's chain starts afresh: its writer waited for no one.
    assert other.prev_hash == GENESIS_HASH
    assert (first.chain, first.txid > 0) == ("record", True)
    report = audit_verify()
    assert (report.entry_count, report.last_entry_id, report.problems) == (3, other.id, [])


@pytest.mark.django_db
def test_update_and_delete_are_refused_by_the_database():
    (entry,) = _append(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "update"


@pytest.mark.django_db
def test_verify_names_the_first_edited_entry():
    entries = _append(4)
    # A superuser bypassing the trigger is exactly what the chain must catch.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_no_update")
        cursor.execute("UPDATE audit_auditentry SET after = '{\"n\": 99}' WHERE id = %s", [entries[2].id])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_no_update")
    assert audit_verify().problems == [
        AuditProblem("entry_edited", f"entry #{entries[2].id}: content does not match its hash (it was edited)")
    ]
    with pytest.raises(CommandError, match=f"entry_edited: entry #{entries[2].id}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_verify_detects_a_removed_entry():
    entries = _append(3)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_no_update")
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entries[1].id])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_no_update")
    assert audit_verify().problems == [
        AuditProblem(
            "chain_broken",
            f"entry #{entries[2].id}: prev_hash does not match the previous entry's hash "
            "(an entry was removed or reordered)",
        )
    ]


def test_append_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError):
        audit_append(action="create", record_type="survey", record_id=uuid.uuid4())
