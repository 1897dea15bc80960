"""Writes of joint acceptance records. REST, sync push, the admin and the demo call these.

Rules in one place:
- an inspection of a stage gets exactly the active catalogue rows of that stage as items, each
  addressed to one department of the case's region (from the request, else the catalogue row
  when its department serves that region; otherwise 400 `missing_department`); key projects inspect
  all of stage 1 together; every addressed department is assigned to the case;
- only the item's department (or an administrator) records its result; a fail needs
  rectifications and a re-inspection before it is final;
- the inspection's status follows its items: scheduled → in_progress → results_complete, and
  `inspection_mark_signed` (called by the evidence app once every department has signed) locks
  the inspection, its items and its rectifications.
"""

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from backend.acceptance.models import (
    AcceptanceStage,
    CatalogueItem,
    Inspection,
    InspectionItem,
    InspectionResult,
    InspectionStatus,
    RectificationItem,
    RectificationStatus,
)
from backend.accounts.models import Organization, OrganizationKind, User
from backend.cases.models import ApprovalCase
from backend.cases.selectors import cases_visible_to
from backend.cases.services import case_organizations_add
from backend.common.errors import Conflict, NotFound, PermissionDenied, RecordLocked, ValidationFailed
from backend.records.services import (
    record_check_case_site,
    record_create,
    record_delete,
    record_reopen,
    record_select_for_update,
    record_sign_off,
    record_transition,
    record_update,
)

FINAL_RESULTS = frozenset({InspectionResult.PASS, InspectionResult.FILED})
RECORDABLE_RESULTS = frozenset({InspectionResult.PASS, InspectionResult.FAIL, InspectionResult.FILED})

INSPECTION_WRITABLE_FIELDS = frozenset({"site", "scheduled_at", "location", "remarks"})
INSPECTION_ITEM_WRITABLE_FIELDS = frozenset({"result", "remarks"})
RECTIFICATION_WRITABLE_FIELDS = frozenset({"description", "due_date"})

RECTIFICATION_TRANSITIONS: dict[str, set[str]] = {
    RectificationStatus.OPEN: {RectificationStatus.FIXED},
    # Verification may reject the fix: back to open.
    RectificationStatus.FIXED: {RectificationStatus.VERIFIED, RectificationStatus.OPEN},
    RectificationStatus.VERIFIED: set(),
}


def _live(qs: QuerySet) -> QuerySet:
    """Related managers of field records include tombstones; most rules count live rows only."""
    return qs.filter(deleted_at__isnull=True)


# --- permissions -------------------------------------------------------------------------


def _is_system(user: User | None) -> bool:
    return user is None


def _require_case_visible(*, user: User | None, case: ApprovalCase) -> None:
    if _is_system(user):
        return
    if not cases_visible_to(user=user).filter(pk=case.pk).exists():
        raise NotFound("No such approval case.")


def inspection_can_manage(*, user: User | None) -> bool:
    """Approval officials and acceptance teams schedule inspections and re-inspections."""
    if _is_system(user):
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_administrator:
        return True
    return user.organization_kind in (OrganizationKind.APPROVAL_DEPARTMENT, OrganizationKind.ACCEPTANCE_TEAM)


def _require_manager(user: User | None) -> None:
    if not inspection_can_manage(user=user):
        raise PermissionDenied("Only approval officials and acceptance teams schedule inspections.")


def _is_item_department(*, user: User | None, item: InspectionItem) -> bool:
    if _is_system(user):
        return True
    return user.is_administrator or (user.organization_id is not None and user.organization_id == item.department_id)


def _require_item_department(*, user: User | None, item: InspectionItem) -> None:
    if not _is_item_department(user=user, item=item):
        raise PermissionDenied("Only the item's department records its result and rectifications.")


