"""A chunk's audit entries are written in one INSERT at its end, chained as one append per change."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from backend.audit.checkpoints import audit_verify
from backend.audit.models import AuditEntry
from backend.audit.services import GENESIS_HASH, entry_hash, entry_payload
from backend.cases.models import MaterialScan
from backend.common.errors import ValidationFailed
from backend.records.registry import RECORD_CHANGE_LISTENERS
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, vehicle_user_on

pytestmark = pytest.mark.django_db


def _audit_inserts(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith(f'INSERT INTO "{AuditEntry._meta.db_table}"'))


def _chain_ok(record_id) -> list[AuditEntry]:
    entries = list(AuditEntry.objects.filter(record_id=record_id).order_by("id"))
    prev = GENESIS_HASH
    for entry in entries:
        assert entry.prev_hash == prev
        assert entry.hash == entry_hash(prev_hash=prev, payload=entry_payload(entry))
        prev = entry.hash
    return entries


@pytest.fixture
def refuse_after_audit():
    """A rule checked after the change was audited (a record change listener) refuses the
    note "refused": that operation is rolled back to its savepoint after its entry was made."""

    def listener(*, instance, **_kwargs):
        if getattr(instance, "note", "") == "refused":
            raise ValidationFailed("Refused after the audit entry.", code="refused_late")

    RECORD_CHANGE_LISTENERS.append(listener)
    yield
    RECORD_CHANGE_LISTENERS.remove(listener)


@override_settings(SYNC_COMMIT_EVERY=5)
def test_a_chunks_audit_entries_are_one_insert_chained_and_a_rejected_operation_leaves_none(
    api_client, refuse_after_audit
):
    case, item, _material = case_with_item()
    api_client.force_authenticate(vehicle_user_on(case))
    created = scan_op(item=item)
    # The same record twice in one chunk: its second entry chains onto the first, still unstored.
    changed = scan_op(item=item, record_id=created["id"], base_version=1, data={"note": "第二页模糊"})
    bad = scan_op(item=item)
    bad["data"]["note"] = "refused"
    # Applied, then refused by a later check of the same operation: its entries must go too.
    others = [scan_op(item=item) for _ in range(3)]

    with CaptureQueriesContext(connection) as queries:
        receipts = push(api_client, created, changed, bad, *others).json()["receipts"]

    assert [r["status"] for r in receipts] == ["applied", "applied", "rejected", "applied", "applied", "applied"]
    assert receipts[2]["code"] == "refused_late"
    assert _audit_inserts(queries.captured_queries) == 2  # six operations in chunks of five
    entries = _chain_ok(created["id"])
    assert [(e.action, e.version) for e in entries] == [("create", 1), ("update", 2)]
    assert not AuditEntry.objects.filter(record_id=bad["id"]).exists()
    assert not MaterialScan.all_objects.filter(pk=bad["id"]).exists()
    for op in others:
        assert [e.action for e in _chain_ok(op["id"])] == ["create"]
    assert MaterialScan.objects.get(pk=created["id"]).note == "第二页模糊"
    assert audit_verify().is_intact


@override_settings(SYNC_COMMIT_EVERY=5)
def test_a_record_changed_in_two_pushes_chains_across_chunks(api_client):
    case, item, _material = case_with_item()
    api_client.force_authenticate(vehicle_user_on(case))
    created = scan_op(item=item)
    push(api_client, created)
    for version, note in ((1, "一"), (2, "二")):
        op = scan_op(item=item, record_id=created["id"], base_version=version, data={"note": note})
        assert push(api_client, op).json()["receipts"][0]["status"] == "applied"

    assert [e.version for e in _chain_ok(created["id"])] == [1, 2, 3]
