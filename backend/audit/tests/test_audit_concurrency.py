"""No lock shared by all writers: what the old global lock bought still holds.

- Writers of different records do not wait for each other, and the feed (read below the horizon,
  in feed order) never passes an entry that commits late.
- Writers of one record follow one another, so its chain stays whole under concurrency.
- Tampering across records (a record's whole history removed, entries of two records swapped,
  a record's entries reordered, the log truncated) fails `audit_verify` against a checkpoint.
"""

import threading
import uuid

import pytest
from django.db import connection, connections, transaction

from backend.audit.checkpoints import audit_checkpoint_create, audit_verify
from backend.audit.models import AuditEntry
from backend.audit.selectors import audit_feed_entries
from backend.audit.services import audit_append


def _feed_after(position: tuple[int, int]) -> list[tuple[int, int, uuid.UUID]]:
    """What a reader gets after `position`: entries below the horizon, in feed order."""
    return list(audit_feed_entries(after=position).values_list("txid", "id", "record_id"))


def _in_thread(target, errors):
    def wrapper():
        try:
            target()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=wrapper)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_two_transactions_committing_out_of_order_are_both_read_and_neither_skipped():
    a, b = uuid.uuid4(), uuid.uuid4()
    wrote, release, errors = threading.Event(), threading.Event(), []

    def first_writer():
        with transaction.atomic():
            audit_append(action="update", record_type="survey", record_id=a, after={"n": 1})
            wrote.set()
            release.wait(30)

    holder = _in_thread(first_writer, errors)
    assert wrote.wait(30)
    # The second writer, of another record, commits at once: it waits for no one.
    finished = threading.Event()

    def second_writer():
        with transaction.atomic():
            audit_append(action="update", record_type="survey", record_id=b, after={"n": 2})
        finished.set()

    writer = _in_thread(second_writer, errors)
    assert finished.wait(10), "the second writer waited for the first"
    writer.join(10)
    assert not AuditEntry.objects.filter(record_id=a).exists()
    assert AuditEntry.objects.filter(record_id=b).exists()

    # B is committed but lies above the horizon of A's open transaction: not read yet.
    during = _feed_after((0, 0))
    assert during == []
    release.set()
    holder.join(30)
    after = _feed_after((0, 0))

    assert errors == []
    first_id = AuditEntry.objects.get(record_id=a).id
    second_id = AuditEntry.objects.get(record_id=b).id
    # A took its id (and transaction) first and committed last: read first, never skipped.
    assert [row[2] for row in after] == [a, b]
    assert first_id < second_id
    assert audit_verify().problems == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_record_keep_its_chain_whole():
    record_id = uuid.uuid4()
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def writer(n):
        def run():
            start.wait(10)
            for i in range(10):
                with transaction.atomic():
                    audit_append(action="update", record_type="survey", record_id=record_id, after={"w": n, "i": i})

        return run

    threads = [_in_thread(writer(n), errors) for n in range(4)]
    for thread in threads:
        thread.join(60)
    assert errors == []
    entries = list(AuditEntry.objects.filter(record_id=record_id).order_by("id"))
    assert len(entries) == 40
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert audit_verify().problems == []


def _without_triggers(*statements):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")


def _three_records():
    """Two entries for each of three records, interleaved, then a checkpoint."""
    ids = [uuid.uuid4() for _ in range(3)]
    with transaction.atomic():
        entries = [
            audit_append(action="update", record_type="survey", record_id=record_id, after={"n": n})
            for n in range(2)
            for record_id in ids
        ]
    audit_checkpoint_create()
    return ids, entries


@pytest.mark.django_db
def test_a_records_whole_history_removed_is_detected():
    ids, entries = _three_records()
    # No link shows it: the other records' chains are whole.
    _without_triggers(("DELETE FROM audit_auditentry WHERE record_id = %s", [ids[1]]))
    codes = [problem.code for problem in audit_verify().problems]
    assert codes == ["checkpoint_digest_mismatch", "entry_count_mismatch"]


@pytest.mark.django_db
def test_entries_of_two_records_swapped_are_detected():
    ids, entries = _three_records()
    first, second = entries[0], entries[1]  # records 0 and 1, each chain still links
    _without_triggers(
        ("UPDATE audit_auditentry SET id = -1 WHERE id = %s", [first.id]),
        ("UPDATE audit_auditentry SET id = %s WHERE id = %s", [first.id, second.id]),
        ("UPDATE audit_auditentry SET id = %s WHERE id = -1", [second.id]),
    )
    problems = audit_verify().problems
    assert [problem.code for problem in problems] == ["checkpoint_digest_mismatch"]


@pytest.mark.django_db
def test_a_records_entries_reordered_are_detected():
    ids, entries = _three_records()
    older, newer = entries[0], entries[3]  # the two entries of record 0
    _without_triggers(
        ("UPDATE audit_auditentry SET id = -1 WHERE id = %s", [older.id]),
        ("UPDATE audit_auditentry SET id = %s WHERE id = %s", [older.id, newer.id]),
        ("UPDATE audit_auditentry SET id = %s WHERE id = -1", [newer.id]),
    )
    codes = [problem.code for problem in audit_verify().problems]
    assert "chain_broken" in codes
    assert "checkpoint_digest_mismatch" in codes or "checkpointed_entry_changed" in codes


@pytest.mark.django_db
def test_a_truncated_log_with_several_records_is_detected():
    _three_records()
    _without_triggers(("TRUNCATE audit_auditentry", None))
    codes = [problem.code for problem in audit_verify().problems]
    assert codes == ["checkpointed_entry_missing", "entry_count_mismatch"]
