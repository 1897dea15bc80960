"""Writes of vehicle visits and tracks. REST, sync push, the admin and the demo call these.

- A visit is booked for a key project's case (WeChat, phone or on site) with a vehicle and its
  team; booking assigns the vehicle team to the case. Its status moves
  booked → en_route → on_site → completed, or to cancelled before arrival.
- A visit books its vehicle for [scheduled_for, scheduled_until) (a start and a duration); one
  vehicle is never booked twice for overlapping times. PostgreSQL enforces it (the exclusion
  constraint VISIT_NO_OVERLAP; cancelled visits and tombstones do not count), so concurrent
  bookings cannot both win; its refusal becomes 409 `vehicle_booked` naming the clashing visit,
  whichever entry point (REST, sync push, a booking request's confirmation, a service plan) booked.
- A vehicle's track arrives in batches of up to 10 000 positions, from the vehicle's team; a
  re-sent batch inserts nothing twice (unique (vehicle, recorded_at), ON CONFLICT DO NOTHING).
"""

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from backend.accounts.models import OrganizationKind, User
from backend.cases.models import ApprovalCase
from backend.cases.selectors import cases_visible_to
from backend.cases.services import case_organizations_add
from backend.common.errors import ApplicationError, Conflict, NotFound, PermissionDenied, ValidationFailed
from backend.common.geometry import GCJ02, gcj02_to_wgs84_array, parse_coord_system
from backend.common.locks import advisory_transaction_lock
from backend.records.services import (
    record_check_case_site,
    record_create,
    record_delete,
    record_select_for_update,
    record_transition,
    record_update,
)
from backend.visits.models import (
    VISIT_DEFAULT_DURATION,
    VISIT_MAX_DURATION,
    VISIT_MIN_DURATION,
    VISIT_NO_OVERLAP,
    BookingChannel,
    Vehicle,
    Visit,
    VisitPurpose,
    VisitStatus,
)
from backend.visits.selectors import visits_overlapping

TRACK_MAX_BATCH = 10_000
# A device clock a little ahead is tolerated; a fix from tomorrow is a broken clock.
TRACK_MAX_FUTURE = dt.timedelta(minutes=10)

VISIT_TRANSITIONS: dict[str, set[str]] = {
    VisitStatus.BOOKED: {VisitStatus.EN_ROUTE, VisitStatus.ON_SITE, VisitStatus.CANCELLED},
    VisitStatus.EN_ROUTE: {VisitStatus.ON_SITE, VisitStatus.CANCELLED},
    VisitStatus.ON_SITE: {VisitStatus.COMPLETED},
    VisitStatus.COMPLETED: set(),
    VisitStatus.CANCELLED: set(),
}
VISIT_WRITABLE_FIELDS = frozenset(
    {"site", "scheduled_for", "duration_minutes", "booked_via", "purpose", "team", "remarks", "vehicle"}
)
# Where the visit goes, when and with which vehicle is fixed once the vehicle has left.
VISIT_BOOKING_FIELDS = frozenset({"site", "scheduled_for", "duration_minutes", "booked_via", "vehicle"})
TEAM_KEYS = ("lead", "agents", "approvers")


# --- permissions -------------------------------------------------------------------------


def visit_can_manage(*, user: User | None, vehicle: Vehicle) -> bool:
    """Administrators, approval officials, and the team that drives the vehicle."""
    if user is None:
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_administrator:
        return True
    kind = user.organization_kind
    if kind == OrganizationKind.VEHICLE_TEAM:
        return user.organization_id == vehicle.team_id
    return kind == OrganizationKind.APPROVAL_DEPARTMENT


def _require_manager(*, user: User | None, vehicle: Vehicle) -> None:
    if not visit_can_manage(user=user, vehicle=vehicle):
        raise PermissionDenied("Only approval officials and the vehicle's team manage its visits.")


def _require_case_visible(*, user: User | None, case: ApprovalCase) -> None:
    if user is not None and not cases_visible_to(user=user).filter(pk=case.pk).exists():
        raise NotFound("No such approval case.")


# --- validation ----------------------------------------------------------------------------


def _check_writable(changes: Mapping[str, Any]) -> None:
    refused = sorted(set(changes) - VISIT_WRITABLE_FIELDS)
    if refused:
        raise ValidationFailed(
            f"These fields cannot be written: {', '.join(refused)}.",
            code="read_only_field",
            errors={name: ["Read-only."] for name in refused},
        )


