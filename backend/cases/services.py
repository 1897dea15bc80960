"""Writes on projects, approval cases and approval items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.models import CaseOrigin, Organization, OrganizationKind, User
from backend.audit.services import audit_append
from backend.cases.codes import normalize_credit_code, normalize_project_code, region_code_of
from backend.cases.deadlines import CLOCK_STOPPING_STATUSES, item_deadlines_record
from backend.cases.models import (
    TERMINAL_BLZT,
    ApprovalCase,
    ApprovalItem,
    Blzt,
    InvestmentType,
    ItemMode,
    ItemStatusEvent,
    Material,
    Priority,
    Project,
    ProjectCategory,
    Stage,
    StartMilestone,
)
from backend.cases.notices import item_notices_after_change
from backend.cases.selectors import cases_visible_to, projects_visible_to
from backend.common.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from backend.common.locks import advisory_transaction_lock

PAUSE_ENDS = {Blzt.CORRECTION_START: Blzt.CORRECTION_END, Blzt.SPECIAL_PROCEDURE_START: Blzt.SPECIAL_PROCEDURE_END}
# Closed for good: terminal results (11–13) and the closed-without-result states.
FINAL_BLZT = TERMINAL_BLZT | {Blzt.NOT_ACCEPTED, Blzt.WITHDRAWN, Blzt.REVOKED}


# Called, inside the change's transaction, after an item's status changed, from the one place
# each path changes it: (*, item, from_status, by). The events app listens (case.item.status_changed);
# cases sits below events: its services never import it.
ITEM_STATUS_LISTENERS: list[Callable[..., None]] = []


def register_item_status_listener(listener: Callable[..., None]) -> None:
    if listener not in ITEM_STATUS_LISTENERS:
        ITEM_STATUS_LISTENERS.append(listener)


def _item_status_changed(*, item: ApprovalItem, from_status: int | None, by: User | None) -> None:
    for listener in ITEM_STATUS_LISTENERS:
        listener(item=item, from_status=from_status, by=by)


# --- who may write --------------------------------------------------------------------------


def _org(user: User) -> Organization | None:
    return user.organization if user.organization_id else None


def user_may_write_in_region(*, user: User, region_code: str) -> bool:
    """Administrators; the approval system and approval departments within their region.

    An external system without a region may create cases anywhere; existing cases and projects
    it changes only where it sees them (cases_visible_to: its own).
    """
    if user.is_administrator:
        return True
    org = _org(user)
    if org is None or org.kind not in {OrganizationKind.APPROVAL_DEPARTMENT, OrganizationKind.EXTERNAL_SYSTEM}:
        return False
    if org.kind == OrganizationKind.EXTERNAL_SYSTEM and not org.region:
        return True
    return bool(org.region) and region_code.startswith(org.region)


def _require_region_writer(*, user: User, region_code: str) -> None:
    if not user_may_write_in_region(user=user, region_code=region_code):
        raise PermissionDenied(
            f"Only administrators and officials whose jurisdiction covers region {region_code} may do this.",
            code="outside_jurisdiction",
        )


def user_is_integration(*, user: User) -> bool:
    org = _org(user)
    return user.is_administrator or (org is not None and org.kind == OrganizationKind.EXTERNAL_SYSTEM)


# --- projects -------------------------------------------------------------------------------


def _clean_choice(value: Any, choices: Any, field: str) -> str:
    if value not in choices.values:
        raise ValidationFailed(
            f"{field}: {value!r} is not one of {', '.join(choices.values)}.",
            errors={field: [f"{value!r} is not one of {', '.join(choices.values)}."]},
        )
    return value


def _clean_builder(builder: Organization) -> Organization:
    if builder.kind != OrganizationKind.BUILDER:
        message = "The builder must be an organisation of kind builder."
        raise ValidationFailed(message, errors={"builder": [message]})
    return builder


def _check_code_free(code: str, *, exclude_pk: Any = None) -> None:
    qs = Project.objects.filter(code=code)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        message = f"A project with code {code} already exists."
        raise ValidationFailed(message, code="duplicate_project_code", errors={"code": [message]})


PROJECT_FIELDS = (
    "code",
    "name",
    "builder",
    "investment_type",
    "category",
    "is_simple_low_risk",
    "priority",
    "location",
    "start_milestone",
    "start_milestone_on",
    "standard_days_override",
)


def project_milestone_problems(project: Project) -> dict[str, list[str]]:
    """The milestone and its date go together; the date is not in the future (it happened)."""
    errors: dict[str, list[str]] = {}
    if project.start_milestone and project.start_milestone_on is None:
        errors["start_milestone_on"] = ["The date of the start milestone is required with it."]
    if project.start_milestone_on is not None and not project.start_milestone:
        errors["start_milestone"] = [f"Say which milestone the date is: one of {', '.join(StartMilestone.values)}."]
    if project.start_milestone_on is not None and project.start_milestone_on > timezone.localdate():
        errors["start_milestone_on"] = ["The start milestone is a date that has happened, not a future one."]
    return errors


def _check_milestone(project: Project) -> None:
    errors = project_milestone_problems(project)
    if errors:
        raise ValidationFailed(
            "The project's start milestone (土地出让合同签订 / 项目立项) needs its kind and a past date.",
            code="invalid_start_milestone",
            errors=errors,
        )


def _apply_project_fields(project: Project, data: dict[str, Any]) -> bool:
    changed = False
    for name, value in data.items():
        if name not in PROJECT_FIELDS:
            raise ValidationFailed(f"Unknown project field {name}.", errors={name: ["Unknown field."]})
        if name == "code":
            value = normalize_project_code(value)
            if value != project.code:
                _check_code_free(value, exclude_pk=project.pk)
                project.region_code = region_code_of(value)
        elif name == "name":
            value = (value or "").strip()
            if not value:
                raise ValidationFailed("A project needs a name.", errors={"name": ["This field may not be blank."]})
        elif name == "builder":
            value = _clean_builder(value)
        elif name == "investment_type":
            value = _clean_choice(value, InvestmentType, name)
        elif name == "category":
            value = _clean_choice(value, ProjectCategory, name)
        elif name == "priority":
            value = _clean_choice(value, Priority, name)
        elif name == "start_milestone":
            value = "" if value in (None, "") else _clean_choice(value, StartMilestone, name)
        elif name == "start_milestone_on" and value is not None and not isinstance(value, dt.date):
            raise ValidationFailed("start_milestone_on is a date.", errors={name: ["Expected YYYY-MM-DD."]})
        elif (
            name == "standard_days_override"
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 3650)
        ):
            message = "The standard time is a whole number of days, 1–3650 (null: the default for the type)."
            raise ValidationFailed(message, errors={name: [message]})
        elif name == "location" and value is not None and not isinstance(value, Point):
            raise ValidationFailed("The location is a GeoJSON Point.", errors={"location": ["Expected a Point."]})
        current = getattr(project, f"{name}_id" if name == "builder" else name)
        if name == "builder":
            same = current == value.pk
        elif name == "location":
            same = (current is None and value is None) or (
                current is not None and value is not None and current.equals_exact(value, 1e-9)
            )
        else:
            same = current == value
        if not same:
            setattr(project, name, value)
            changed = True
    return changed


@transaction.atomic
def project_create(
    *,
    by: User | None,
    code: str,
    name: str,
    builder: Organization,
    investment_type: str,
    category: str,
    is_simple_low_risk: bool = False,
    priority: str = Priority.NONE,
    location: Point | None = None,
    start_milestone: str = "",
    start_milestone_on: dt.date | None = None,
    standard_days_override: int | None = None,
) -> Project:
    """Create a project; `by=None` is a system call (demo, approval-system upsert after its own check)."""
    code = normalize_project_code(code)
    if by is not None:
        _require_region_writer(user=by, region_code=region_code_of(code))
    _check_code_free(code)
    project = Project(code=code, region_code=region_code_of(code))
    _apply_project_fields(
        project,
        {
            "name": name,
            "builder": builder,
            "investment_type": investment_type,
            "category": category,
            "is_simple_low_risk": is_simple_low_risk,
            "priority": priority,
            "location": location,
            "start_milestone": start_milestone,
            "start_milestone_on": start_milestone_on,
            "standard_days_override": standard_days_override,
        },
    )
    _check_milestone(project)
    project.save()
    return project


@transaction.atomic
def project_update(*, project: Project, by: User | None, data: dict[str, Any]) -> Project:
    """Change some fields of a project; the caller must be allowed in the old and the new region."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    if by is not None:
        _require_region_writer(user=by, region_code=project.region_code)
    if _apply_project_fields(project, data):
        if by is not None:
            _require_region_writer(user=by, region_code=project.region_code)
        _check_milestone(project)
        project.save()
    return project


