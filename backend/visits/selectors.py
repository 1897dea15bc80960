"""Reads of vehicles, visits and tracks, scoped to the user.

- vehicles: administrators all; approval officials those of teams in their jurisdiction (team
  region under the official's region); a vehicle team its own;
- visits: administrators all; a vehicle team the visits of its vehicles; utility companies none;
  everyone else the visits of the cases they may see (cases_visible_to);
- booking requests and service plans: administrators all; utility companies none; everyone else
  those of the cases they may see (cases_visible_to: builders their own);
- availability of a vehicle: whoever sees the vehicle, and builders (who book it) any active
  vehicle; a booked window names its visit only to those who may see that visit, to everyone else
  it is just busy;
- records made during a visit: the case's records created between arrival and completion by the
  vehicle team or by a team member named in the visit, each type scoped by its own selector.
"""

import datetime as dt
import json
import re
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import CharField, Q, QuerySet, Value
from django.utils import timezone

from backend.accounts.models import OrganizationKind, User
from backend.cases.deadlines import WorkingCalendar, calendar_from_days, horizon_error
from backend.cases.models import CalendarDay
from backend.cases.selectors import on_cases_visible_to
from backend.common.errors import ValidationFailed
from backend.records.registry import RECORD_TYPES
from backend.visits.models import VISIT_MAX_DURATION, BookingRequest, ServicePlan, Vehicle, Visit, VisitStatus

TRACK_MAX_RANGE = dt.timedelta(days=7)
AVAILABILITY_MAX_RANGE = dt.timedelta(days=31)


def vehicles_visible_to(*, user: User) -> QuerySet[Vehicle]:
    qs = Vehicle.objects.select_related("team")
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    kind = user.organization_kind
    if kind == OrganizationKind.VEHICLE_TEAM:
        return qs.filter(team_id=user.organization_id)
    if kind == OrganizationKind.APPROVAL_DEPARTMENT:
        region = user.organization.region
        return qs.filter(team__region__startswith=region) if region else qs
    return qs.none()


def visits_visible_to(*, user: User) -> QuerySet[Visit]:
    qs = Visit.objects.select_related("vehicle")
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    kind = user.organization_kind
    if kind is None or kind == OrganizationKind.UTILITY_COMPANY:
        return qs.none()
    if kind == OrganizationKind.VEHICLE_TEAM:
        return qs.filter(vehicle__team_id=user.organization_id)
    return on_cases_visible_to(qs, user=user)


def visits_overlapping(*, vehicle: Vehicle, start: dt.datetime, end: dt.datetime) -> QuerySet[Visit]:
    """The vehicle's live visits, not cancelled, whose booked time overlaps [start, end) (not user-scoped).

    A visit lasts at most VISIT_MAX_DURATION, so one overlapping `start` began after
    start - VISIT_MAX_DURATION: both ends of the (vehicle, scheduled_for) index range are bounded.
    """
    return Visit.objects.filter(
        vehicle=vehicle,
        scheduled_for__gt=start - dt.timedelta(minutes=VISIT_MAX_DURATION),
        scheduled_for__lt=end,
        scheduled_until__gt=start,
    ).exclude(status=VisitStatus.CANCELLED)


def vehicles_for_availability(*, user: User) -> QuerySet[Vehicle]:
    """The vehicles whose free and busy times `user` may ask for."""
    visible = vehicles_visible_to(user=user)
    if user is not None and user.is_authenticated and user.is_active:
        if user.organization_kind == OrganizationKind.BUILDER:
            return Vehicle.objects.select_related("team").filter(is_active=True)
    return visible


def booking_requests_visible_to(*, user: User) -> QuerySet[BookingRequest]:
    qs = BookingRequest.objects.select_related("case", "case__project")
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    kind = user.organization_kind
    if kind is None or kind == OrganizationKind.UTILITY_COMPANY:
        return qs.none()
    return on_cases_visible_to(qs, user=user)


