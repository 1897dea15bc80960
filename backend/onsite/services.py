from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.audit.services import audit_append
from backend.common.errors import Conflict, PermissionDenied, ValidationFailed
from backend.onsite.models import Delegation, OnsiteItem
from backend.onsite.selectors import may_grant_for


def _require_administrator(by: User) -> None:
    if not by.is_administrator:
        raise PermissionDenied("Only administrators change the on-site item catalogue.")


def _require_approval_department(department: Organization) -> None:
    if department.kind != OrganizationKind.APPROVAL_DEPARTMENT:
        raise ValidationFailed(
            "Only an approval department has on-site items and delegations.",
            code="not_approval_department",
            errors={"department": ["Not an approval department."]},
        )


def _item_save(item: OnsiteItem) -> OnsiteItem:
    _require_approval_department(item.department)
    item.name = item.name.strip()
    errors: dict[str, list[str]] = {}
    if not item.name:
        errors["name"] = ["Required."]
    if not (item.accept_on_site or item.decide_on_site):
        errors["decide_on_site"] = ["An item is accepted on site, decided on site, or both."]
    elif OnsiteItem.objects.filter(department=item.department, name=item.name).exclude(pk=item.pk).exists():
        errors["name"] = ["The department already lists an item of this name."]
    if errors:
        raise ValidationFailed("The catalogue entry is not valid.", errors=errors)
    item.save()
    return item


@transaction.atomic
def onsite_item_create(
    *,
    by: User,
    department: Organization,
    name: str,
    accept_on_site: bool = False,
    decide_on_site: bool = False,
    active: bool = True,
) -> OnsiteItem:
    _require_administrator(by)
    return _item_save(
        OnsiteItem(
            department=department,
            name=name,
            accept_on_site=accept_on_site,
            decide_on_site=decide_on_site,
            active=active,
        )
    )


_ITEM_FIELDS = {"department", "name", "accept_on_site", "decide_on_site", "active"}


@transaction.atomic
def onsite_item_update(*, by: User, item: OnsiteItem, **changes: Any) -> OnsiteItem:
    _require_administrator(by)
    unknown = set(changes) - _ITEM_FIELDS
    if unknown:
        raise ValidationFailed("Unknown fields.", errors={f: ["Unknown field."] for f in sorted(unknown)})
    item = OnsiteItem.objects.select_for_update().get(pk=item.pk)
    if "department" in changes and changes["department"].pk != item.department_id and item.delegations.exists():
        raise Conflict("Delegations name this item; it cannot move to another department.", code="in_use")
    for field, value in changes.items():
        setattr(item, field, value)
    return _item_save(item)


@transaction.atomic
def onsite_item_delete(*, by: User, item: OnsiteItem) -> None:
    """Delete an entry no delegation names; otherwise 409 `in_use` (set `active=false` instead)."""
    _require_administrator(by)
    # A delegation's item list is a plain M2M, which would silently lose the item.
    if item.delegations.exists():
        raise Conflict("Delegations name this item; retire it (active=false) instead of deleting.", code="in_use")
    item.delete()


def _snapshot(delegation: Delegation) -> dict[str, Any]:
    return {
        "department": str(delegation.department_id),
        "delegate": str(delegation.delegate_id),
        "items": sorted(str(pk) for pk in delegation.items.values_list("pk", flat=True)),
        "valid_from": delegation.valid_from.isoformat(),
        "valid_to": delegation.valid_to.isoformat(),
        "granted_by": str(delegation.granted_by_id),
        "revoked_at": delegation.revoked_at.isoformat() if delegation.revoked_at else None,
        "revoked_by": str(delegation.revoked_by_id) if delegation.revoked_by_id else None,
        "revoke_reason": delegation.revoke_reason,
    }


@transaction.atomic
def delegation_grant(
    *,
    by: User,
    department: Organization,
    delegate: User,
    items: Iterable[OnsiteItem],
    valid_from: datetime,
    valid_to: datetime,
    device_id: str = "",
) -> Delegation:
    """Grant `delegate` the right to decide `items` for `department` from `valid_from` to `valid_to`."""
    _require_approval_department(department)
    if not may_grant_for(user=by, department=department):
        raise PermissionDenied("Only the department's head or an administrator grants its delegations.")
    items = list(dict.fromkeys(items))
    if Role.VEHICLE_APPROVER not in delegate.roles or not delegate.is_active:
        raise ValidationFailed(
            "The delegate must be an active vehicle approver.",
            code="not_vehicle_approver",
            errors={"delegate": ["Not an active vehicle approver (审批员)."]},
        )
    if not items:
        raise ValidationFailed("List at least one item.", errors={"items": ["Required."]})
    refused = [i.name for i in items if i.department_id != department.pk or not i.decide_on_site or not i.active]
    if refused:
        raise ValidationFailed(
            "Only the department's active items decided on site may be delegated.",
            code="item_not_delegable",
            errors={"items": [f"{name}: not an item this department decides on site." for name in refused]},
        )
    if valid_to <= valid_from:
        raise ValidationFailed(
            "The period ends before it starts.",
            code="invalid_period",
            errors={"valid_to": ["Must be after valid_from."]},
        )
    delegation = Delegation.objects.create(
        department=department, delegate=delegate, valid_from=valid_from, valid_to=valid_to, granted_by=by
    )
    delegation.items.set(items)
    audit_append(
        action="delegation_granted",
        record_type="delegation",
        record_id=delegation.pk,
        actor=by,
        device_id=device_id,
        after=_snapshot(delegation),
    )
    return delegation


@transaction.atomic
def delegation_revoke(*, by: User, delegation: Delegation, reason: str = "", device_id: str = "") -> Delegation:
    delegation = Delegation.objects.select_for_update().select_related("department").get(pk=delegation.pk)
    if not may_grant_for(user=by, department=delegation.department):
        raise PermissionDenied("Only the department's head or an administrator revokes its delegations.")
    if delegation.revoked_at is not None:
        raise Conflict("The delegation is already revoked.", code="already_revoked")
    before = _snapshot(delegation)
    delegation.revoked_at = timezone.now()
    delegation.revoked_by = by
    delegation.revoke_reason = reason.strip()
    delegation.save(update_fields=["revoked_at", "revoked_by", "revoke_reason", "updated_at"])
    audit_append(
        action="delegation_revoked",
        record_type="delegation",
        record_id=delegation.pk,
        actor=by,
        device_id=device_id,
        before=before,
        after=_snapshot(delegation),
        reason=delegation.revoke_reason,
    )
    return delegation
