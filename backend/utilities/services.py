"""Writes of utility records. REST, sync push, the admin and the demo all call these.

`by=None` means system code (demo data, data migrations): no permission checks.
"""

import datetime as dt
import uuid
from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.models import Organization, OrganizationKind, User, UtilityType
from backend.cases.models import ApprovalCase
from backend.cases.selectors import cases_visible_to
from backend.cases.services import case_organizations_add
from backend.common.errors import (
    ApplicationError,
    Conflict,
    IdConflict,
    InvalidGeometry,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from backend.records.models import FieldRecord
from backend.records.services import (
    record_check_case_site,
    record_create,
    record_delete,
    record_select_for_update,
    record_transition,
    record_update,
)
from backend.sites.models import Site
from backend.utilities.demand import validate_attributes, validate_demand
from backend.utilities.models import (
    UtilityApplication,
    UtilityPoint,
    UtilityPointStatus,
    UtilityRequest,
    UtilityRequestStatus,
)

# --- who may do what ---------------------------------------------------------------------


def _is_system(by: User | None) -> bool:
    return by is None


def _is_admin(by: User | None) -> bool:
    return by is None or (by.is_authenticated and by.is_administrator)


def _kind(by: User | None) -> str | None:
    return by.organization_kind if by is not None and by.is_authenticated else None


def utility_can_apply(*, user: User | None) -> bool:
    """Applicants' side: builders, approval officials, the vehicle team's agents, administrators."""
    return _is_admin(user) or _kind(user) in (
        OrganizationKind.BUILDER,
        OrganizationKind.APPROVAL_DEPARTMENT,
        OrganizationKind.VEHICLE_TEAM,
    )


def utility_can_record_points(*, user: User | None) -> bool:
    """Companies, survey crews, officials and the vehicle team record access points."""
    return _is_admin(user) or _kind(user) in (
        OrganizationKind.UTILITY_COMPANY,
        OrganizationKind.SURVEY_CREW,
        OrganizationKind.APPROVAL_DEPARTMENT,
        OrganizationKind.VEHICLE_TEAM,
    )


def _is_member_of(by: User | None, company_id: Any) -> bool:
    return by is not None and by.is_authenticated and by.organization_id == company_id


def _check_site_live(site: Site) -> None:
    if site.deleted_at is not None:
        raise ValidationFailed("The site was deleted.", errors={"site": ["The site was deleted."]})


def _check_case_visible(*, case: ApprovalCase, by: User | None) -> None:
    if by is not None and not cases_visible_to(user=by).filter(pk=case.pk).exists():
        raise NotFound("No such case.")


def _refuse_fields(changes: dict[str, Any], editable: tuple[str, ...]) -> None:
    refused = sorted(name for name in changes if name not in editable)
    if refused:
        raise ValidationFailed(
            f"These fields cannot be changed: {', '.join(refused)}.",
            code="read_only_field",
            errors={name: ["Read-only."] for name in refused},
        )


def _replay(model: type[FieldRecord], record_id: uuid.UUID | None, digest: str) -> FieldRecord | None:
    """A create retried with the same client id and content returns the stored record before any
    other rule runs (the company chosen then may no longer be the one that would be chosen now)."""
    if record_id is None:
        return None
    existing = model.all_objects.filter(pk=record_id).first()
    if existing is None:
        return None
    if digest and existing.client_digest == digest:
        return existing
    raise IdConflict(f"A record with id {record_id} already exists with other content.")


# --- companies ---------------------------------------------------------------------------


def utility_company_for(*, utility_type: str, case: ApprovalCase, named: Organization | None = None) -> Organization:
    """The company a request or point of `utility_type` on `case` goes to.

    A company the applicant names must be a utility company serving that type. Otherwise the
    one company serving the type in the project's region (the most specific region prefix
    wins: a district company before a city one); none or several → 400 no_company_for_type.
    """
    if utility_type not in UtilityType.values:
        raise ValidationFailed(
            f"Unknown utility type {utility_type!r:.40}.",
            errors={"utility_type": [f"Must be one of: {', '.join(UtilityType.values)}."]},
        )
    if named is not None:
        if named.kind != OrganizationKind.UTILITY_COMPANY or utility_type not in named.utility_types:
            raise ValidationFailed(
                f"{named.name} is not a utility company serving {utility_type}.",
                errors={"company": [f"Not a utility company serving {utility_type}."]},
            )
        return named
    region = case.project.region_code
    candidates = [
        company
        for company in Organization.objects.filter(
            kind=OrganizationKind.UTILITY_COMPANY, utility_types__contains=[utility_type]
        ).exclude(region="")
        if region.startswith(company.region)
    ]
    if candidates:
        longest = max(len(company.region) for company in candidates)
        candidates = [company for company in candidates if len(company.region) == longest]
    if len(candidates) != 1:
        reason = "no company serves" if not candidates else f"{len(candidates)} companies serve"
        raise ApplicationError(
            f"{reason} {utility_type} in region {region}; name the company.",
            code="no_company_for_type",
            status=400,
            errors={"company": [f"No single utility company serves {utility_type} in region {region}."]},
        )
    return candidates[0]


def _assign_company(case: ApprovalCase, company: Organization) -> None:
    # The company must see the case its records belong to (cases_visible_to reads this).
    case_organizations_add(case=case, organizations=[company])


# --- requests ----------------------------------------------------------------------------

REQUEST_EDITABLE_FIELDS = ("demand", "applicant_name", "contact_phone")
REQUEST_OPEN = frozenset({UtilityRequestStatus.SUBMITTED, UtilityRequestStatus.NEED_INFO})

RESPONSE_TRANSITIONS: dict[str, set[str]] = {
    UtilityRequestStatus.SUBMITTED: {
        UtilityRequestStatus.ACCEPTED,
        UtilityRequestStatus.NEED_INFO,
        UtilityRequestStatus.REJECTED,
    },
    # Information arrived by other means: the company may decide without a resubmission.
    UtilityRequestStatus.NEED_INFO: {UtilityRequestStatus.ACCEPTED, UtilityRequestStatus.REJECTED},
}
REQUEST_TRANSITIONS: dict[str, set[str]] = {
    **RESPONSE_TRANSITIONS,
    UtilityRequestStatus.ACCEPTED: {UtilityRequestStatus.CONNECTED},
}
DECISIONS = {
    "accept": UtilityRequestStatus.ACCEPTED,
    "need_info": UtilityRequestStatus.NEED_INFO,
    "reject": UtilityRequestStatus.REJECTED,
}


def _check_no_open_request(*, site: Site, utility_type: str, key: str = "utility_type") -> None:
    open_request = (
        UtilityRequest.objects.filter(site=site, utility_type=utility_type)
        .exclude(status=UtilityRequestStatus.REJECTED)
        .first()
    )
    if open_request is not None:
        raise Conflict(
            f"Site {site.name} already has an open {utility_type} request ({open_request.pk}).",
            code="utility_request_exists",
            errors={key: [f"An open {utility_type} request exists for this site: {open_request.pk}."]},
            extra={"existing_id": str(open_request.pk)},
        )


def _insert_request(
    *,
    case: ApprovalCase,
    site: Site,
    utility_type: str,
    demand: dict,
    company: Organization,
    application: UtilityApplication | None,
    applicant_name: str,
    contact_phone: str,
    by: User | None,
    device_id: str,
    record_id: uuid.UUID | None,
    digest: str,
) -> tuple[UtilityRequest, bool]:
    _check_no_open_request(site=site, utility_type=utility_type)
    try:
        return record_create(
            model=UtilityRequest,
            fields={
                "case": case,
                "site": site,
                "application": application,
                "utility_type": utility_type,
                "company": company,
                "demand": demand,
                "status": UtilityRequestStatus.SUBMITTED,
                "applicant_name": applicant_name,
                "contact_phone": contact_phone,
            },
            by=by,
            device_id=device_id,
            record_id=record_id,
            digest=digest,
            after_create=lambda request: _assign_company(case, company),
        )
    except IntegrityError as error:
        # A concurrent request for the same site and type won the unique constraint.
        if "utility_request_one_open_per_site_and_type" in str(error):
            raise Conflict(
                f"Site {site.name} already has an open {utility_type} request.", code="utility_request_exists"
            ) from error
        raise


@transaction.atomic
def utility_request_create(
    *,
    case: ApprovalCase,
    site: Site,
    utility_type: str,
    demand: Any,
    company: Organization | None = None,
    applicant_name: str = "",
    contact_phone: str = "",
    by: User | None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[UtilityRequest, bool]:
    """One request for one utility, addressed to one company (see utility_company_for)."""
    existing = _replay(UtilityRequest, record_id, digest)
    if existing is not None:
        return existing, False
    if not utility_can_apply(user=by):
        raise PermissionDenied("Only applicants, officials and the vehicle team make utility requests.")
    _check_case_visible(case=case, by=by)
    _check_site_live(site)
    record_check_case_site(case=case, site=site)
    demand = validate_demand(utility_type=utility_type, demand=demand)
    company = utility_company_for(utility_type=utility_type, case=case, named=company)
    # Serialises requests for one site, so two applicants cannot both open the same utility.
    Site.objects.select_for_update().filter(pk=site.pk).first()
    return _insert_request(
        case=case,
        site=site,
        utility_type=utility_type,
        demand=demand,
        company=company,
        application=None,
        applicant_name=applicant_name,
        contact_phone=contact_phone,
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
    )


@transaction.atomic
def utility_request_update(
    *,
    instance: UtilityRequest,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> UtilityRequest:
    """The applicant corrects the demand or contact while the request is open. A changed demand
    on a request the company asked more information for sends it back (need_info → submitted)."""
    if not utility_can_apply(user=by):
        raise PermissionDenied("Only the applicant's side may change a utility request.")
    _refuse_fields(changes, REQUEST_EDITABLE_FIELDS)
    current = record_select_for_update(instance)
    if current.deleted_at is None and current.status not in REQUEST_OPEN:
        raise Conflict(
            f"A {current.status} request cannot be changed.",
            code="request_not_editable",
            extra={"status": current.status},
        )
    changes = dict(changes)
    if "demand" in changes:
        changes["demand"] = validate_demand(utility_type=current.utility_type, demand=changes["demand"])
        if current.status == UtilityRequestStatus.NEED_INFO and changes["demand"] != current.demand:
            changes["status"] = UtilityRequestStatus.SUBMITTED
    return record_update(
        instance=current, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


@transaction.atomic
def utility_request_respond(
    *,
    request: UtilityRequest,
    decision: str,
    plan: str = "",
    planned_connection_date: dt.date | None = None,
    note: str = "",
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> UtilityRequest:
    """The addressed company answers: accept (with its plan and date), need_info or reject (with a note)."""
    if not _is_system(by) and not _is_member_of(by, request.company_id):
        raise PermissionDenied("Only the company the request is addressed to may respond.")
    if decision not in DECISIONS:
        raise ValidationFailed(
            f"Unknown decision {decision!r:.40}.",
            errors={"decision": [f"Must be one of: {', '.join(DECISIONS)}."]},
        )
    note = (note or "").strip()
    plan = (plan or "").strip()
    if decision in ("need_info", "reject") and not note:
        raise ValidationFailed(
            f"A note is required to {decision.replace('_', ' ')}.",
            errors={"note": ["Required: tell the applicant why or what is missing."]},
        )
    current = record_select_for_update(request)
    changes: dict[str, Any] = {
        "response_note": note,
        "responded_at": timezone.now(),
        "responded_by": by,
    }
    if decision == "accept":
        changes["plan"] = plan
        changes["planned_connection_date"] = planned_connection_date
    return record_transition(
        instance=current,
        field_name="status",
        to=DECISIONS[decision],
        allowed=RESPONSE_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=changes,
    )


@transaction.atomic
def utility_request_mark_connected(
    *, request: UtilityRequest, by: User | None, device_id: str = "", expected_version: int | None = None
) -> UtilityRequest:
    """The company reports the site connected (accepted → connected)."""
    if not _is_admin(by) and not _is_member_of(by, request.company_id):
        raise PermissionDenied("Only the company the request is addressed to may report the connection.")
    current = record_select_for_update(request)
    return record_transition(
        instance=current,
        field_name="status",
        to=UtilityRequestStatus.CONNECTED,
        allowed=REQUEST_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
    )


@transaction.atomic
def utility_request_delete(
    *, instance: UtilityRequest, by: User | None, device_id: str = "", expected_version: int | None = None
) -> UtilityRequest:
    """The applicant withdraws an open request (tombstone)."""
    if not utility_can_apply(user=by):
        raise PermissionDenied("Only the applicant's side may withdraw a utility request.")
    current = record_select_for_update(instance)
    if current.deleted_at is None and current.status not in REQUEST_OPEN:
        raise Conflict(f"A {current.status} request cannot be withdrawn.", code="request_not_editable")
    return record_delete(instance=current, by=by, device_id=device_id, expected_version=expected_version)


# --- joint applications ------------------------------------------------------------------


def application_request_id(application_id: uuid.UUID, utility_type: str) -> uuid.UUID:
    """The id of an application's request for one type: the same on every replay and device."""
    return uuid.uuid5(application_id, f"utility_request:{utility_type}")


@transaction.atomic
def utility_application_create(
    *,
    case: ApprovalCase,
    site: Site,
    demands: Any,
    companies: dict[str, Organization] | None = None,
    applicant_name: str = "",
    contact_phone: str = "",
    note: str = "",
    by: User | None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[UtilityApplication, bool]:
    """The joint application: one request per utility type in `demands`, each to one company.

    All or nothing: every demand is validated and every company resolved before anything is
    written, and the application and its requests are written in one transaction.
    """
    existing = _replay(UtilityApplication, record_id, digest)
    if existing is not None:
        return existing, False
    if not utility_can_apply(user=by):
        raise PermissionDenied("Only applicants, officials and the vehicle team make utility applications.")
    _check_case_visible(case=case, by=by)
    _check_site_live(site)
    record_check_case_site(case=case, site=site)
    if not isinstance(demands, dict) or not demands:
        raise ValidationFailed(
            "demands must name at least one utility.",
            errors={"demands": [f"An object keyed by utility type ({', '.join(UtilityType.values)})."]},
        )
    companies = companies or {}
    errors: dict[str, list[str]] = {}
    for name in sorted(set(demands) | set(companies)):
        if name not in UtilityType.values:
            key = "demands" if name in demands else "companies"
            errors[f"{key}.{name}"] = [f"Unknown utility type; use: {', '.join(UtilityType.values)}."]
    for name in sorted(set(companies) - set(demands)):
        errors.setdefault(f"companies.{name}", ["No demand for this utility."])
    prepared: dict[str, tuple[dict, Organization]] = {}
    no_company: list[str] = []
    for utility_type in (t for t in UtilityType.values if t in demands):
        try:
            demand = validate_demand(
                utility_type=utility_type, demand=demands[utility_type], prefix=f"demands.{utility_type}"
            )
        except ValidationFailed as error:
            errors.update(error.errors or {})
            continue
        try:
            company = utility_company_for(utility_type=utility_type, case=case, named=companies.get(utility_type))
        except ApplicationError as error:
            errors[f"companies.{utility_type}"] = (error.errors or {}).get("company", [error.message])
            if error.code == "no_company_for_type":
                no_company.append(utility_type)
            continue
        prepared[utility_type] = (demand, company)
    if errors:
        only_companies = no_company and all(k in {f"companies.{t}" for t in no_company} for k in errors)
        raise ValidationFailed(
            "The application is invalid; nothing was saved.",
            code="no_company_for_type" if only_companies else "validation_error",
            errors=errors,
        )
    Site.objects.select_for_update().filter(pk=site.pk).first()
    for utility_type in prepared:
        _check_no_open_request(site=site, utility_type=utility_type, key=f"demands.{utility_type}")

    def fan_out(application: UtilityApplication) -> None:
        for utility_type, (demand, company) in prepared.items():
            _insert_request(
                case=case,
                site=site,
                utility_type=utility_type,
                demand=demand,
                company=company,
                application=application,
                applicant_name=applicant_name,
                contact_phone=contact_phone,
                by=by,
                device_id=device_id,
                record_id=application_request_id(application.pk, utility_type),
                digest="",
            )

    try:
        return record_create(
            model=UtilityApplication,
            fields={
                "case": case,
                "site": site,
                "applicant_name": applicant_name,
                "contact_phone": contact_phone,
                "note": note,
            },
            by=by,
            device_id=device_id,
            record_id=record_id,
            digest=digest,
            after_create=fan_out,
        )
    except IntegrityError as error:
        if "utility_request_one_open_per_site_and_type" in str(error):
            raise Conflict(
                "The site already has an open request for one of these utilities.", code="utility_request_exists"
            ) from error
        raise


# --- access points -----------------------------------------------------------------------

POINT_EDITABLE_FIELDS = ("name", "location", "attributes", "note", "request")

POINT_TRANSITIONS: dict[str, set[str]] = {
    UtilityPointStatus.PROPOSED: {UtilityPointStatus.SURVEYED},
    UtilityPointStatus.SURVEYED: {UtilityPointStatus.AGREED},
    UtilityPointStatus.AGREED: {UtilityPointStatus.CONNECTED},
}
# Agreeing a connection and reporting it done are the company's acts; a survey is anyone's.
COMPANY_ONLY_STATUSES = frozenset({UtilityPointStatus.AGREED, UtilityPointStatus.CONNECTED})


def _check_point_location(location: Any) -> GEOSGeometry:
    if not isinstance(location, GEOSGeometry) or location.geom_type != "Point":
        raise InvalidGeometry("location must be a Point.")
    if location.srid is None:
        location = location.clone()
        location.srid = 4326
    if location.srid != 4326:
        raise InvalidGeometry(f"location must be in WGS84 (srid 4326), got srid {location.srid}.")
    if location.empty or not (-180 <= location.x <= 180 and -90 <= location.y <= 90):
        raise InvalidGeometry("location lies outside -180..180 / -90..90.")
    return location


def _point_company(
    *,
    case: ApprovalCase,
    utility_type: str,
    company: Organization | None,
    request: UtilityRequest | None,
    by: User | None,
) -> Organization:
    if request is not None:
        errors = {}
        if request.case_id != case.pk:
            errors["request"] = ["The request belongs to another case."]
        elif request.utility_type != utility_type:
            errors["request"] = [f"The request is for {request.utility_type}, not {utility_type}."]
        elif company is not None and company.pk != request.company_id:
            errors["company"] = ["The point's company is the company of its request."]
        if errors:
            raise ValidationFailed("The point does not match its request.", errors=errors)
        company = request.company
    if not _is_admin(by) and _kind(by) == OrganizationKind.UTILITY_COMPANY:
        own = by.organization
        if utility_type not in own.utility_types:
            raise PermissionDenied(f"{own.name} does not serve {utility_type}.")
        if company is not None and company.pk != own.pk:
            raise ValidationFailed(
                "A utility company records its own access points.",
                errors={"company": ["Must be your own company."]},
            )
        return own
    return utility_company_for(utility_type=utility_type, case=case, named=company)


@transaction.atomic
def utility_point_create(
    *,
    case: ApprovalCase,
    utility_type: str,
    location: GEOSGeometry,
    company: Organization | None = None,
    request: UtilityRequest | None = None,
    name: str = "",
    attributes: Any = None,
    note: str = "",
    by: User | None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[UtilityPoint, bool]:
    """A proposed access point; its company comes from its request, the recording company, or
    the company serving its type (utility_company_for)."""
    existing = _replay(UtilityPoint, record_id, digest)
    if existing is not None:
        return existing, False
    if not utility_can_record_points(user=by):
        raise PermissionDenied("Only utility companies, survey crews and officials record access points.")
    _check_case_visible(case=case, by=by)
    location = _check_point_location(location)
    attributes = validate_attributes(utility_type=utility_type, attributes={} if attributes is None else attributes)
    company = _point_company(case=case, utility_type=utility_type, company=company, request=request, by=by)
    return record_create(
        model=UtilityPoint,
        fields={
            "case": case,
            "utility_type": utility_type,
            "company": company,
            "request": request,
            "name": name,
            "location": location,
            "status": UtilityPointStatus.PROPOSED,
            "attributes": attributes,
            "note": note,
        },
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=lambda point: _assign_company(case, company),
    )


def _check_point_editor(point: UtilityPoint, by: User | None) -> None:
    if not utility_can_record_points(user=by):
        raise PermissionDenied("Only utility companies, survey crews and officials change access points.")
    if _kind(by) == OrganizationKind.UTILITY_COMPANY and not _is_admin(by) and not _is_member_of(by, point.company_id):
        raise PermissionDenied("Only the point's own company may change it.")


@transaction.atomic
def utility_point_update(
    *,
    instance: UtilityPoint,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> UtilityPoint:
    _check_point_editor(instance, by)
    _refuse_fields(changes, POINT_EDITABLE_FIELDS)
    changes = dict(changes)
    if "location" in changes:
        changes["location"] = _check_point_location(changes["location"])
    if "attributes" in changes:
        changes["attributes"] = validate_attributes(
            utility_type=instance.utility_type,
            attributes={} if changes["attributes"] is None else changes["attributes"],
        )
    request = changes.get("request")
    if request is not None and (
        request.case_id != instance.case_id
        or request.utility_type != instance.utility_type
        or request.company_id != instance.company_id
    ):
        raise ValidationFailed(
            "The point does not match the request.",
            errors={"request": ["The request must be of the same case, utility type and company."]},
        )
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


@transaction.atomic
def utility_point_transition(
    *,
    point: UtilityPoint,
    to: str,
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> UtilityPoint:
    """proposed → surveyed → agreed → connected; nothing else. Agreed and connected are set by
    the point's company. A point connected under an accepted request marks the request connected."""
    _check_point_editor(point, by)
    if to not in UtilityPointStatus.values:
        raise ValidationFailed(
            f"Unknown status {to!r:.40}.",
            errors={"status": [f"Must be one of: {', '.join(UtilityPointStatus.values)}."]},
        )
    if to in COMPANY_ONLY_STATUSES and not _is_admin(by) and not _is_member_of(by, point.company_id):
        raise PermissionDenied(f"Only the point's company may set it {to}.")
    current = record_select_for_update(point)
    updated = record_transition(
        instance=current,
        field_name="status",
        to=to,
        allowed=POINT_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
    )
    if (
        to == UtilityPointStatus.CONNECTED
        and updated.request_id is not None
        and updated.request.status == UtilityRequestStatus.ACCEPTED
        and updated.request.deleted_at is None
    ):
        utility_request_mark_connected(request=updated.request, by=by, device_id=device_id)
    return updated


@transaction.atomic
def utility_point_delete(
    *, instance: UtilityPoint, by: User | None, device_id: str = "", expected_version: int | None = None
) -> UtilityPoint:
    _check_point_editor(instance, by)
    if instance.status == UtilityPointStatus.CONNECTED:
        raise Conflict("A connected access point cannot be deleted.", code="point_connected")
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)