# --- cases ----------------------------------------------------------------------------------


@transaction.atomic
def case_assign_organizations(
    *, case: ApprovalCase, organizations: Iterable[Organization], replace: bool = False, by: User | None = None
) -> ApprovalCase:
    """Assign crews, teams and companies to a case (`replace` sets the whole list).

    `by=None` is a system call: other services use it when they address a record to an organisation.
    """
    if by is not None:
        _require_region_writer(user=by, region_code=case.project.region_code)
    organizations = list(organizations)
    bad = [
        org.name for org in organizations if org.kind in {OrganizationKind.BUILDER, OrganizationKind.EXTERNAL_SYSTEM}
    ]
    if bad:
        message = f"Builders and external systems are not assigned to cases: {', '.join(bad)}."
        raise ValidationFailed(message, errors={"assigned_organizations": [message]})
    if replace:
        _note_case_access(case=case, organizations=organizations)
        case.assigned_organizations.set(organizations)
    else:
        case_organizations_add(case=case, organizations=organizations)
    return case


@transaction.atomic
def case_organizations_add(*, case: ApprovalCase, organizations: Iterable[Organization]) -> None:
    """Let organisations see a case because a record addresses them (a survey's participant, a
    utility request's company, a vehicle's team, a meeting's department …): what the record
    services call, with no rule on the kind of organisation (a builder taking part in a survey
    sees its case too). Those that gain the case are noted for sync pull first."""
    organizations = list(organizations)
    _note_case_access(case=case, organizations=organizations)
    case.assigned_organizations.add(*organizations)


