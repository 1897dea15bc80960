"""A chunk of a push looks its receipts up once, and still answers each operation alone."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from backend.sync.models import MaterialScan, SyncReceipt
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
