"""A push chunk's audit entries and receipts are written as plain rows (rows_insert_plain), and
what is stored is what one audit_append / sync_receipt_create per change stores."""

import uuid

import pytest
from django.db import IntegrityError, transaction

from backend.accounts.tests.factories import UserFactory
from backend.audit.models import AuditChain, AuditEntry
from backend.audit.services import GENESIS_HASH, audit_append, audit_batch_collecting, entry_hash, entry_payload
from backend.common.rows import rows_insert_plain
from backend.surveys.models import Survey
from backend.sync.models import SyncReceipt
from backend.sync.services import sync_receipt_build, sync_receipt_create, sync_receipts_create

pytestmark = pytest.mark.django_db

TRICKY = {
    "text": 'quote " backslash \\ brace { } comma , 界 \n newline',
    "nested": {"b": [1, 2.5, None, True, {"z": "NULL"}], "a": "null"},
    "float": 0.1,
    "big": 12345678901234567890,
    "empty": "",
    "ints_as_keys": {2: "two", 10: "ten"},
}


def _row(model, **filters):
    return model.objects.filter(**filters).values()[0]


def _audit(record_id, user, **extra):
    audit_append(
        action="update",
        record_type="survey",
        record_id=record_id,
        actor=user,
        device_id="tablet-1",
        case_id=uuid.uuid4() if extra.get("case") else None,
        version=3,
        before={"summary": "old", **TRICKY},
        after={"summary": "new", "geometry": {"type": "Point", "coordinates": [120.1, 35.9]}, **TRICKY},
        reason='why, "quoted"',
    )


def test_a_batched_entry_is_stored_as_one_audit_append_stores_it():
    user = UserFactory()
    alone, batched = uuid.uuid4(), uuid.uuid4()
    with transaction.atomic():
        _audit(alone, user)
        with audit_batch_collecting() as batch:
            _audit(batched, user)
            _audit(batched, None)  # second entry of the chain, no actor
            assert batch.flush() == 2

    first, second = AuditEntry.objects.filter(record_id=batched).order_by("id")
    reference = AuditEntry.objects.get(record_id=alone)
    skip = {"id", "record_id", "occurred_at", "hash", "prev_hash", "txid"}
    as_stored = {k: v for k, v in _row(AuditEntry, pk=first.pk).items() if k not in skip}
    assert as_stored == {k: v for k, v in _row(AuditEntry, pk=reference.pk).items() if k not in skip}
    assert first.chain == AuditChain.RECORD and first.txid == reference.txid and first.txid > 0
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    for entry in (first, second, reference):  # the hash is over what was stored
        assert entry.hash == entry_hash(prev_hash=entry.prev_hash, payload=entry_payload(entry))
    assert second.actor_id is None and second.actor_username == ""
    assert first.before["ints_as_keys"] == {"2": "two", "10": "ten"}
    assert first.after["text"] == TRICKY["text"]


def test_a_batch_rolled_back_to_a_mark_stores_only_what_came_before():
    user = UserFactory()
    record_id = uuid.uuid4()
    with transaction.atomic(), audit_batch_collecting() as batch:
        _audit(record_id, user)
        mark = batch.mark()
        _audit(record_id, user)
        batch.rollback_to(mark)
        assert batch.flush() == 1
    assert AuditEntry.objects.filter(record_id=record_id).count() == 1


def _receipt_fields(user, **overrides):
    fields = {
        "user": user,
        "op_id": uuid.uuid4(),
        "device_id": "d" * 120,
        "record_type": "survey",
        "record_id": uuid.uuid4(),
        "action": "upsert",
        "op_digest": "a" * 64,
        "body": {"op_id": "x", "status": "rejected", "version": None, "errors": {"summary": ['Too "long" \\ 界']}},
    }
    return {**fields, **overrides}


def test_a_built_receipt_is_stored_as_sync_receipt_create_stores_it():
    user = UserFactory()
    alone, built = _receipt_fields(user), _receipt_fields(user, record_id=None)
    sync_receipt_create(**alone)
    pending = sync_receipt_build(**built)
    assert pending.op_digest == built["op_digest"] and pending.body == built["body"]
    sync_receipts_create([pending])

    skip = {"id", "op_id", "created_at", "record_id"}
    reference = _row(SyncReceipt, op_id=alone["op_id"])
    stored = _row(SyncReceipt, op_id=built["op_id"])
    assert {k: v for k, v in stored.items() if k not in skip} == {k: v for k, v in reference.items() if k not in skip}
    assert stored["record_id"] is None and stored["device_id"] == "d" * 100
    assert stored["created_at"] is not None


def test_a_receipt_of_an_op_id_stored_meanwhile_collides():
    user = UserFactory()
    fields = _receipt_fields(user)
    sync_receipt_create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        sync_receipts_create([sync_receipt_build(**fields)])
    assert SyncReceipt.objects.filter(op_id=fields["op_id"]).count() == 1


def test_rows_insert_plain_refuses_what_it_does_not_write():
    with pytest.raises(ValueError, match="not a plain column"):
        rows_insert_plain(Survey, ("location",), [(None,)])
    with pytest.raises(ValueError, match="differ in length"):
        rows_insert_plain(SyncReceipt, ("op_id", "status"), [(uuid.uuid4(),)])
    with pytest.raises(TypeError):
        rows_insert_plain(SyncReceipt, ("op_id",), [(object(),)])