# The audit action that tells sync pull an organisation was given a case (backend.sync.pull).
CASE_ACCESS_GRANTED = "case_access_granted"


def _note_case_access(*, case: ApprovalCase, organizations: list[Organization]) -> None:
    """Note, before they are added, the organisations that gain the case.

    The case's older records were audited before the devices' cursors, so an incremental pull would
    never send them: the pull turns this entry into a `case_access` change, and the device pulls
    the whole case (`sync/pull?case=`).
    """
    ids = {org.pk for org in organizations}
    gaining = sorted(
        str(pk) for pk in ids - set(case.assigned_organizations.filter(pk__in=ids).values_list("pk", flat=True))
    )
    if gaining:
        audit_append(
            action=CASE_ACCESS_GRANTED,
            record_type="case",
            record_id=case.pk,
            case_id=case.pk,
            after={"organizations": gaining},
        )


@transaction.atomic
def case_update(
    *,
    case: ApprovalCase,
    by: User,
    assigned_organizations: list[Organization] | None = None,
    standard_days_override: int | None | type[Ellipsis] = ...,
) -> ApprovalCase:
    """What we own on a mirrored case: its assignments and the standard-time override."""
    _require_region_writer(user=by, region_code=case.project.region_code)
    if standard_days_override is not ...:
        if standard_days_override is not None and standard_days_override <= 0:
            message = "The standard time is a positive number of days."
            raise ValidationFailed(message, errors={"standard_days_override": [message]})
        if case.standard_days_override != standard_days_override:
            case.standard_days_override = standard_days_override
            case.save(update_fields=["standard_days_override", "updated_at"])
    if assigned_organizations is not None:
        case_assign_organizations(case=case, organizations=assigned_organizations, replace=True)
    return case


# --- item status ----------------------------------------------------------------------------


def _transition_problem(current: int, new: int) -> str | None:
    if current in FINAL_BLZT:
        return f"Item is closed with status {current} ({Blzt(current).label}); it cannot change any more."
    for start, end in PAUSE_ENDS.items():
        if current == start and new not in {end, Blzt.WITHDRAWN, Blzt.REVOKED}:
            return f"Item is paused by status {start}; only {end}, 14 or 15 may follow."
        if new == end and current != start:
            return f"Status {end} ends a pause started by {start}; the item is at {current}."
    if new == Blzt.RECEIVED and current != Blzt.RETURNED:
        return "Only a returned item (5) can be received (1) again."
    return None


