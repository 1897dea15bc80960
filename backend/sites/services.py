"""Writes of red-line sites. The same functions serve REST, sync push, imports and the admin.

Sites are field records (backend.records): creation is exactly-once by client id,
updates bump the version under a row lock, deletion leaves a tombstone, and every change is
audited, which is also what feeds sync pull.
"""

import uuid
from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from django.db import IntegrityError, connection, transaction

from backend.accounts.models import OrganizationKind, Role, User
from backend.cases.models import ApprovalCase, Project
from backend.cases.selectors import cases_visible_to, projects_visible_to
from backend.common.errors import InvalidGeometry, NotFound, PermissionDenied, ValidationFailed
from backend.common.geometry import MAX_VERTICES, POLYGONAL
from backend.records.services import record_create, record_delete, record_update
from backend.sites.models import Site

SITE_WRITABLE_FIELDS = frozenset({"project", "case", "name", "address", "boundary"})


def site_can_edit(*, user: User | None) -> bool:
    """Officials of approval departments and survey crews draw red lines; builders and others read."""
    if user is None:  # system code: imports, demo data
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_administrator:
        return True
    kind = user.organization_kind
    if kind == OrganizationKind.SURVEY_CREW:
        return True
    return kind == OrganizationKind.APPROVAL_DEPARTMENT and bool({Role.OFFICIAL, Role.BACK_OFFICE} & set(user.roles))


def _require_editor(user: User | None) -> None:
    if not site_can_edit(user=user):
        raise PermissionDenied("Only approval officials and survey crews may draw or change sites.")


def geodesic_area_m2(*, boundary: GEOSGeometry) -> float:
    """Area on the WGS84 spheroid, computed by PostGIS: the one definition of `area_m2`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_Area(ST_GeomFromEWKB(%s)::geography)", [bytes(boundary.ewkb)])
        return float(cursor.fetchone()[0])


def site_check_boundary(boundary: Any) -> GEOSGeometry:
    """Refuse (never repair) a boundary that is not a valid WGS84 polygon.

    API input was parsed by backend.common.geometry.parse_geometry already; this guards
    callers that build GEOS objects themselves (the admin's map widget, imports).
    """
    if not isinstance(boundary, GEOSGeometry):
        raise InvalidGeometry("boundary must be a geometry.")
    if boundary.geom_type not in POLYGONAL:
        raise InvalidGeometry(
            f"geometry type {boundary.geom_type} is not allowed here; expected one of: {', '.join(POLYGONAL)}."
        )
    if boundary.srid is None:
        boundary = boundary.clone()
        boundary.srid = 4326
    if boundary.srid != 4326:
        raise InvalidGeometry(f"boundary must be in WGS84 (srid 4326), got srid {boundary.srid}.")
    if boundary.num_coords > MAX_VERTICES:
        raise InvalidGeometry(f"geometry has more than {MAX_VERTICES} vertices.")
    if boundary.empty:
        raise InvalidGeometry("geometry is empty.")
    min_lon, min_lat, max_lon, max_lat = boundary.extent
    if min_lon < -180 or max_lon > 180 or min_lat < -90 or max_lat > 90:
        raise InvalidGeometry("boundary lies outside -180..180 / -90..90.")
    if not boundary.valid:
        raise InvalidGeometry(f"invalid geometry: {boundary.valid_reason}.")
    return boundary


def _project_and_case(
    *, project: Project | None, case: ApprovalCase | None, by: User | None
) -> tuple[Project, ApprovalCase | None]:
    """The case decides the project; a project given with it must be the same one."""
    if case is not None:
        if by is not None and not cases_visible_to(user=by).filter(pk=case.pk).exists():
            raise NotFound("No such case.")
        if project is not None and project.pk != case.project_id:
            raise ValidationFailed(
                "The case belongs to another project.",
                code="case_project_mismatch",
                errors={"case": [f"Case {case.external_no} belongs to another project than {project.code}."]},
            )
        return case.project, case
    if project is None:
        raise ValidationFailed("A site needs a project or a case.", errors={"project": ["Give a project or a case."]})
    if by is not None and not projects_visible_to(user=by).filter(pk=project.pk).exists():
        raise NotFound("No such project.")
    return project, None


def _database_refusal(error: IntegrityError) -> InvalidGeometry | None:
    # The CHECK constraints mirror site_check_boundary; reaching them means GEOS and PostGIS
    # disagree on an edge case. Still the client's geometry, never a 500.
    if "sites_site_boundary" in str(error):
        return InvalidGeometry("The database refused the boundary as invalid.")
    return None


@transaction.atomic
def site_create(
    *,
    name: str,
    boundary: GEOSGeometry,
    project: Project | None = None,
    case: ApprovalCase | None = None,
    address: str = "",
    by: User | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Site, bool]:
    """Create a site once; returns (site, created). A replay of the same client id and content
    returns the stored site; the same id with other content raises IdConflict."""
    _require_editor(by)
    project, case = _project_and_case(project=project, case=case, by=by)
    boundary = site_check_boundary(boundary)
    fields = {
        "project": project,
        "case": case,
        "name": name,
        "address": address,
        "boundary": boundary,
        "area_m2": geodesic_area_m2(boundary=boundary),
    }
    try:
        return record_create(model=Site, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest)
    except IntegrityError as error:
        refusal = _database_refusal(error)
        if refusal is None:
            raise
        raise refusal from error


@transaction.atomic
def site_update(
    *,
    instance: Site,
    changes: dict[str, Any],
    by: User | None = None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Site:
    """Change the given fields; recomputes `area_m2` when the boundary changes."""
    _require_editor(by)
    unknown = set(changes) - SITE_WRITABLE_FIELDS
    if unknown:
        raise ValidationFailed(
            "Read-only or unknown fields.",
            code="read_only_field",
            errors={name: ["This field cannot be written."] for name in sorted(unknown)},
        )
    changes = dict(changes)
    if "project" in changes or "case" in changes:
        case = changes["case"] if "case" in changes else instance.case
        if "project" in changes:
            project = changes["project"]
        elif case is not None:
            project = None  # follows the case
        else:
            project = instance.project
        changes["project"], changes["case"] = _project_and_case(project=project, case=case, by=by)
    if "boundary" in changes:
        changes["boundary"] = site_check_boundary(changes["boundary"])
        changes["area_m2"] = geodesic_area_m2(boundary=changes["boundary"])
    try:
        with transaction.atomic():
            return record_update(
                instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
            )
    except IntegrityError as error:
        refusal = _database_refusal(error)
        if refusal is None:
            raise
        raise refusal from error


@transaction.atomic
def site_delete(
    *, instance: Site, by: User | None = None, device_id: str = "", expected_version: int | None = None
) -> Site:
    """Soft-delete: the tombstone tells devices the site is gone; records keep their link."""
    _require_editor(by)
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)