def visit_clean_purpose(purpose: Any) -> list[str]:
    if not isinstance(purpose, list | tuple) or not purpose:
        raise ValidationFailed(
            "Name at least one purpose.", code="validation_error", errors={"purpose": ["At least one purpose."]}
        )
    unknown = [value for value in purpose if value not in VisitPurpose.values]
    if unknown:
        raise ValidationFailed(
            f"Unknown purpose: {', '.join(map(str, unknown))[:100]}.",
            code="validation_error",
            errors={"purpose": [f"One of: {', '.join(VisitPurpose.values)}."]},
        )
    return list(dict.fromkeys(purpose))


def visit_clean_team(team: Any) -> dict[str, Any]:
    """{"lead": str|null, "agents": [str], "approvers": [str]}: user ids or names (班长, 代办员, 审批员)."""
    if team is None:
        return {"lead": None, "agents": [], "approvers": []}

    def fail(message: str) -> ValidationFailed:
        return ValidationFailed(message, code="validation_error", errors={"team": [message]})

    if not isinstance(team, dict):
        raise fail('team must be an object {"lead", "agents", "approvers"}.')
    unknown = sorted(set(team) - set(TEAM_KEYS))
    if unknown:
        raise fail(f"Unknown team keys: {', '.join(map(str, unknown))[:100]}.")
    lead = team.get("lead")
    if lead is not None and (not isinstance(lead, str) or not lead.strip() or len(lead) > 100):
        raise fail("lead must be a user id or a name (at most 100 characters).")
    cleaned: dict[str, Any] = {"lead": lead.strip() if lead else None}
    for key in ("agents", "approvers"):
        members = team.get(key) or []
        if not isinstance(members, list) or len(members) > 50:
            raise fail(f"{key} must be a list of at most 50 user ids or names.")
        if any(not isinstance(member, str) or not member.strip() or len(member) > 100 for member in members):
            raise fail(f"{key} must hold user ids or names (at most 100 characters each).")
        cleaned[key] = [member.strip() for member in members]
    return cleaned


class VehicleBooked(Conflict):
    """The vehicle is already booked for part of the time; `clashing_visit` names that visit."""

    code = "vehicle_booked"


def visit_clean_duration(duration_minutes: Any) -> int:
    if duration_minutes is None:
        return VISIT_DEFAULT_DURATION
    if (
        isinstance(duration_minutes, bool)
        or not isinstance(duration_minutes, int)
        or not VISIT_MIN_DURATION <= duration_minutes <= VISIT_MAX_DURATION
    ):
        raise ValidationFailed(
            f"A visit lasts {VISIT_MIN_DURATION} to {VISIT_MAX_DURATION} minutes.",
            code="validation_error",
            errors={"duration_minutes": [f"Whole minutes, {VISIT_MIN_DURATION}..{VISIT_MAX_DURATION}."]},
        )
    return duration_minutes


def visit_clean_start(scheduled_for: Any) -> dt.datetime:
    if not isinstance(scheduled_for, dt.datetime) or scheduled_for.tzinfo is None:
        raise ValidationFailed(
            "scheduled_for must be a timestamp with offset.",
            code="validation_error",
            errors={"scheduled_for": ["An ISO 8601 timestamp with offset."]},
        )
    return scheduled_for


def vehicle_booked_error(
    *, vehicle: Vehicle, start: dt.datetime, end: dt.datetime, exclude: Any = None
) -> VehicleBooked:
    """The 409 naming the live visit of `vehicle` that overlaps [start, end) (its id and time)."""
    clash = (
        visits_overlapping(vehicle=vehicle, start=start, end=end).exclude(pk=exclude).order_by("scheduled_for").first()
    )
    if clash is None:  # pragma: no cover - the constraint refused, so a clashing row exists
        return VehicleBooked(f"The vehicle {vehicle.plate} is already booked for part of this time.")
    clash_start, clash_end = timezone.localtime(clash.scheduled_for), timezone.localtime(clash.scheduled_until)
    message = (
        f"The vehicle {vehicle.plate} is already booked from {clash_start.isoformat()} to "
        f"{clash_end.isoformat()} (visit {clash.pk})."
    )
    return VehicleBooked(
        message,
        errors={"scheduled_for": [message]},
        extra={
            "clashing_visit": {
                "id": str(clash.pk),
                "vehicle": str(vehicle.pk),
                "scheduled_for": clash_start.isoformat(),
                "scheduled_until": clash_end.isoformat(),
                "status": clash.status,
            }
        },
    )


