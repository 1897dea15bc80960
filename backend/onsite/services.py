import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.audit.services import audit_append, canonical_json
from backend.cases.materials import MaterialScan
from backend.cases.models import ApprovalCase, ApprovalItem, Material
from backend.common import signing_keys as keys
from backend.common.errors import Conflict, PermissionDenied, ValidationFailed
from backend.common.locks import advisory_transaction_lock
from backend.onsite.models import (
    Certificate,
    DecisionOutcome,
    Delegation,
    IntakeMaterialState,
    OnsiteDecision,
    OnsiteIntake,
    OnsiteItem,
)
from backend.onsite.selectors import delegation_check, may_grant_for
from backend.records.models import FieldRecord
from backend.records.services import record_check_can_write, record_create, record_delete, record_update
from backend.signatures.content import json_value, record_content_hash
from backend.signatures.services import DEVICE_CLOCK_SKEW, document_verify


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


def _item_in_use(item: OnsiteItem) -> bool:
    """Named by a delegation, or by an intake or decision (tombstones too: they keep their rows)."""
    return (
        item.delegations.exists()
        or OnsiteIntake.all_objects.filter(onsite_item=item).exists()
        or OnsiteDecision.all_objects.filter(onsite_item=item).exists()
    )


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
    if "department" in changes and changes["department"].pk != item.department_id and _item_in_use(item):
        raise Conflict(
            "Delegations or on-site records name this item; it cannot move to another department.", code="in_use"
        )
    for field, value in changes.items():
        setattr(item, field, value)
    return _item_save(item)


@transaction.atomic
def onsite_item_delete(*, by: User, item: OnsiteItem) -> None:
    """Delete an entry no delegation names; otherwise 409 `in_use` (set `active=false` instead)."""
    _require_administrator(by)
    # A delegation's item list is a plain M2M, which would silently lose the item.
    if _item_in_use(item):
        raise Conflict(
            "Delegations or on-site records name this item; retire it (active=false) instead of deleting.",
            code="in_use",
        )
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


# --- on-site intake (现场受理) -----------------------------------------------------------------

INTAKE_EDITABLE_FIELDS = frozenset({"note", "applicant", "visit_id"})


def _onsite_entry(*, item: ApprovalItem, accept: bool = False) -> OnsiteItem | None:
    """The catalogue entry of a case item (matched by department and name)."""
    entries = OnsiteItem.objects.filter(department_id=item.department_id, name=item.name.strip(), active=True)
    if accept:
        entries = entries.filter(accept_on_site=True)
    return entries.first()


def _material_of(value: Any, *, item: ApprovalItem) -> Material | None:
    if isinstance(value, Material):
        return value if value.item_id == item.pk else None
    try:
        return Material.objects.filter(pk=uuid.UUID(str(value)), item=item).first()
    except ValueError:
        return None


