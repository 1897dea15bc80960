import uuid

import pytest
from django.test import override_settings

from backend.audit.models import AuditEntry
from backend.cases.materials import MaterialScan
from backend.records.services import record_sign_off
from backend.sync.models import SyncConflict, SyncReceipt
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, vehicle_user_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting():
    case, item, material = case_with_item()
    user = vehicle_user_on(case)
    return case, item, material, user


def _client(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def test_create_is_applied_once_and_a_replay_is_a_duplicate(api_client, setting):
    case, item, _material, user = setting
    client = _client(api_client, user)
    op = scan_op(item=item)

    first = push(client, op)
    second = push(client, op)

    assert first.status_code == 200
    receipt = first.json()["receipts"][0]
    assert receipt["status"] == "applied"
    assert receipt["id"] == op["id"]
    assert receipt["version"] == 1
    assert receipt["missing_attachments"] == [op["data"]["sha256"]]
    replay = second.json()["receipts"][0]
    assert replay["status"] == "duplicate"
    assert replay["original_status"] == "applied"
    assert replay["version"] == 1
    assert MaterialScan.objects.filter(pk=op["id"]).count() == 1
    assert SyncReceipt.objects.filter(op_id=op["op_id"]).count() == 1
    assert AuditEntry.objects.filter(record_id=op["id"]).count() == 1


def test_reused_op_id_with_other_content_is_rejected_and_changes_nothing(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    op = scan_op(item=item)
    push(client, op)
    other = scan_op(item=item, op_id=op["op_id"])

    receipt = push(client, other).json()["receipts"][0]

    assert receipt["status"] == "rejected"
    assert receipt["code"] == "op_id_reuse"
    assert not MaterialScan.objects.filter(pk=other["id"]).exists()


def test_one_invalid_operation_does_not_undo_the_others(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    good_1 = scan_op(item=item)
    bad = scan_op(item=item, data={"case": str(item.case_id), "item": str(item.pk), "sha256": "nope"})
    good_2 = scan_op(item=item)

    receipts = push(client, good_1, bad, good_2).json()["receipts"]

    assert [r["status"] for r in receipts] == ["applied", "rejected", "applied"]
    assert [r["op_id"] for r in receipts] == [good_1["op_id"], bad["op_id"], good_2["op_id"]]
    assert receipts[1]["code"] == "validation_error"
    assert set(receipts[1]["errors"]) == {"sha256", "content_type"}
    assert set(MaterialScan.objects.values_list("id", flat=True)) == {uuid.UUID(good_1["id"]), uuid.UUID(good_2["id"])}
    assert not MaterialScan.all_objects.filter(pk=bad["id"]).exists()


def test_changes_to_different_fields_by_two_devices_merge(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    create = scan_op(item=item)
    push(client, create)
    record_id = create["id"]

    a = push(client, scan_op(item=item, record_id=record_id, base_version=1, data={"note": "缺页已补"}), device_id="A")
    b = push(client, scan_op(item=item, record_id=record_id, base_version=1, data={"page_count": 12}), device_id="B")

    assert a.json()["receipts"][0]["status"] == "applied"
    assert a.json()["receipts"][0]["version"] == 2
    receipt = b.json()["receipts"][0]
    assert receipt["status"] == "merged"
    assert receipt["version"] == 3
    scan = MaterialScan.objects.get(pk=record_id)
    assert (scan.note, scan.page_count, scan.version) == ("缺页已补", 12, 3)
    assert scan.field_versions == {"note": 2, "page_count": 3}
    assert not SyncConflict.objects.exists()


def test_the_same_field_changed_on_both_sides_conflicts_and_applies_nothing(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    create = scan_op(item=item)
    push(client, create)
    record_id = create["id"]
    push(client, scan_op(item=item, record_id=record_id, base_version=1, data={"note": "甲"}), device_id="A")
    op_b = scan_op(item=item, record_id=record_id, base_version=1, data={"note": "乙", "page_count": 3})

    receipt = push(client, op_b, device_id="B").json()["receipts"][0]

    assert receipt["status"] == "conflict"
    assert receipt["code"] == "field_conflict"
    assert receipt["fields"] == ["note"]
    assert receipt["version"] == 2
    assert receipt["server"]["note"] == "甲"
    assert receipt["server"]["version"] == 2
    scan = MaterialScan.objects.get(pk=record_id)
    assert (scan.note, scan.page_count, scan.version) == ("甲", None, 2)
    conflict = SyncConflict.objects.get()
    assert (conflict.status, conflict.fields, conflict.base_version, conflict.server_version) == (
        "open",
        ["note"],
        1,
        2,
    )
    assert conflict.client_data == op_b["data"]
    assert conflict.device_id == "B"


def test_the_same_value_on_both_sides_is_not_a_conflict(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    create = scan_op(item=item)
    push(client, create)
    push(client, scan_op(item=item, record_id=create["id"], base_version=1, data={"note": "同"}), device_id="A")

    receipt = push(client, scan_op(item=item, record_id=create["id"], base_version=1, data={"note": "同"})).json()[
        "receipts"
    ][0]

    assert (receipt["status"], receipt["version"]) == ("merged", 2)
    assert not SyncConflict.objects.exists()


def test_a_locked_record_is_never_overwritten(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    create = scan_op(item=item)
    push(client, create)
    record_sign_off(instance=MaterialScan.objects.get(pk=create["id"]), by=None)

    receipt = push(client, scan_op(item=item, record_id=create["id"], base_version=2, data={"note": "改"})).json()[
        "receipts"
    ][0]

    assert receipt["status"] == "rejected"
    assert receipt["code"] == "record_locked"
    assert receipt["server"]["is_locked"] is True
    scan = MaterialScan.objects.get(pk=create["id"])
    assert (scan.note, scan.version) == ("", 2)


def test_delete_leaves_a_tombstone_and_repeats_harmlessly(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    create = scan_op(item=item)
    push(client, create)

    first = push(client, scan_op(item=item, record_id=create["id"], action="delete", base_version=1, data={}))
    again = push(client, scan_op(item=item, record_id=create["id"], action="delete", base_version=1, data={}))

    assert (first.json()["receipts"][0]["status"], first.json()["receipts"][0]["version"]) == ("applied", 2)
    assert (again.json()["receipts"][0]["status"], again.json()["receipts"][0]["version"]) == ("applied", 2)
    assert not MaterialScan.objects.filter(pk=create["id"]).exists()
    assert MaterialScan.all_objects.get(pk=create["id"]).deleted_at is not None
    update = push(client, scan_op(item=item, record_id=create["id"], base_version=2, data={"note": "x"}))
    assert update.json()["receipts"][0]["code"] == "record_deleted"


def test_a_record_the_user_may_not_see_is_rejected_like_one_that_does_not_exist(api_client, setting):
    _case, item, _material, owner = setting
    create = scan_op(item=item)
    push(_client(api_client, owner), create)
    other_case, other_item, _m = case_with_item()
    stranger = vehicle_user_on(other_case)
    client = _client(api_client, stranger)
    hidden = scan_op(item=other_item, record_id=create["id"], base_version=1, data={"note": "窥探"})
    absent = scan_op(item=other_item, record_id=uuid.uuid4(), base_version=1, data={"note": "窥探"})
    delete_hidden = scan_op(item=other_item, record_id=create["id"], action="delete", base_version=1, data={})
    delete_absent = scan_op(item=other_item, record_id=uuid.uuid4(), action="delete", base_version=1, data={})

    receipts = push(client, hidden, absent, delete_hidden, delete_absent).json()["receipts"]

    def strip(receipt):
        return {k: v for k, v in receipt.items() if k not in ("op_id", "id")}

    assert strip(receipts[0]) == strip(receipts[1])
    assert strip(receipts[2]) == strip(receipts[3])
    assert receipts[0]["code"] == "not_found"
    assert "server" not in receipts[0]
    scan = MaterialScan.objects.get(pk=create["id"])
    assert (scan.note, scan.version) == ("", 1)


def test_creating_in_a_case_the_user_may_not_see_is_rejected_as_unknown_case(api_client, setting):
    case, item, _material, _owner = setting
    other_case, _item, _m = case_with_item()
    stranger = vehicle_user_on(other_case)
    client = _client(api_client, stranger)
    op = scan_op(item=item)
    made_up = uuid.uuid4()
    absent = scan_op(item=item, data={**op["data"], "case": str(made_up)})

    receipts = push(client, op, absent).json()["receipts"]

    assert [r["status"] for r in receipts] == ["rejected", "rejected"]
    assert receipts[0]["errors"]["case"] == [
        m.replace(str(made_up), str(case.pk)) for m in receipts[1]["errors"]["case"]
    ]
    assert not MaterialScan.all_objects.exists()


def test_unknown_type_and_malformed_operations_are_rejected(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)
    unknown = {**scan_op(item=item), "type": "spaceship"}
    malformed = {"op_id": "x", "type": "material_scan"}

    receipts = push(client, unknown, malformed, "not an object").json()["receipts"]

    assert [r["status"] for r in receipts] == ["rejected", "rejected", "rejected"]
    assert [r["code"] for r in receipts] == ["unsupported_type", "invalid_operation", "invalid_operation"]
    assert not SyncReceipt.objects.exists()


@override_settings(SYNC_MAX_OPERATIONS=2)
def test_too_many_operations_is_413_and_nothing_applied(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)

    response = push(client, scan_op(item=item), scan_op(item=item), scan_op(item=item))

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "too_many_operations"
    assert not MaterialScan.all_objects.exists()


@override_settings(SYNC_MAX_BODY_BYTES=2000)
def test_a_body_over_the_limit_is_413_and_nothing_applied(api_client, setting):
    _case, item, _material, user = setting
    client = _client(api_client, user)

    response = push(client, scan_op(item=item, data={**scan_op(item=item)["data"], "note": "长" * 2000}))

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not MaterialScan.all_objects.exists()
