"""Helpers for sync tests: a vehicle-team user on a case, operations, pushes."""

import hashlib
import uuid
from typing import Any

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.cases.models import Material
from backend.cases.tests.factories import ApprovalItemFactory


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def vehicle_user_on(case, **kwargs):
    user = user_of_kind(OrganizationKind.VEHICLE_TEAM, roles=[Role.VEHICLE_AGENT], **kwargs)
    case.assigned_organizations.add(user.organization)
    return user


def case_with_item():
    item = ApprovalItemFactory()
    material = Material.objects.create(item=item, name="建设工程规划许可申请表")
    return item.case, item, material


def scan_op(
    *, item, record_id=None, base_version=None, data=None, op_id=None, action="upsert", attachments=None
) -> dict[str, Any]:
    body = {
        "case": str(item.case_id),
        "item": str(item.pk),
        "sha256": sha("scan-of-" + str(record_id)),
        "content_type": "application/pdf",
        "filename": "申请表.pdf",
        "note": "",
    }
    if data is not None:
        body = data
    op = {
        "op_id": str(op_id or uuid.uuid4()),
        "type": "material_scan",
        "action": action,
        "id": str(record_id or uuid.uuid4()),
        "base_version": base_version,
        "data": body,
    }
    if attachments is not None:
        op["attachments"] = attachments
    return op


def push(client, *ops, device_id="tablet-1"):
    return client.post("/api/v1/sync/push", {"device_id": device_id, "operations": list(ops)}, format="json")