def _check_writable(changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    refused = sorted(set(changes) - allowed)
    if refused:
        raise ValidationFailed(
            f"These fields cannot be written: {', '.join(refused)}.",
            code="read_only_field",
            errors={name: ["Read-only."] for name in refused},
        )


# --- departments -------------------------------------------------------------------------


def _organization(value: Any, *, key: str) -> Organization:
    if isinstance(value, Organization):
        organization = value
    else:
        try:
            organization = Organization.objects.filter(pk=uuid.UUID(str(value))).first()
        except ValueError:
            organization = None
        if organization is None:
            raise ValidationFailed(
                f"No organisation {value!r:.60}.", code="unknown_department", errors={key: ["No such organisation."]}
            )
    if organization.kind != OrganizationKind.APPROVAL_DEPARTMENT:
        raise ValidationFailed(
            f"{organization.name} is not an approval department.",
            code="invalid_department",
            errors={key: ["An acceptance item's department must be an approval department."]},
        )
    return organization


def _serves_region(organization: Organization, region_code: str) -> bool:
    # A department's region is a division code or a prefix of one (a whole city, a province).
    return bool(organization.region) and region_code.startswith(organization.region)


def _resolve_departments(
    *, case: ApprovalCase, rows: Sequence[CatalogueItem], departments: Mapping[str, Any] | None
) -> dict[str, Organization]:
    """code → department of the case's region: the request's mapping, else the catalogue's
    organisation or its name when that department serves the region.

    The catalogue names one department per matter (seeded with Qingdao West Coast's); a case
    elsewhere names its own in `departments`, never inherits another region's.
    """
    region_code = case.project.region_code
    departments = dict(departments or {})
    codes = {row.code for row in rows}
    unknown = sorted(set(departments) - codes)
    if unknown:
        raise ValidationFailed(
            f"Not items of this inspection: {', '.join(unknown)}.",
            code="unknown_item_code",
            errors={f"departments.{code}": ["Not an item of this inspection."] for code in unknown},
        )
    resolved: dict[str, Organization] = {}
    elsewhere: dict[str, str] = {}
    missing: dict[str, str] = {}
    for row in rows:
        if row.code in departments:
            organization = _organization(departments[row.code], key=f"departments.{row.code}")
            if not _serves_region(organization, region_code):
                elsewhere[row.code] = organization.name
            resolved[row.code] = organization
            continue
        default = row.default_department
        if default is None and row.default_department_name:
            default = Organization.objects.filter(
                name=row.default_department_name, kind=OrganizationKind.APPROVAL_DEPARTMENT
            ).first()
        if default is None:
            missing[row.code] = "No department known for this item."
        elif not _serves_region(default, region_code):
            missing[row.code] = (
                f"The catalogue's {default.name} does not serve region {region_code}; name one that does."
            )
        else:
            resolved[row.code] = default
    if elsewhere:
        raise ValidationFailed(
            f"Not departments of region {region_code}: {', '.join(sorted(set(elsewhere.values())))}.",
            code="department_outside_region",
            errors={
                f"departments.{code}": [f"{name} does not serve region {region_code}."]
                for code, name in elsewhere.items()
            },
        )
    if missing:
        raise ValidationFailed(
            f"No department of region {region_code} for: {', '.join(missing)}; name one in `departments`.",
            code="missing_department",
            errors={f"departments.{code}": [message] for code, message in missing.items()},
        )
    return resolved


def _assign_to_case(*, case: ApprovalCase, organizations: Sequence[Organization]) -> None:
    case_organizations_add(case=case, organizations=organizations)


# --- status and finality -------------------------------------------------------------------


def _item_is_final(item: InspectionItem) -> bool:
    if item.result in FINAL_RESULTS:
        return True
    if item.result != InspectionResult.FAIL:
        return False
    statuses = list(_live(item.rectifications).values_list("status", flat=True))
    if not statuses or any(status != RectificationStatus.VERIFIED for status in statuses):
        return False
    return _live(item.reinspections).filter(is_final=True).exists()


def inspection_computed_status(*, inspection: Inspection) -> str:
    """What the items say: results_complete when every item is final, in_progress once one has a result."""
    items = list(_live(inspection.items).values_list("result", "is_final"))
    if items and all(is_final for _result, is_final in items):
        return InspectionStatus.RESULTS_COMPLETE
    if any(result != InspectionResult.PENDING for result, _final in items):
        return InspectionStatus.IN_PROGRESS
    return InspectionStatus.SCHEDULED


def _inspection_refresh_status(*, inspection: Inspection, by: User | None, device_id: str) -> Inspection:
    current = record_select_for_update(inspection)
    if current.is_locked or current.deleted_at is not None:
        return current
    status = inspection_computed_status(inspection=current)
    if status == current.status:
        return current
    return record_update(
        instance=current, changes={"status": status}, by=by, device_id=device_id, action=f"status:{status}"
    )


def _item_refresh_final(*, item: InspectionItem, by: User | None, device_id: str) -> InspectionItem:
    """Recompute `is_final`, then the inspection's status and, up the re-inspection chain, the failed item's.

    A change that would alter a signed (locked) inspection's item raises RecordLocked: the
    signed record depends on it, so it must be reopened first.
    """
    current = record_select_for_update(item)
    is_final = _item_is_final(current)
    if is_final != current.is_final:
        current = record_update(
            instance=current, changes={"is_final": is_final}, by=by, device_id=device_id, action="final"
        )
    _inspection_refresh_status(inspection=current.inspection, by=by, device_id=device_id)
    if current.reinspection_of_id is not None:
        _item_refresh_final(item=current.reinspection_of, by=by, device_id=device_id)
    return current


# --- inspections ---------------------------------------------------------------------------


def _stage_rows(stage: int) -> list[CatalogueItem]:
    if stage not in AcceptanceStage.values:
        raise ValidationFailed(f"Unknown stage {stage!r}.", code="invalid_stage", errors={"stage": ["1 or 2."]})
    return list(CatalogueItem.objects.filter(stage=stage, is_active=True).select_related("default_department"))


def _select_rows(
    *, case: ApprovalCase, stage: int, rows: list[CatalogueItem], item_codes: Sequence[str] | None
) -> list[CatalogueItem]:
    if item_codes is None:
        selected = rows
    else:
        codes = list(dict.fromkeys(item_codes))
        known = {row.code for row in rows}
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise ValidationFailed(
                f"Not catalogue items of stage {stage}: {', '.join(unknown)}.",
                code="unknown_item_code",
                errors={"item_codes": [f"{code} is not an item of stage {stage}." for code in unknown]},
            )
        selected = [row for row in rows if row.code in set(codes)]
    if not selected:
        raise ValidationFailed(
            f"Stage {stage} has no items to inspect.", code="no_items", errors={"item_codes": ["No items."]}
        )
    if (
        stage == AcceptanceStage.STAGE_1
        and case.project.is_key_project
        and {row.code for row in selected} != {row.code for row in rows}
    ):
        raise ValidationFailed(
            "A key project must apply for all of stage 1 together.",
            code="key_project_requires_full_stage",
            errors={"item_codes": ["Key projects inspect every stage 1 item together."]},
        )
    return selected


def _refuse_already_inspected(*, case: ApprovalCase, codes: set[str]) -> None:
    taken = sorted(
        set(
            InspectionItem.objects.filter(
                case=case,
                code__in=codes,
                inspection__reinspection_of__isnull=True,
                inspection__deleted_at__isnull=True,
            ).values_list("code", flat=True)
        )
    )
    if taken:
        raise Conflict(
            f"The case already has an inspection of: {', '.join(taken)}.",
            code="item_already_inspected",
            extra={"item_codes": taken},
        )


def _replay_if_known(model: type, record_id: uuid.UUID | None) -> bool:
    return record_id is not None and model.all_objects.filter(pk=record_id).exists()


@transaction.atomic
def inspection_create(
    *,
    by: User | None,
    case: ApprovalCase,
    stage: int,
    site: Any = None,
    scheduled_at: datetime | None = None,
    location: Point | None = None,
    remarks: str = "",
    departments: Mapping[str, Any] | None = None,
    item_codes: Sequence[str] | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Inspection, bool]:
    """Schedule an inspection of a stage with one item per (selected) catalogue row."""
    fields = {
        "case": case,
        "site": site,
        "stage": stage,
        "scheduled_at": scheduled_at,
        "location": location,
        "remarks": remarks or "",
        "status": InspectionStatus.SCHEDULED,
    }
    if _replay_if_known(Inspection, record_id):
        return record_create(model=Inspection, fields=fields, by=by, record_id=record_id, digest=digest)
    _require_case_visible(user=by, case=case)
    _require_manager(by)
    record_check_case_site(case=case, site=site)
    rows = _select_rows(case=case, stage=stage, rows=_stage_rows(stage), item_codes=item_codes)
    resolved = _resolve_departments(case=case, rows=rows, departments=departments)
    _refuse_already_inspected(case=case, codes={row.code for row in rows})

    def create_items(inspection: Inspection) -> None:
        for row in rows:
            record_create(
                model=InspectionItem,
                fields={
                    "case": case,
                    "inspection": inspection,
                    "code": row.code,
                    "name": row.name,
                    "department": resolved[row.code],
                },
                by=by,
                device_id=device_id,
            )
        _assign_to_case(case=case, organizations=list(resolved.values()))

    return record_create(
        model=Inspection,
        fields=fields,
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=create_items,
    )


@transaction.atomic
def inspection_update(
    *,
    instance: Inspection,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Inspection:
    _check_writable(changes, INSPECTION_WRITABLE_FIELDS)
    _require_manager(by)
    if "site" in changes:
        record_check_case_site(case=instance.case, site=changes["site"])
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


@transaction.atomic
def inspection_reinspect(
    *,
    inspection: Inspection,
    by: User | None,
    scheduled_at: datetime | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Inspection, bool]:
    """A re-inspection (复验) of the failed items whose rectifications are all fixed or verified."""
    fields = {
        "case_id": inspection.case_id,
        "site_id": inspection.site_id,
        "stage": inspection.stage,
        "scheduled_at": scheduled_at,
        "reinspection_of": inspection,
        "status": InspectionStatus.SCHEDULED,
    }
    if _replay_if_known(Inspection, record_id):
        return record_create(model=Inspection, fields=fields, by=by, record_id=record_id, digest=digest)
    _require_manager(by)
    current = record_select_for_update(inspection)
    if current.deleted_at is not None:
        raise NotFound("No such inspection.")
    failed = list(
        _live(current.items)
        .filter(result=InspectionResult.FAIL)
        .exclude(pk__in=InspectionItem.objects.filter(reinspection_of__isnull=False).values("reinspection_of_id"))
        .select_related("department")
    )
    if not failed:
        raise Conflict("No failed item is waiting for a re-inspection.", code="nothing_to_reinspect")
    not_ready = [
        item.code
        for item in failed
        if not _live(item.rectifications).exists()
        or _live(item.rectifications).filter(status=RectificationStatus.OPEN).exists()
    ]
    if not_ready:
        raise Conflict(
            f"Rectifications are missing or still open for: {', '.join(not_ready)}.",
            code="rectifications_open",
            extra={"item_codes": not_ready},
        )

    def create_items(reinspection: Inspection) -> None:
        for item in failed:
            record_create(
                model=InspectionItem,
                fields={
                    "case_id": inspection.case_id,
                    "inspection": reinspection,
                    "code": item.code,
                    "name": item.name,
                    "department": item.department,
                    "reinspection_of": item,
                },
                by=by,
                device_id=device_id,
            )

    return record_create(
        model=Inspection,
        fields=fields,
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=create_items,
    )


@transaction.atomic
def inspection_mark_signed(*, inspection: Inspection, by: User | None, device_id: str = "") -> Inspection:
    """Lock a fully resulted inspection with its items and rectifications; status `signed`.

    Called by the evidence app once every department has signed. Calling it again is a no-op.
    """
    current = record_select_for_update(inspection)
    if current.is_locked:
        return current
    if current.deleted_at is not None:
        raise NotFound("No such inspection.")
    if inspection_computed_status(inspection=current) != InspectionStatus.RESULTS_COMPLETE:
        raise Conflict("Every item needs a final result before the inspection is signed.", code="results_incomplete")
    for item in _live(current.items):
        for rectification in _live(item.rectifications).filter(is_locked=False):
            record_sign_off(instance=rectification, by=by, device_id=device_id, reason="inspection signed")
        if not item.is_locked:
            record_sign_off(instance=item, by=by, device_id=device_id, reason="inspection signed")
    return record_sign_off(
        instance=current,
        by=by,
        device_id=device_id,
        reason="signed",
        changes={"status": InspectionStatus.SIGNED},
    )


def inspection_reopen_changes(inspection: Inspection) -> dict[str, Any]:
    """What reopening changes besides unlocking: the status goes back to what the items say."""
    return {"status": inspection_computed_status(inspection=inspection)}


@transaction.atomic
def inspection_reopen(
    *,
    inspection: Inspection,
    by: User | None,
    reason: str,
    device_id: str = "",
    on_reopen: Callable[[Any], None] | None = None,
) -> Inspection:
    """Unlock a signed inspection, its items and rectifications (signatures voided by the reopen listeners)."""
    reopened = record_reopen(
        instance=inspection,
        by=by,
        reason=reason,
        device_id=device_id,
        changes=inspection_reopen_changes(inspection),
        on_reopen=on_reopen,
    )
    for item in _live(reopened.items):
        if item.is_locked:
            record_reopen(instance=item, by=by, reason=reason, device_id=device_id, on_reopen=on_reopen)
        for rectification in _live(item.rectifications).filter(is_locked=True):
            record_reopen(instance=rectification, by=by, reason=reason, device_id=device_id, on_reopen=on_reopen)
    return reopened


# --- items ---------------------------------------------------------------------------------


def _refuse_if_inspection_locked(item: InspectionItem) -> None:
    if item.is_locked or Inspection.all_objects.filter(pk=item.inspection_id, is_locked=True).exists():
        raise RecordLocked("The inspection is signed off and locked; reopen it to change it.")


@transaction.atomic
def inspection_item_record_result(
    *,
    item: InspectionItem,
    result: str,
    by: User | None,
    remarks: str | None = None,
    device_id: str = "",
    expected_version: int | None = None,
) -> InspectionItem:
    """The department records its result: pass, fail or filed (备案)."""
    if result not in RECORDABLE_RESULTS:
        raise ValidationFailed(
            f"Unknown result {result!r:.40}.", code="invalid_result", errors={"result": ["pass, fail or filed."]}
        )
    _require_item_department(user=by, item=item)
    current = record_select_for_update(item)
    _refuse_if_inspection_locked(current)
    if _live(current.reinspections).exists():
        raise Conflict(
            "The failed item was re-inspected; record results on the re-inspection.", code="item_reinspected"
        )
    if (
        current.result == InspectionResult.FAIL
        and result != InspectionResult.FAIL
        and _live(current.rectifications).exists()
    ):
        raise Conflict(
            "The item has rectifications; it stays failed until it is re-inspected.", code="item_has_rectifications"
        )
    changes: dict[str, Any] = {
        "result": result,
        "recorded_at": timezone.now(),
        "recorded_by": by if getattr(by, "is_authenticated", False) else None,
    }
    if remarks is not None:
        changes["remarks"] = remarks
    updated = record_update(
        instance=current,
        changes=changes,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        action=f"result:{result}",
    )
    return _item_refresh_final(item=updated, by=by, device_id=device_id)


@transaction.atomic
def inspection_item_update(
    *,
    instance: InspectionItem,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> InspectionItem:
    """PATCH of an item: `result` goes through inspection_item_record_result; else `remarks` only."""
    _check_writable(changes, INSPECTION_ITEM_WRITABLE_FIELDS)
    if "result" in changes:
        return inspection_item_record_result(
            item=instance,
            result=changes["result"],
            remarks=changes.get("remarks"),
            by=by,
            device_id=device_id,
            expected_version=expected_version,
        )
    _require_item_department(user=by, item=instance)
    _refuse_if_inspection_locked(instance)
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


# --- rectifications --------------------------------------------------------------------------


@transaction.atomic
def rectification_create(
    *,
    by: User | None,
    inspection_item: InspectionItem,
    description: str,
    due_date: date | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[RectificationItem, bool]:
    """The department of a failed item lists what must be fixed (整改), with a due date."""
    fields = {
        "case_id": inspection_item.case_id,
        "inspection_item": inspection_item,
        "description": description,
        "due_date": due_date,
        "status": RectificationStatus.OPEN,
    }
    if _replay_if_known(RectificationItem, record_id):
        return record_create(model=RectificationItem, fields=fields, by=by, record_id=record_id, digest=digest)
    _require_item_department(user=by, item=inspection_item)
    item = record_select_for_update(inspection_item)
    _refuse_if_inspection_locked(item)
    if item.result != InspectionResult.FAIL:
        raise Conflict("Only a failed item gets rectifications.", code="item_not_failed")
    if _live(item.reinspections).exists():
        raise Conflict("The item is already being re-inspected.", code="item_reinspected")
    if not (description or "").strip():
        raise ValidationFailed(
            "Describe what must be rectified.", code="validation_error", errors={"description": ["Required."]}
        )
    return record_create(
        model=RectificationItem, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest
    )


def _require_open_rectification_editable(*, rectification: RectificationItem, by: User | None) -> None:
    item = rectification.inspection_item
    _require_item_department(user=by, item=item)
    _refuse_if_inspection_locked(item)


@transaction.atomic
def rectification_update(
    *,
    instance: RectificationItem,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> RectificationItem:
    _check_writable(changes, RECTIFICATION_WRITABLE_FIELDS)
    _require_open_rectification_editable(rectification=instance, by=by)
    if instance.status != RectificationStatus.OPEN:
        raise Conflict("Only an open rectification can be edited.", code="rectification_not_open")
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


def rectification_can_mark_fixed(*, user: User | None, rectification: RectificationItem) -> bool:
    """The department, the acceptance team and the builder report a fix; administrators too."""
    if _is_system(user) or user.is_administrator:
        return True
    if user.organization_id == rectification.inspection_item.department_id:
        return True
    return user.organization_kind in (OrganizationKind.ACCEPTANCE_TEAM, OrganizationKind.BUILDER)


@transaction.atomic
def rectification_transition(
    *,
    rectification: RectificationItem,
    to: str,
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> RectificationItem:
    """open → fixed (reported fixed), fixed → verified (the department checked) or back to open."""
    if to not in RectificationStatus.values:
        raise ValidationFailed(f"Unknown status {to!r:.40}.", code="invalid_status", errors={"status": ["Unknown."]})
    if to == RectificationStatus.FIXED:
        if not rectification_can_mark_fixed(user=by, rectification=rectification):
            raise PermissionDenied("Only the department, the acceptance team or the builder reports a fix.")
    else:
        _require_item_department(user=by, item=rectification.inspection_item)
    current = record_select_for_update(rectification)
    _refuse_if_inspection_locked(current.inspection_item)
    now = timezone.now()
    actor = by if getattr(by, "is_authenticated", False) else None
    extra: dict[str, Any] = {}
    if to == RectificationStatus.FIXED:
        extra = {"fixed_at": now}
    elif to == RectificationStatus.VERIFIED:
        extra = {"verified_at": now, "verified_by": actor}
    else:
        extra = {"fixed_at": None}
    updated = record_transition(
        instance=current,
        field_name="status",
        to=to,
        allowed=RECTIFICATION_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=extra,
    )
    _item_refresh_final(item=updated.inspection_item, by=by, device_id=device_id)
    return updated


# --- deletion --------------------------------------------------------------------------------


@transaction.atomic
def inspection_delete(
    *, inspection: Inspection, by: User | None, device_id: str = "", expected_version: int | None = None
) -> Inspection:
    """Withdraw a scheduled inspection (no result recorded yet); its items go with it."""
    _require_manager(by)
    current = record_select_for_update(inspection)
    if current.is_locked:
        raise RecordLocked("The inspection is signed off and locked; reopen it to change it.")
    if _live(current.items).exclude(result=InspectionResult.PENDING).exists():
        raise Conflict("Results were recorded; the inspection can no longer be withdrawn.", code="inspection_started")
    for item in _live(current.items):
        record_delete(instance=item, by=by, device_id=device_id)
    return record_delete(instance=current, by=by, device_id=device_id, expected_version=expected_version)


@transaction.atomic
def rectification_delete(
    *, rectification: RectificationItem, by: User | None, device_id: str = "", expected_version: int | None = None
) -> RectificationItem:
    """The department withdraws an open rectification item."""
    _require_open_rectification_editable(rectification=rectification, by=by)
    if rectification.status != RectificationStatus.OPEN:
        raise Conflict("Only an open rectification can be withdrawn.", code="rectification_not_open")
    deleted = record_delete(instance=rectification, by=by, device_id=device_id, expected_version=expected_version)
    _item_refresh_final(item=deleted.inspection_item, by=by, device_id=device_id)
    return deleted
