"""A chunk of a push looks its receipts up once, and still answers each operation alone."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from backend.cases.materials import MaterialScan
from backend.sync.models import SyncReceipt
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, vehicle_user_on

pytestmark = pytest.mark.django_db


def _receipt_reads(queries) -> int:
    table = SyncReceipt._meta.db_table
    return sum(1 for q in queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"])


@pytest.fixture
def client_and_item(api_client):
    case, item, _material = case_with_item()
    api_client.force_authenticate(vehicle_user_on(case))
    return api_client, item


@override_settings(SYNC_COMMIT_EVERY=4)
def test_receipts_are_read_once_per_chunk_not_once_per_operation(client_and_item):
    client, item = client_and_item
    ops = [scan_op(item=item) for _ in range(10)]
    push(client, *ops[:3])  # three are already stored: their retry must answer duplicate

    with CaptureQueriesContext(connection) as queries:
        receipts = push(client, *ops).json()["receipts"]

    assert [r["status"] for r in receipts] == ["duplicate"] * 3 + ["applied"] * 7
    assert _receipt_reads(queries.captured_queries) == 3  # ten operations in chunks of four
    assert MaterialScan.objects.filter(pk__in=[op["id"] for op in ops]).count() == 10
    assert SyncReceipt.objects.filter(op_id__in=[op["op_id"] for op in ops]).count() == 10


def test_an_op_id_repeated_in_one_chunk_is_applied_once_then_duplicate(client_and_item):
    client, item = client_and_item
    op = scan_op(item=item)
    other = scan_op(item=item, op_id=op["op_id"])

    receipts = push(client, op, op, other).json()["receipts"]

    assert [r["status"] for r in receipts] == ["applied", "duplicate", "rejected"]
    assert receipts[2]["code"] == "op_id_reuse"
    assert MaterialScan.objects.filter(pk=op["id"]).count() == 1
    assert not MaterialScan.all_objects.filter(pk=other["id"]).exists()
    assert SyncReceipt.objects.filter(op_id=op["op_id"]).count() == 1


def _receipt_inserts(queries) -> int:
    table = SyncReceipt._meta.db_table
    return sum(1 for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"'))


@override_settings(SYNC_COMMIT_EVERY=4)
def test_a_chunks_receipts_are_written_in_one_insert_and_a_bad_operation_still_stands_alone(client_and_item):
    client, item = client_and_item
    ops = [scan_op(item=item) for _ in range(10)]
    ops[5]["data"]["sha256"] = "not a hash"  # rejected; the others of its chunk apply

    with CaptureQueriesContext(connection) as queries:
        receipts = push(client, *ops).json()["receipts"]

    assert [r["status"] for r in receipts] == ["applied"] * 5 + ["rejected"] + ["applied"] * 4
    assert _receipt_inserts(queries.captured_queries) == 3  # ten operations in chunks of four
    assert MaterialScan.objects.filter(pk__in=[op["id"] for op in ops]).count() == 9
    assert SyncReceipt.objects.filter(op_id__in=[op["op_id"] for op in ops]).count() == 10
    # Replayed: every receipt as first sent, the rejected one included.
    again = push(client, *ops).json()["receipts"]
    assert [r["status"] for r in again] == ["duplicate"] * 10
    assert again[5]["original_status"] == "rejected"


@pytest.mark.django_db(transaction=True)
def test_concurrent_pushes_of_one_chunk_store_one_receipt_and_one_record_per_operation(api_client):
    """Four devices' retries of the same chunk at once: the chunks whose receipt INSERT collides
    with the first's are applied again one operation at a time and answer duplicate."""
    import threading

    from django.db import connections
    from rest_framework.test import APIClient

    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    ops = [scan_op(item=item) for _ in range(6)]
    start, results, errors = threading.Barrier(4), [], []

    def retry():
        try:
            client = APIClient()
            client.force_authenticate(user)
            start.wait(10)
            results.append([r["status"] for r in push(client, *ops).json()["receipts"]])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert len(results) == 4
    for index in range(len(ops)):
        assert sorted(statuses[index] for statuses in results) == ["applied", "duplicate", "duplicate", "duplicate"]
    assert SyncReceipt.objects.filter(op_id__in=[op["op_id"] for op in ops]).count() == 6
    assert MaterialScan.objects.filter(pk__in=[op["id"] for op in ops]).count() == 6
    # The losers' rolled-back attempts left no audit entry behind: one create per record, chained.
    from backend.audit.checkpoints import audit_verify
    from backend.audit.models import AuditEntry

    created = AuditEntry.objects.filter(record_id__in=[op["id"] for op in ops], action="create")
    assert created.count() == 6
    assert audit_verify().is_intact