@transaction.atomic
def approval_item_change_status(
    *, item: ApprovalItem, status: int, by: User | None, occurred_at: dt.datetime | None = None
) -> ApprovalItem:
    """Move an item to a BLZT status, appending the event; refuses illegal transitions.

    Allowed for administrators, the approval system and the item's own department.
    """
    item = ApprovalItem.objects.select_for_update().select_related("case__project").get(pk=item.pk)
    if by is not None and not user_is_integration(user=by):
        org = _org(by)
        if org is None or org.pk != item.department_id:
            raise PermissionDenied("Only the item's department, the approval system or an administrator may do this.")
    if status not in Blzt.values:
        raise ValidationFailed(f"{status!r} is not a BLZT status.", errors={"status": ["Unknown BLZT status."]})
    if status == item.status:
        return item
    problem = _transition_problem(item.status, status)
    if problem:
        raise IllegalTransition(problem, extra={"from_status": item.status, "to_status": status})
    occurred_at = occurred_at or timezone.now()
    if occurred_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationFailed("A status change cannot be in the future.", errors={"occurred_at": ["In the future."]})
    from_status = item.status
    item.status = status
    fields = ["status", "updated_at"]
    if status in {Blzt.ACCEPTED, Blzt.DEPARTMENT_ACCEPTED} and item.accepted_at is None:
        item.accepted_at = occurred_at
        fields.append("accepted_at")
    if status in CLOCK_STOPPING_STATUSES and item.completed_at is None:
        item.completed_at = occurred_at
        fields.append("completed_at")
    item.save(update_fields=fields)
    ItemStatusEvent.objects.get_or_create(item=item, status=status, occurred_at=occurred_at)
    _item_status_changed(item=item, from_status=from_status, by=by)
    _record_deadlines([item])
    return item


def _record_deadlines(items: list[ApprovalItem]) -> None:
    fresh = list(ApprovalItem.objects.filter(pk__in=[i.pk for i in items]).prefetch_related("status_events"))
    item_deadlines_record(items=fresh, as_of=timezone.localdate())
    # Every item change may move the item into a level someone must be told about.
    item_notices_after_change([item.pk for item in fresh])


# --- the approval system's upsert -----------------------------------------------------------


def _set(obj: Any, values: dict[str, Any]) -> list[str]:
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def _builder_for(data: dict[str, Any]) -> Organization:
    credit_code = normalize_credit_code(data.get("credit_code", ""), field="project.builder.credit_code")
    name = (data.get("name") or "").strip()
    builder = Organization.objects.filter(kind=OrganizationKind.BUILDER, credit_code=credit_code).first()
    if builder is not None:
        return builder
    if not name:
        message = f"No builder has credit code {credit_code}; send its name to create it."
        raise ValidationFailed(message, errors={"project.builder.name": [message]})
    by_name = Organization.objects.filter(name=name).first()
    if by_name is not None:
        if by_name.kind != OrganizationKind.BUILDER or (by_name.credit_code and by_name.credit_code != credit_code):
            message = f"The organisation {name} exists with another kind or credit code."
            raise ValidationFailed(message, code="builder_mismatch", errors={"project.builder": [message]})
        by_name.credit_code = credit_code
        by_name.save(update_fields=["credit_code", "updated_at"])
        return by_name
    region = credit_code[2:8] if credit_code[2:8].isdigit() else ""
    return Organization.objects.create(name=name, kind=OrganizationKind.BUILDER, credit_code=credit_code, region=region)


def _department_for(data: dict[str, Any], field: str) -> Organization:
    qs = Organization.objects.filter(kind=OrganizationKind.APPROVAL_DEPARTMENT)
    department = None
    if data.get("department"):
        department = qs.filter(pk=data["department"]).first()
    elif data.get("department_name"):
        department = qs.filter(name=data["department_name"].strip()).first()
    if department is None:
        message = "Unknown approval department (send `department` as an id or `department_name`)."
        raise ValidationFailed(message, code="unknown_department", errors={field: [message]})
    return department