def _checklist(*, case: ApprovalCase, item: ApprovalItem, materials: Any, received_on: dt.date) -> list[dict[str, Any]]:
    """Validate the checklist against the item's materials; every error is named by its index."""
    if not isinstance(materials, list):
        raise ValidationFailed("materials must be a list.", errors={"materials": ["Expected a list."]})
    errors: dict[str, list[str]] = {}
    rows: list[dict[str, Any]] = []
    seen: set[uuid.UUID] = set()
    for index, entry in enumerate(materials):
        key = f"materials[{index}]"
        if not isinstance(entry, dict):
            errors[key] = ["Expected an object {material, state, scan?, promised_by?}."]
            continue
        material = _material_of(entry.get("material"), item=item)
        state = entry.get("state")
        if material is None:
            errors[f"{key}.material"] = ["Not a material of this item."]
            continue
        if material.pk in seen:
            errors[f"{key}.material"] = ["Listed twice."]
            continue
        seen.add(material.pk)
        row: dict[str, Any] = {"material": str(material.pk), "name": material.name, "state": state}
        if state == IntakeMaterialState.SCANNED:
            scan_id = entry.get("scan")
            scan = None
            if scan_id is not None:
                with contextlib.suppress(ValueError):
                    scan = MaterialScan.objects.filter(
                        pk=uuid.UUID(str(scan_id)), case=case, item=item, material=material
                    ).first()
            if scan is None:
                errors[f"{key}.scan"] = ["Name a scan of this material (material-scans/) made for this case item."]
                continue
            row["scan"] = str(scan.pk)
        elif state == IntakeMaterialState.PROMISED:
            promised_by = entry.get("promised_by")
            if isinstance(promised_by, str):
                with contextlib.suppress(ValueError):
                    promised_by = dt.date.fromisoformat(promised_by)
            if not material.is_waivable:
                errors[f"{key}.state"] = ["This material is not one that may be promised (容缺) for later."]
                continue
            if not isinstance(promised_by, dt.date) or isinstance(promised_by, dt.datetime):
                errors[f"{key}.promised_by"] = ["Required: the date the applicant promises to supply it."]
                continue
            if promised_by < received_on:
                errors[f"{key}.promised_by"] = ["Cannot be before the intake."]
                continue
            row["promised_by"] = promised_by.isoformat()
        else:
            errors[f"{key}.state"] = [f"One of: {', '.join(IntakeMaterialState.values)}."]
            continue
        rows.append(row)
    if errors:
        raise ValidationFailed("The materials checklist is not valid.", code="invalid_checklist", errors=errors)
    missing = (
        Material.objects.filter(item=item, is_required=True, received_at__isnull=True)
        .exclude(pk__in=seen)
        .order_by("name")
        .values_list("name", flat=True)
    )
    missing = list(missing[:50])
    if missing:
        raise ValidationFailed(
            "Required materials are neither scanned nor promised.",
            code="materials_incomplete",
            errors={
                "materials": [f"{name}: required (scan it, or promise it if it may be promised)." for name in missing]
            },
        )
    return rows


def _promises_make(*, intake: OnsiteIntake, by: Any, device_id: str) -> None:
    """Set the tolerance promise (Material.promised_by) of each promised material, audited."""
    for row in intake.materials:
        if row["state"] != IntakeMaterialState.PROMISED:
            continue
        material = Material.objects.select_for_update().get(pk=row["material"])
        promised_by = dt.date.fromisoformat(row["promised_by"])
        if material.received_at is not None or material.promised_by == promised_by:
            continue
        before = {"promised_by": material.promised_by.isoformat() if material.promised_by else None}
        material.promised_by = promised_by
        material.save(update_fields=["promised_by", "updated_at"])
        audit_append(
            action="promise_made",
            record_type="material",
            record_id=material.pk,
            actor=by if getattr(by, "is_authenticated", False) else None,
            device_id=device_id,
            case_id=intake.case_id,
            before=before,
            after={"promised_by": promised_by.isoformat(), "onsite_intake": str(intake.pk)},
        )