def service_plans_visible_to(*, user: User) -> QuerySet[ServicePlan]:
    qs = ServicePlan.objects.select_related("case", "vehicle")
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    kind = user.organization_kind
    if kind is None or kind == OrganizationKind.UTILITY_COMPANY:
        return qs.none()
    if kind == OrganizationKind.VEHICLE_TEAM:
        return qs.filter(vehicle__team_id=user.organization_id)
    return on_cases_visible_to(qs, user=user)


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def working_hours() -> tuple[dt.time, dt.time, zoneinfo.ZoneInfo]:
    """VISIT_WORKING_HOURS ("08:30-17:30") in VISIT_WORKING_TIME_ZONE."""
    match = _HOURS.match(settings.VISIT_WORKING_HOURS.strip())
    if match is None:
        raise ImproperlyConfigured(f"VISIT_WORKING_HOURS must be HH:MM-HH:MM, not {settings.VISIT_WORKING_HOURS!r}.")
    start = dt.time(int(match.group(1)), int(match.group(2)))
    end_hour, end_minute = int(match.group(3)), int(match.group(4))
    end = dt.time(23, 59, 59) if end_hour == 24 else dt.time(end_hour, end_minute)
    if end <= start:
        raise ImproperlyConfigured("VISIT_WORKING_HOURS must end after it starts.")
    return start, end, zoneinfo.ZoneInfo(settings.VISIT_WORKING_TIME_ZONE)


def time_range_check(
    *, start: dt.datetime | None, end: dt.datetime | None, longest: dt.timedelta, what: str
) -> tuple[dt.datetime, dt.datetime]:
    """`from` and `to` both given, in order, at most `longest` apart (`what`: "Availability", "A track")."""
    errors = {}
    if start is None:
        errors["from"] = ["Required: an ISO 8601 timestamp with offset."]
    if end is None:
        errors["to"] = ["Required: an ISO 8601 timestamp with offset."]
    if errors:
        raise ValidationFailed(f"{what} needs a time range (from, to).", code="range_required", errors=errors)
    if end <= start:
        raise ValidationFailed("`to` must be after `from`.", code="invalid_range", errors={"to": ["Before from."]})
    if end - start > longest:
        raise ValidationFailed(
            f"{what} covers at most {longest.days} days.",
            code="range_too_long",
            errors={"to": [f"At most {longest.days} days after from."]},
        )
    return start, end