def _hold_vehicle(vehicle: Vehicle) -> None:
    """Bookings of one vehicle are written one at a time. The exclusion constraint alone would
    still refuse a double booking, but two transactions inserting overlapping rows at once each
    wait on the other's tentative row and PostgreSQL aborts one as a deadlock instead of
    answering vehicle_booked; with the lock the second sees the first's committed row."""
    advisory_transaction_lock(f"vehicle-booking:{vehicle.pk}")


def _is_overlap(error: IntegrityError) -> bool:
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == VISIT_NO_OVERLAP


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An ISO 8601 string as a datetime; None when it is not one (also for 2026-13-45 …)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:  # well-formed but impossible: month 13, 30 February …
        return None


def _check_vehicle(vehicle: Vehicle) -> None:
    if not vehicle.is_active:
        raise ValidationFailed(
            "The vehicle is out of service.", code="vehicle_inactive", errors={"vehicle": ["Out of service."]}
        )


# --- visits ----------------------------------------------------------------------------------


@transaction.atomic
def visit_create(
    *,
    by: User | None,
    case: ApprovalCase,
    vehicle: Vehicle,
    scheduled_for: dt.datetime,
    booked_via: str,
    purpose: list[str],
    duration_minutes: int | None = None,
    site: Any = None,
    team: Any = None,
    remarks: str = "",
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
    plan: Any = None,
) -> tuple[Visit, bool]:
    """Book the vehicle for a key project's case; the vehicle team joins the case.

    The vehicle must be free for [scheduled_for, scheduled_for + duration): else 409
    `vehicle_booked` naming the visit that holds the time.
    """
    fields = {
        "case": case,
        "site": site,
        "vehicle": vehicle,
        "scheduled_for": scheduled_for,
        "duration_minutes": duration_minutes if duration_minutes is not None else VISIT_DEFAULT_DURATION,
        "plan": plan,
        "booked_via": booked_via,
        "purpose": purpose,
        "team": team,
        "remarks": remarks or "",
        "status": VisitStatus.BOOKED,
    }
    if record_id is not None and Visit.all_objects.filter(pk=record_id).exists():
        return record_create(model=Visit, fields=fields, by=by, record_id=record_id, digest=digest)
    _require_case_visible(user=by, case=case)
    _require_manager(user=by, vehicle=vehicle)
    record_check_case_site(case=case, site=site)
    _check_vehicle(vehicle)
    if booked_via not in BookingChannel.values:
        raise ValidationFailed(
            "Unknown booking channel.", code="validation_error", errors={"booked_via": ["wechat, phone or on_site."]}
        )
    if not case.project.is_key_project:
        raise ValidationFailed(
            "The approval-service vehicle serves key projects (重点项目).",
            code="not_key_project",
            errors={"case": ["The case's project is not a key project."]},
        )
    fields["purpose"] = visit_clean_purpose(purpose)
    fields["team"] = visit_clean_team(team)
    start = visit_clean_start(scheduled_for)
    fields["duration_minutes"] = visit_clean_duration(duration_minutes)
    fields["scheduled_until"] = end = start + dt.timedelta(minutes=fields["duration_minutes"])

    def assign_team(visit: Visit) -> None:
        case_organizations_add(case=case, organizations=[vehicle.team])

    _hold_vehicle(vehicle)
    try:
        return record_create(
            model=Visit,
            fields=fields,
            by=by,
            device_id=device_id,
            record_id=record_id,
            digest=digest,
            after_create=assign_team,
        )
    except IntegrityError as error:
        if _is_overlap(error):
            raise vehicle_booked_error(vehicle=vehicle, start=start, end=end) from error
        raise