def onsite_intake_create(
    *,
    by: User | None,
    case: ApprovalCase,
    item: ApprovalItem,
    materials: Any = (),
    applicant: str = "",
    received_at: datetime | None = None,
    note: str = "",
    visit_id: uuid.UUID | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[OnsiteIntake, bool]:
    """现场受理 of a case item the catalogue lets the vehicle accept, with its materials checklist:
    every required material not yet received is scanned or (if it may be) promised by a date."""
    record_check_can_write(user=by, case=case)
    if item.case_id != case.pk:
        raise ValidationFailed(
            "The item belongs to another case.", code="item_not_in_case", errors={"item": ["Not an item of the case."]}
        )
    entry = _onsite_entry(item=item, accept=True)
    if entry is None:
        raise ValidationFailed(
            "The catalogue does not let this item be accepted on site.",
            code="item_not_accepted_on_site",
            errors={"item": ["Not accepted on site (现场受理) by the catalogue."]},
        )
    now = timezone.now()
    received_at = received_at or now
    if received_at > now + DEVICE_CLOCK_SKEW:
        raise ValidationFailed(
            "received_at is in the future.", code="validation_error", errors={"received_at": ["In the future."]}
        )
    rows = _checklist(
        case=case, item=item, materials=list(materials or []), received_on=timezone.localdate(received_at)
    )
    applicant = (applicant or "").strip() or (case.project.builder.name if case.project.builder_id else "")
    if not applicant:
        raise ValidationFailed("Name the applicant.", errors={"applicant": ["Required."]})

    def after_create(intake: FieldRecord) -> None:
        _promises_make(intake=intake, by=by, device_id=device_id)

    return record_create(
        model=OnsiteIntake,
        fields={
            "case": case,
            "item": item,
            "onsite_item": entry,
            "applicant": applicant,
            "received_at": received_at,
            "materials": rows,
            "note": note,
            "visit_id": visit_id,
        },
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=after_create,
    )


def onsite_intake_update(
    *, instance: OnsiteIntake, changes: dict[str, Any], by: User | None, device_id: str = "", expected_version=None
) -> OnsiteIntake:
    """The note, the applicant's name and the visit may be corrected; the item and the checklist
    are what was accepted (a new intake replaces them)."""
    record_check_can_write(user=by, case=instance.case)
    fixed = sorted(
        name
        for name, value in changes.items()
        if name not in INTAKE_EDITABLE_FIELDS and getattr(instance, name, None) != value
    )
    if fixed:
        raise ValidationFailed(
            "These fields cannot change after the intake.",
            code="read_only_field",
            errors={name: ["Cannot be changed; make a new intake."] for name in fixed},
        )
    if "applicant" in changes and not str(changes["applicant"] or "").strip():
        raise ValidationFailed("Name the applicant.", errors={"applicant": ["Required."]})
    if OnsiteDecision.objects.filter(intake=instance).exists():
        raise Conflict("The intake has been decided; it no longer changes.", code="intake_decided")
    changes = {name: value for name, value in changes.items() if name in INTAKE_EDITABLE_FIELDS}
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


def onsite_intake_delete(
    *, instance: OnsiteIntake, by: User | None, device_id: str = "", expected_version: int | None = None
) -> OnsiteIntake:
    record_check_can_write(user=by, case=instance.case)
    if OnsiteDecision.objects.filter(intake=instance).exists():
        raise Conflict("The intake has been decided; it cannot be withdrawn.", code="intake_decided")
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)


# --- on-site decision (现场审批) and its certificate (证照) ------------------------------------


def _pending_promises(intake: OnsiteIntake) -> list[str]:
    promised = [row["material"] for row in intake.materials if row.get("state") == IntakeMaterialState.PROMISED]
    return list(
        Material.objects.filter(pk__in=promised, received_at__isnull=True)
        .order_by("name")
        .values_list("name", flat=True)
    )


def _decision_recipients(decision: OnsiteDecision) -> list[User]:
    builder_id = decision.case.project.builder_id
    people = User.objects.filter(is_active=True).filter(
        Q(organization_id=builder_id, roles__contains=[Role.BUILDER_REPRESENTATIVE])
        | Q(organization_id=decision.department_id)
    )
    return list(people[:500])


def certificate_payload(certificate: Certificate) -> dict[str, Any]:
    """What the server signs for a certificate: its facts and the decision's content hash."""
    return {
        "v": 1,
        "id": str(certificate.pk),
        "number": certificate.number,
        "decision": str(certificate.decision_id),
        "case": str(certificate.case_id),
        "holder": certificate.holder,
        "item": certificate.item_name,
        "outcome": certificate.outcome,
        "department": str(certificate.department_id),
        "department_name": certificate.department_name,
        "issued_at": json_value(certificate.issued_at),
        "content_hash": certificate.content_hash,
        "key_id": certificate.key_id,
    }


def certificate_number(*, department: Organization, year: int, sequence: int) -> str:
    """证照编号: year, department and the department's running number of the year, e.g.
    `XCSP-2026-913702-0007` (the department's credit code's last six, else its id's first)."""
    code = (department.credit_code or "")[-6:] or str(department.pk).replace("-", "")[:6]
    return f"XCSP-{year}-{code.upper()}-{sequence:04d}"