def availability_range_check(*, start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    return time_range_check(start=start, end=end, longest=AVAILABILITY_MAX_RANGE, what="Availability")


def _calendar_over(first: dt.date, last: dt.date) -> WorkingCalendar:
    rows = (
        CalendarDay.objects.filter(date__gte=first, date__lte=last).order_by("date").values_list("date", "is_workday")
    )
    calendar = calendar_from_days(rows, start=first)
    if calendar.last < last:
        horizon = CalendarDay.objects.order_by("-date").values_list("date", flat=True).first()
        known = WorkingCalendar(first=first, last=horizon or first - dt.timedelta(days=1), workdays=frozenset())
        raise horizon_error(known, last, purpose="vehicle availability")
    return calendar


def vehicle_availability(
    *, vehicle: Vehicle, user: User, start: dt.datetime | None, end: dt.datetime | None
) -> dict[str, Any]:
    """Free and booked windows of the vehicle in [start, end), in time order.

    Booked: every live visit that is not cancelled and overlaps the range, with its whole booked
    time; `visit` names it ({id, case, status, purpose}) only if `user` may see the visit, else
    null (busy). Free: the working hours of each working day (the national calendar: weekends and
    holidays are not free, make-up workdays are) within the range, minus the booked times.
    """
    start, end = availability_range_check(start=start, end=end)
    day_start, day_end, zone = working_hours()
    booked = list(
        visits_overlapping(vehicle=vehicle, start=start, end=end)
        .order_by("scheduled_for")
        .values("id", "case_id", "status", "purpose", "scheduled_for", "scheduled_until")
    )
    seen = set(visits_visible_to(user=user).filter(pk__in=[row["id"] for row in booked]).values_list("pk", flat=True))
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    calendar = _calendar_over(first, last)
    free: list[tuple[dt.datetime, dt.datetime]] = []
    day = first
    while day <= last:
        if calendar.is_workday(day):
            opens = max(dt.datetime.combine(day, day_start, tzinfo=zone), start)
            closes = min(dt.datetime.combine(day, day_end, tzinfo=zone), end)
            cursor = opens
            for row in booked:
                if row["scheduled_until"] <= cursor or row["scheduled_for"] >= closes:
                    continue
                if row["scheduled_for"] > cursor:
                    free.append((cursor, row["scheduled_for"]))
                cursor = max(cursor, row["scheduled_until"])
            if cursor < closes:
                free.append((cursor, closes))
        day += dt.timedelta(days=1)

    def iso(value: dt.datetime) -> str:
        return value.astimezone(zone).isoformat()

    windows = [{"status": "free", "start": iso(a), "end": iso(b), "visit": None} for a, b in free]
    windows += [
        {
            "status": "booked",
            "start": iso(row["scheduled_for"]),
            "end": iso(row["scheduled_until"]),
            "visit": {
                "id": str(row["id"]),
                "case": str(row["case_id"]),
                "status": row["status"],
                "purpose": row["purpose"],
            }
            if row["id"] in seen
            else None,
        }
        for row in booked
    ]
    windows.sort(key=lambda window: (window["start"], window["status"]))
    return {
        "vehicle": str(vehicle.pk),
        "plate": vehicle.plate,
        "from": iso(start),
        "to": iso(end),
        "time_zone": str(zone),
        "working_hours": settings.VISIT_WORKING_HOURS,
        "windows": windows,
    }


def _team_user_ids(visit: Visit) -> list[uuid.UUID]:
    team = visit.team or {}
    values = [team.get("lead"), *(team.get("agents") or []), *(team.get("approvers") or [])]
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return ids


def visit_records_page(*, visit: Visit, user: User, offset: int, limit: int) -> tuple[int, list[tuple[str, Any]]]:
    """The records made during the visit that `user` may see, oldest first: (type, record) pairs.

    Made during the visit = same case, created from arrival on site (`started_at`) until
    completion (`ended_at`, or now while on site), by a member of the vehicle team's
    organisation or by a user named in the visit's team. Nothing before arrival.
    """
    if visit.started_at is None:
        return 0, []
    until = visit.ended_at or timezone.now()
    made_by = Q(created_by__organization_id=visit.vehicle.team_id)
    team_ids = _team_user_ids(visit)
    if team_ids:
        made_by |= Q(created_by_id__in=team_ids)
    parts = []
    for name, record_type in RECORD_TYPES.items():
        if name == "visit":
            continue
        parts.append(
            record_type.visible_to(user=user)
            .filter(made_by, case_id=visit.case_id, created_at__gte=visit.started_at, created_at__lte=until)
            # Not "record_type": photos and signatures have a field of that name.
            .annotate(visit_record_kind=Value(name, output_field=CharField()))
            .values_list("created_at", "id", "visit_record_kind")
            .order_by()
        )
    if not parts:
        return 0, []
    union = parts[0].union(*parts[1:], all=True)
    total = union.count()
    keys = list(union.order_by("created_at", "id")[offset : offset + limit])
    wanted: dict[str, list] = {}
    for _created, record_id, name in keys:
        wanted.setdefault(name, []).append(record_id)
    records = {}
    for name, ids in wanted.items():
        for record in RECORD_TYPES[name].model.objects.filter(pk__in=ids):
            records[(name, record.pk)] = record
    return total, [(name, records[(name, rid)]) for _c, rid, name in keys if (name, rid) in records]


def track_range_check(*, start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    return time_range_check(start=start, end=end, longest=TRACK_MAX_RANGE, what="A track")


_TRACK_SQL = """
SELECT ST_AsGeoJSON(ST_MakeLine(location ORDER BY recorded_at), 7),
       count(*),
       min(recorded_at),
       max(recorded_at),
       ST_Length(ST_MakeLine(location ORDER BY recorded_at)::geography)
FROM visits_vehicleposition
WHERE vehicle_id = %s AND recorded_at >= %s AND recorded_at <= %s
"""


def vehicle_track_feature(*, vehicle: Vehicle, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The vehicle's path in [start, end] as a GeoJSON Feature; the LineString is built in PostGIS.

    Fewer than two positions make no line: the geometry is then null.
    """
    start, end = track_range_check(start=start, end=end)
    with connection.cursor() as cursor:
        cursor.execute(_TRACK_SQL, [vehicle.pk, start, end])
        geojson, count, first, last, length = cursor.fetchone()
    return {
        "type": "Feature",
        "id": str(vehicle.pk),
        "geometry": json.loads(geojson) if geojson and count >= 2 else None,
        "properties": {
            "vehicle": str(vehicle.pk),
            "plate": vehicle.plate,
            "from": timezone.localtime(start).isoformat(),
            "to": timezone.localtime(end).isoformat(),
            "point_count": count,
            "started_at": timezone.localtime(first).isoformat() if first else None,
            "ended_at": timezone.localtime(last).isoformat() if last else None,
            "length_m": round(length, 1) if length is not None and count >= 2 else 0.0,
        },
    }