def item_handler_problem(*, handler: User | None, department: Organization) -> str | None:
    """Why `handler` cannot handle an item of `department` (None when they can, or no handler)."""
    if handler is None:
        return None
    if not handler.is_active:
        return f"{handler.username} is not an active user."
    if handler.organization_id != department.pk:
        return f"{handler.username} is not a member of {department.name}; the handler (承办人) works in the department."
    return None


def _handler_for(username: str | None, *, department: Organization, field: str) -> User | None:
    if not username:
        return None
    handler = User.objects.filter(username=username.strip(), organization=department).first()
    if handler is None:
        message = f"No user {username.strip()!r} in {department.name}: the handler is named by username within it."
        raise ValidationFailed(message, code="unknown_handler", errors={field: [message]})
    problem = item_handler_problem(handler=handler, department=department)
    if problem:
        raise ValidationFailed(problem, code="unknown_handler", errors={field: [problem]})
    return handler


def _upsert_project(*, data: dict[str, Any]) -> Project:
    code = normalize_project_code(data.get("code", ""), field="project.code")
    fields = {
        "name": data["name"],
        "builder": _builder_for(data["builder"]),
        "investment_type": data["investment_type"],
        "category": data["category"],
        "is_simple_low_risk": data.get("is_simple_low_risk", False),
        "priority": data.get("priority", Priority.NONE),
    }
    # Sent only when the approval system knows them; omitted keeps what is recorded.
    for name in ("location", "start_milestone", "start_milestone_on", "standard_days_override"):
        if name in data:
            fields[name] = data[name]
    project = Project.objects.select_for_update().filter(code=code).first()
    if project is None:
        return project_create(by=None, code=code, **fields)
    return project_update(project=project, by=None, data=fields)


def _upsert_item(*, case: ApprovalCase, data: dict[str, Any], index: int) -> ApprovalItem:
    prefix = f"items[{index}]"
    external_id = (data.get("external_id") or "").strip()
    items = ApprovalItem.objects.select_for_update().filter(case=case)
    item = items.filter(external_id=external_id).first() if external_id else None
    if item is None:
        item = items.filter(name=data["name"]).first()
    department = _department_for(data, f"{prefix}.department")
    values = {
        "name": data["name"],
        "department": department,
        "statutory_days": data["statutory_days"],
        "promised_days": data["promised_days"],
        "modes": sorted(set(data.get("modes") or [])),
    }
    if data["promised_days"] > data["statutory_days"]:
        message = "The promised time limit cannot exceed the statutory one."
        raise ValidationFailed(message, errors={f"{prefix}.promised_days": [message]})
    for mode in values["modes"]:
        _clean_choice(mode, ItemMode, f"{prefix}.modes")
    if external_id:
        values["external_id"] = external_id
    if "handler" in data:
        values["handler"] = _handler_for(data["handler"], department=department, field=f"{prefix}.handler")
    elif item is not None and item.handler_id and item_handler_problem(handler=item.handler, department=department):
        # The item moved to another department: its handler there is not known yet.
        values["handler"] = None
    for name in ("accepted_at", "completed_at"):
        if name in data:
            values[name] = data[name]
    status = data["status"]
    from_status = item.status if item is not None else None
    if item is None:
        item = ApprovalItem(case=case, status=status, **values)
        item.save()
    else:
        if item.status != status and item.status in TERMINAL_BLZT:
            message = f"Item {item.name} is closed with status {item.status}; it cannot become {status}."
            raise IllegalTransition(message, errors={f"{prefix}.status": [message]})
        values["status"] = status
        changed = _set(item, values)
        if changed:
            item.save()
    events = sorted(data.get("status_events") or [], key=lambda e: e["occurred_at"])
    for event in events:
        ItemStatusEvent.objects.get_or_create(item=item, status=event["status"], occurred_at=event["occurred_at"])
    if not item.status_events.filter(status=item.status).exists():
        if item.status in CLOCK_STOPPING_STATUSES and item.completed_at:
            at = item.completed_at
        elif item.status in {Blzt.ACCEPTED, Blzt.DEPARTMENT_ACCEPTED} and item.accepted_at:
            at = item.accepted_at
        else:
            at = timezone.now()
        ItemStatusEvent.objects.create(item=item, status=item.status, occurred_at=at)
    if item.accepted_at is None:
        accepted = item.status_events.filter(status__in=[Blzt.ACCEPTED, Blzt.DEPARTMENT_ACCEPTED]).first()
        if accepted is not None:
            item.accepted_at = accepted.occurred_at
            item.save(update_fields=["accepted_at", "updated_at"])
    if item.status in CLOCK_STOPPING_STATUSES and item.completed_at is None:
        # The clock stops when the approval system reports the closing status.
        item.completed_at = item.status_events.filter(status=item.status).last().occurred_at
        item.save(update_fields=["completed_at", "updated_at"])
    for material in data.get("materials") or []:
        _upsert_material(item=item, data=material)
    _item_status_changed(item=item, from_status=from_status, by=None)
    return item