def _certificate_issue(*, decision: OnsiteDecision) -> Certificate:
    """Numbered under a lock of the department's year, so two approvals of a department never
    draw the same number (the unique constraint is the backstop)."""
    issued_at = decision.decided_at
    year = timezone.localtime(issued_at).year
    advisory_transaction_lock(f"certificate-number:{decision.department_id}:{year}")
    last = Certificate.objects.filter(department_id=decision.department_id, year=year).aggregate(last=Max("sequence"))[
        "last"
    ]
    sequence = (last or 0) + 1
    key = keys.signing_key()
    certificate = Certificate(
        decision=decision,
        case_id=decision.case_id,
        department_id=decision.department_id,
        year=year,
        sequence=sequence,
        number=certificate_number(department=decision.department, year=year, sequence=sequence),
        holder=decision.intake.applicant,
        item_name=decision.onsite_item.name,
        outcome=decision.outcome,
        department_name=decision.department.name,
        issued_at=issued_at,
        content_hash=record_content_hash(record_type="onsite_decision", record=decision),
        key_id=key.key_id,
    )
    certificate.server_signature = keys.base64_signature(key, canonical_json(certificate_payload(certificate)).encode())
    certificate.save(force_insert=True)
    return certificate


def onsite_decision_create(
    *,
    by: User | None,
    case: ApprovalCase,
    intake: OnsiteIntake,
    outcome: str,
    reason: str = "",
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[OnsiteDecision, bool]:
    """现场审批 of an accepted item, by a delegate of its department (a valid delegation for the
    item now: `delegation_check`). Final: stored locked; an approval issues the certificate,
    signed with the server's Ed25519 key over the decision's content hash. The builder's
    representatives and the department are notified."""
    if record_id is not None:
        existing = OnsiteDecision.all_objects.filter(pk=record_id).first()
        if (
            existing is not None
            and digest
            and existing.client_digest == digest
            and by is not None
            and existing.created_by_id == by.pk
        ):
            return existing, False  # the maker's replay: the delegation was checked when it was made
    if by is None or not getattr(by, "is_authenticated", False):
        raise PermissionDenied("Only a delegated vehicle approver decides on site.", code="not_vehicle_approver")
    record_check_can_write(user=by, case=case)
    if intake.case_id != case.pk or intake.deleted_at is not None:
        raise ValidationFailed(
            "The intake belongs to another case.", code="intake_not_in_case", errors={"intake": ["Not of this case."]}
        )
    now = timezone.now()
    item = intake.item
    delegation = delegation_check(user=by, department=item.department, item=intake.onsite_item, at=now)
    if outcome not in DecisionOutcome.values:
        raise ValidationFailed(
            "Unknown outcome.", errors={"outcome": [f"One of: {', '.join(DecisionOutcome.values)}."]}
        )
    reason = (reason or "").strip()
    if outcome == DecisionOutcome.REFUSE and not reason:
        raise ValidationFailed(
            "A refusal states its grounds.", code="reason_required", errors={"reason": ["Required for a refusal."]}
        )
    pending = _pending_promises(intake)
    if outcome == DecisionOutcome.APPROVE and pending:
        raise ValidationFailed(
            "Promised materials are still outstanding: approve with tolerance, or wait for them.",
            code="tolerance_required",
            errors={"outcome": [f"{name}: promised, not yet received." for name in pending]},
        )
    if outcome == DecisionOutcome.APPROVE_WITH_TOLERANCE and not pending:
        raise ValidationFailed(
            "No promised material is outstanding: approve without tolerance.",
            code="no_tolerance_materials",
            errors={"outcome": ["The intake has no outstanding promised material."]},
        )
    if OnsiteDecision.objects.filter(intake=intake).exclude(pk=record_id).exists():
        raise Conflict("The intake has already been decided.", code="already_decided")

    def after_create(decision: FieldRecord) -> None:
        if decision.outcome != DecisionOutcome.REFUSE:
            _certificate_issue(decision=decision)
        _decision_notify(decision=decision)

    try:
        with transaction.atomic():
            return record_create(
                model=OnsiteDecision,
                fields={
                    "case": case,
                    "intake": intake,
                    "item": item,
                    "onsite_item": intake.onsite_item,
                    "department": item.department,
                    "delegation": delegation,
                    "delegate": by,
                    "outcome": outcome,
                    "reason": reason,
                    "decided_at": now,
                    # Final once made: changes are refused like on any signed record.
                    "is_locked": True,
                    "locked_at": now,
                },
                by=by,
                device_id=device_id,
                record_id=record_id,
                digest=digest,
                after_create=after_create,
            )
    except IntegrityError as error:
        if "onsite_decision_one_per_intake" in str(error):
            raise Conflict("The intake has already been decided.", code="already_decided") from error
        raise


def _decision_notify(*, decision: OnsiteDecision) -> None:
    from backend.notifications.models import NotificationKind
    from backend.notifications.services import notifications_send

    certificate = Certificate.objects.filter(decision=decision).first()
    title = f"现场审批{decision.get_outcome_display()}：{decision.onsite_item.name}（{decision.case.external_no}）"
    body = f"{title}。审批部门：{decision.department.name}（授权现场审批）。"
    if certificate is not None:
        body += f"证照编号：{certificate.number}。"
    notifications_send(
        recipients=_decision_recipients(decision),
        kind=NotificationKind.DECISION_MADE,
        subject=f"onsite_decision:{decision.pk}",
        day=timezone.localdate(decision.decided_at),
        title=title,
        body=body,
        data={
            "decision": str(decision.pk),
            "case": str(decision.case_id),
            "item": str(decision.item_id),
            "outcome": decision.outcome,
            "certificate": str(certificate.pk) if certificate else None,
        },
        once=True,
    )


def onsite_decision_reopen(*, instance: OnsiteDecision, by: Any, reason: str = "", device_id: str = "", **_: Any):
    """A decision is final here: the approval system revokes a certificate, not the vehicle."""
    raise Conflict(
        "An on-site decision is final; the approval system revokes it through its own procedure.",
        code="decision_final",
    )


def certificate_verify(*, certificate: Certificate) -> dict[str, Any]:
    """{valid, reason}: the server's signature over the certificate (`bad_signature`,
    `unknown_key`), then the decision as signed (`record_deleted`, `record_changed`, or a
    signature of the decision failing), via the signatures app's document check."""
    stored = Certificate.objects.get(pk=certificate.pk)
    problem = keys.verify(canonical_json(certificate_payload(stored)).encode(), stored.server_signature, stored.key_id)
    if problem is not None:
        return {"valid": False, "reason": problem}
    outcome = document_verify(
        record_type="onsite_decision", record_id=stored.decision_id, content_hash=stored.content_hash
    )
    return {"valid": outcome["valid"], "reason": outcome["reason"]}


# --- tolerance promises close themselves (item 5) -----------------------------------------------


def material_promise_keep(*, scan: Any, by: Any = None, device_id: str = "") -> Material | None:
    """A scan of a promised, not yet received material keeps the promise: the material is
    received now (audited `promise_kept`), so the due notices stop. Called by the one service that
    creates scans (REST and sync push alike)."""
    if scan.material_id is None:
        return None
    material = Material.objects.select_for_update().filter(pk=scan.material_id).first()
    if material is None or material.promised_by is None or material.received_at is not None:
        return None
    material.received_at = timezone.now()
    material.save(update_fields=["received_at", "updated_at"])
    audit_append(
        action="promise_kept",
        record_type="material",
        record_id=material.pk,
        actor=by if getattr(by, "is_authenticated", False) else None,
        device_id=device_id,
        case_id=scan.case_id,
        before={"received_at": None, "promised_by": material.promised_by.isoformat()},
        after={
            "received_at": material.received_at.isoformat(),
            "promised_by": material.promised_by.isoformat(),
            "material_scan": str(scan.pk),
            "kept": material.received_at.date() <= material.promised_by,
        },
    )
    return material