@transaction.atomic
def visit_update(
    *,
    instance: Visit,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Visit:
    _check_writable(changes)
    _require_manager(user=by, vehicle=instance.vehicle)
    changes = dict(changes)
    if instance.status in (VisitStatus.COMPLETED, VisitStatus.CANCELLED):
        raise ApplicationError("A finished visit cannot be changed.", code="visit_finished", status=409)
    booking_changes = sorted(
        name for name in VISIT_BOOKING_FIELDS & set(changes) if changes[name] != getattr(instance, name)
    )
    if booking_changes and instance.status != VisitStatus.BOOKED:
        raise ApplicationError(
            f"{', '.join(booking_changes)} cannot change once the vehicle has left.",
            code="visit_started",
            status=409,
        )
    if "purpose" in changes:
        changes["purpose"] = visit_clean_purpose(changes["purpose"])
    if "team" in changes:
        changes["team"] = visit_clean_team(changes["team"])
    if "site" in changes:
        record_check_case_site(case=instance.case, site=changes["site"])
    if "vehicle" in changes and changes["vehicle"] != instance.vehicle:
        _require_manager(user=by, vehicle=changes["vehicle"])
        _check_vehicle(changes["vehicle"])
        case_organizations_add(case=instance.case, organizations=[changes["vehicle"].team])
    if "scheduled_for" in changes:
        changes["scheduled_for"] = visit_clean_start(changes["scheduled_for"])
    if "duration_minutes" in changes:
        changes["duration_minutes"] = visit_clean_duration(changes["duration_minutes"])
    vehicle = changes.get("vehicle", instance.vehicle)
    start = changes.get("scheduled_for", instance.scheduled_for)
    end = start + dt.timedelta(minutes=changes.get("duration_minutes", instance.duration_minutes))
    if end != instance.scheduled_until:
        changes["scheduled_until"] = end
    if booking_changes:
        _hold_vehicle(vehicle)
    try:
        return record_update(
            instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
        )
    except IntegrityError as error:
        if _is_overlap(error):
            raise vehicle_booked_error(vehicle=vehicle, start=start, end=end, exclude=instance.pk) from error
        raise


def _transition_time(*, visit: Visit, to: str, at: dt.datetime | None) -> dt.datetime:
    now = timezone.now()
    if at is None:
        return now
    if at.tzinfo is None or at > now + TRACK_MAX_FUTURE:
        raise ValidationFailed(
            "The time must carry an offset and not be in the future.",
            code="invalid_time",
            errors={"at": ["An ISO 8601 timestamp with offset, not in the future."]},
        )
    previous = {
        VisitStatus.ON_SITE: visit.departed_at,
        VisitStatus.COMPLETED: visit.started_at,
    }.get(to)
    if previous is not None and at < previous:
        raise ValidationFailed(
            "The time is before the visit's previous step.",
            code="invalid_time",
            errors={"at": [f"Not before {timezone.localtime(previous).isoformat()}."]},
        )
    return at


@transaction.atomic
def visit_transition(
    *,
    visit: Visit,
    to: str,
    by: User | None,
    reason: str = "",
    at: dt.datetime | None = None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Visit:
    """Move the visit along booked → en_route → on_site → completed (or → cancelled before arrival).

    `at` is when it happened on the device (an offline tablet syncs later); default now. It may
    not be in the future nor before the previous step.
    """
    if to not in VisitStatus.values:
        raise ValidationFailed(f"Unknown status {to!r:.40}.", code="invalid_status", errors={"status": ["Unknown."]})
    _require_manager(user=by, vehicle=visit.vehicle)
    current = record_select_for_update(visit)
    now = _transition_time(visit=current, to=to, at=at)
    extra: dict[str, Any] = {}
    if to == VisitStatus.EN_ROUTE:
        extra = {"departed_at": now}
    elif to == VisitStatus.ON_SITE:
        extra = {"started_at": now}
    elif to == VisitStatus.COMPLETED:
        extra = {"ended_at": now}
    elif to == VisitStatus.CANCELLED:
        extra = {"cancelled_reason": (reason or "").strip()[:1000]}
    return record_transition(
        instance=current,
        field_name="status",
        to=to,
        allowed=VISIT_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=extra,
    )


@transaction.atomic
def visit_delete(*, visit: Visit, by: User | None, device_id: str = "", expected_version: int | None = None) -> Visit:
    """Only a booking that never started is deleted; otherwise cancel it."""
    _require_manager(user=by, vehicle=visit.vehicle)
    if visit.status != VisitStatus.BOOKED:
        raise ApplicationError(
            "Only a booked visit can be deleted; cancel it instead.", code="visit_started", status=409
        )
    return record_delete(instance=visit, by=by, device_id=device_id, expected_version=expected_version)


# --- tracks ----------------------------------------------------------------------------------


def _number(value: Any, *, name: str, index: int, errors: dict, low: float, high: float, required: bool):
    key = f"positions[{index}].{name}"
    if value is None:
        if required:
            errors[key] = ["Required."]
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors[key] = ["Must be a finite number."]
        return None
    if not low <= value <= high:
        errors[key] = [f"Must be within {low}..{high}."]
        return None
    return float(value)


def track_parse_positions(positions: Any, *, coord_system: str | None = None) -> dict[str, list]:
    """Validate a batch: [{recorded_at, lon, lat, speed?, heading?, accuracy?}, …] → column lists.

    `recorded_at` is ISO 8601 with an offset; lon/lat in the declared coordinate system (GCJ-02
    is converted to WGS84); speed m/s, heading degrees 0–360, accuracy metres.
    """
    coord_system = parse_coord_system(coord_system)
    if not isinstance(positions, list) or not positions:
        raise ValidationFailed(
            "Send a non-empty list of positions.", code="validation_error", errors={"positions": ["Required."]}
        )
    if len(positions) > TRACK_MAX_BATCH:
        raise ApplicationError(
            f"A batch holds at most {TRACK_MAX_BATCH} positions; got {len(positions)}.",
            code="batch_too_large",
            status=413,
        )
    errors: dict[str, list[str]] = {}
    latest = timezone.now() + TRACK_MAX_FUTURE
    columns: dict[str, list] = {"recorded_at": [], "lon": [], "lat": [], "speed": [], "heading": [], "accuracy": []}
    for index, position in enumerate(positions):
        if not isinstance(position, dict):
            errors[f"positions[{index}]"] = ["Must be an object."]
            continue
        raw_time = position.get("recorded_at")
        recorded_at = parse_timestamp(raw_time)
        if recorded_at is None or recorded_at.tzinfo is None:
            errors[f"positions[{index}].recorded_at"] = ["An ISO 8601 timestamp with offset."]
        elif recorded_at > latest:
            errors[f"positions[{index}].recorded_at"] = ["In the future."]
        lon = _number(position.get("lon"), name="lon", index=index, errors=errors, low=-180, high=180, required=True)
        lat = _number(position.get("lat"), name="lat", index=index, errors=errors, low=-90, high=90, required=True)
        speed = _number(
            position.get("speed"), name="speed", index=index, errors=errors, low=0, high=150, required=False
        )
        heading = _number(
            position.get("heading"), name="heading", index=index, errors=errors, low=0, high=360, required=False
        )
        accuracy = _number(
            position.get("accuracy"), name="accuracy", index=index, errors=errors, low=0, high=100_000, required=False
        )
        if len(errors) >= 20:
            break
        columns["recorded_at"].append(recorded_at)
        columns["lon"].append(lon)
        columns["lat"].append(lat)
        columns["speed"].append(speed)
        columns["heading"].append(heading)
        columns["accuracy"].append(accuracy)
    if errors:
        raise ValidationFailed("Some positions are invalid.", code="invalid_positions", errors=errors)
    if coord_system == GCJ02:
        lon, lat = gcj02_to_wgs84_array(np.array(columns["lon"]), np.array(columns["lat"]))
        columns["lon"], columns["lat"] = lon.tolist(), lat.tolist()
    return columns


_INSERT_SQL = """
INSERT INTO visits_vehicleposition (vehicle_id, recorded_at, location, speed, heading, accuracy)
SELECT %s, t.recorded_at, ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326), t.speed, t.heading, t.accuracy
FROM unnest(%s::text[]::timestamptz[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])
     AS t(recorded_at, lon, lat, speed, heading, accuracy)
ON CONFLICT (vehicle_id, recorded_at) DO NOTHING
"""


def vehicle_can_post_track(*, user: User | None, vehicle: Vehicle) -> bool:
    if user is None:
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_administrator or user.organization_id == vehicle.team_id


@transaction.atomic
def vehicle_track_append(
    *, vehicle: Vehicle, positions: Any, by: User | None, coord_system: str | None = None
) -> dict[str, int]:
    """Store a batch of positions; a position already stored (same vehicle and time) is skipped.

    Returns {"received", "accepted", "duplicates"}.
    """
    if not vehicle_can_post_track(user=by, vehicle=vehicle):
        raise PermissionDenied("Only the vehicle's team posts its track.")
    columns = track_parse_positions(positions, coord_system=coord_system)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                vehicle.pk,
                # As ISO text: PostgreSQL parses it far faster than psycopg adapts 10 000 datetimes.
                [value.isoformat() for value in columns["recorded_at"]],
                columns["lon"],
                columns["lat"],
                columns["speed"],
                columns["heading"],
                columns["accuracy"],
            ],
        )
        accepted = cursor.rowcount
    received = len(columns["recorded_at"])
    return {"received": received, "accepted": accepted, "duplicates": received - accepted}