def _upsert_material(*, item: ApprovalItem, data: dict[str, Any]) -> Material:
    values = {
        "is_required": data.get("is_required", True),
        "is_waivable": data.get("is_waivable", False),
        "received_at": data.get("received_at"),
        "promised_by": data.get("promised_by"),
    }
    material = Material.objects.filter(item=item, name=data["name"]).first()
    if material is None:
        return Material.objects.create(item=item, name=data["name"], **values)
    if _set(material, values):
        material.save()
    return material


@transaction.atomic
def case_upsert_by_external(*, external_no: str, data: dict[str, Any], by: User) -> tuple[ApprovalCase, bool]:
    """Create or update the mirrored case, its project (by code) and its items; returns (case, created).

    Items are matched by `external_id`, else by name, and never deleted (the approval system may
    send only the items that changed). Status events are deduplicated, so a replay changes nothing.
    A closed (terminal) case or item cannot be reopened. An item may name its handler (承办人) by
    username within its department (`unknown_handler` otherwise; null clears it).
    """
    if not user_is_integration(user=by):
        raise PermissionDenied("Only the approval system or an administrator may push cases.")
    external_no = (external_no or "").strip()
    if not external_no or len(external_no) > 64:
        raise ValidationFailed("The external case number is 1–64 characters.", errors={"external_no": ["Invalid."]})
    code = normalize_project_code(data["project"].get("code", ""), field="project.code")
    _require_region_writer(user=by, region_code=region_code_of(code))
    _clean_choice(data["stage"], Stage, "stage")
    # Two pushes of one new case wait for each other (there is no row to lock before the first insert).
    advisory_transaction_lock(f"case-upsert:{external_no}")
    case = ApprovalCase.objects.select_for_update().filter(external_no=external_no).first()
    if case is not None and not cases_visible_to(user=by).filter(pk=case.pk).exists():
        raise NotFound("No such case.")
    project = Project.objects.filter(code=code).only("pk").first()
    if project is not None and not projects_visible_to(user=by).filter(pk=project.pk).exists():
        raise PermissionDenied(
            f"Project {code} belongs to cases outside this system's region and not created by it.",
            code="outside_jurisdiction",
        )
    try:
        with transaction.atomic():
            project = _upsert_project(data=data["project"])
            values = {
                "project": project,
                "stage": data["stage"],
                "is_parallel": data.get("is_parallel", False),
                "status": data["status"],
                "opened_at": data["opened_at"],
            }
            if "standard_days_override" in data:
                values["standard_days_override"] = data["standard_days_override"]
            created = case is None
            if created:
                case = ApprovalCase.objects.create(external_no=external_no, **values)
                if by.organization_id is not None and by.organization.kind == OrganizationKind.EXTERNAL_SYSTEM:
                    CaseOrigin.objects.create(case=case, organization=by.organization)
            else:
                if case.status != data["status"] and case.status in TERMINAL_BLZT:
                    message = (
                        f"Case {external_no} is closed with status {case.status}; it cannot become {data['status']}."
                    )
                    raise IllegalTransition(message, errors={"status": [message]})
                if _set(case, values):
                    case.save()
            items = [_upsert_item(case=case, data=item, index=i) for i, item in enumerate(data.get("items") or [])]
    except IntegrityError as error:
        raise Conflict(
            "Another request changed this case at the same time; send it again.", code="concurrent_update"
        ) from error
    if items:
        _record_deadlines(items)
    return case, created
