"""The push's rules live in the domain: `push_chunk` with a record input that is not REST.

Whatever parses `data` (here: a plain dict of model values, no serializer, no viewset), receipts,
replays, merges and conflicts come out the same.
"""

import uuid

import pytest

from backend.audit.models import AuditEntry
from backend.cases.models import MaterialScan
from backend.common.errors import ValidationFailed
from backend.records.registry import RECORD_TYPES
from backend.sync.models import SyncConflict, SyncReceipt
from backend.sync.push import PushContext, PushOperation, op_digest, push_chunk, tombstone_data
from backend.sync.selectors import material_scans_visible_to
from mobile_api.sync.tests.factories import case_with_item, sha, vehicle_user_on

pytestmark = pytest.mark.django_db


class PlainInput:
    """Reads `data` as model values (ids of the item and case): no REST layer at all."""

    def __init__(self, user, item):
        self.user, self.item = user, item

    def scope(self):
        return material_scans_visible_to(user=self.user)

    def parse_create(self, data, record_id):
        if "sha256" not in data:
            raise ValidationFailed("sha256 is required.", errors={"sha256": ["Required."]})
        return {"case": self.item.case, "item": self.item, "content_type": "application/pdf", **data}

    def parse_changes(self, instance, data):
        return dict(data)

    def check_write(self, action, instance):
        return None

    def render(self, instance):
        return tombstone_data(instance) if instance.deleted_at else {"id": str(instance.pk), "note": instance.note}


def _op(record_id, data, base_version=None, action="upsert", op_id=None):
    raw = {
        "op_id": str(op_id or uuid.uuid4()),
        "type": "material_scan",
        "action": action,
        "id": str(record_id),
        "base_version": base_version,
        "data": data,
    }
    return PushOperation(
        op_id=uuid.UUID(raw["op_id"]),
        type="material_scan",
        action=action,
        id=record_id,
        base_version=base_version,
        data=data,
        digest=op_digest(raw),
    )


@pytest.fixture
def ctx():
    case, item, _material = case_with_item()
    user = vehicle_user_on(case)
    record_input = PlainInput(user, item)
    return PushContext(
        user=user,
        device_id="domain-test",
        record_input=lambda name: (RECORD_TYPES[name], record_input) if name == "material_scan" else None,
    )


def test_create_replay_merge_and_conflict_without_rest(ctx):
    record_id = uuid.uuid4()
    create = _op(record_id, {"sha256": sha("a"), "note": ""})
    bad = _op(uuid.uuid4(), {"note": "no file"})
    first = push_chunk(ops=[create, bad], ctx=ctx)
    assert [b["status"] for b in first] == ["applied", "rejected"]
    assert first[1]["errors"] == {"sha256": ["Required."]}

    again = push_chunk(ops=[create], ctx=ctx)
    assert again[0]["status"] == "duplicate" and again[0]["original_status"] == "applied"

    # The server changes the note (version 2); a device at version 1 changes the filename: merged.
    server = _op(record_id, {"note": "服务器"}, base_version=1)
    device = _op(record_id, {"filename": "申请表.pdf"}, base_version=1)
    clash = _op(record_id, {"note": "设备"}, base_version=1)
    bodies = push_chunk(ops=[server, device, clash], ctx=ctx)

    assert [b["status"] for b in bodies] == ["applied", "merged", "conflict"]
    assert bodies[2]["fields"] == ["note"] and bodies[2]["server"]["note"] == "服务器"
    scan = MaterialScan.objects.get(pk=record_id)
    assert (scan.version, scan.note, scan.filename) == (3, "服务器", "申请表.pdf")
    assert SyncConflict.objects.filter(record_id=record_id, fields=["note"]).count() == 1
    assert SyncReceipt.objects.filter(user=ctx.user).count() == 5
    assert list(AuditEntry.objects.filter(record_id=record_id).order_by("id").values_list("version", flat=True)) == [
        1,
        2,
        3,
    ]


def test_an_operation_without_op_id_or_of_an_unknown_type_is_answered_and_not_stored(ctx):
    unknown = _op(uuid.uuid4(), {})
    unknown.type = "spaceship"
    no_op_id = PushOperation(op_id=None, raw_op_id="x", type="material_scan", action="upsert", id=None)

    bodies = push_chunk(ops=[unknown, no_op_id], ctx=ctx)

    assert [(b["status"], b["code"]) for b in bodies] == [
        ("rejected", "unsupported_type"),
        ("rejected", "invalid_operation"),
    ]
    assert bodies[1]["op_id"] == "x"
    assert not SyncReceipt.objects.exists()
