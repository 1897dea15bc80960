"""Writes of booking requests (预约申请) and monthly service plans (服务计划) for the vehicle.

- A builder files a booking request for its own key project's case (channel `wechat`); the
  service's staff (approval officials, administrators) file one on its behalf for a phone or
  WeChat request. Staff `confirm` it, booking the visit in the same transaction (clash-checked by
  `visit_create`: 409 `vehicle_booked` and nothing written), or `decline` it with a reason. The
  builder's side (its users and whoever filed) and the service's staff are notified each time.
- A service plan books the recurring visits a rule gives for one month of a key project, each
  through `visit_create`. Per occurrence, not all-or-nothing: an occurrence whose time is taken is
  reported as `clash` (naming the visit), one on a non-working day as `not_workday`, one already
  past as `past`, and the others are booked. Bad input (rule, month, permissions, a month past
  the calendar's horizon) refuses the whole plan before anything is written.
"""

import datetime as dt
import re
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import OrganizationKind, Role, User
from backend.cases.deadlines import WorkingCalendar, calendar_from_days, horizon_error
from backend.cases.models import ApprovalCase, CalendarDay
from backend.cases.selectors import cases_visible_to
from backend.common.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from backend.notifications.models import NotificationKind
from backend.notifications.services import notifications_send
from backend.records.services import (
    OFFICIAL_ROLES,
    record_check_case_site,
    record_create,
    record_delete,
    record_select_for_update,
    record_transition,
    record_update,
)
from backend.visits.models import (
    VISIT_MAX_DURATION,
    VISIT_MIN_DURATION,
    BookingChannel,
    BookingRequest,
    BookingRequestStatus,
    ServicePlan,
    Vehicle,
)
from backend.visits.services import (
    VehicleBooked,
    parse_timestamp,
    visit_can_manage,
    visit_clean_duration,
    visit_clean_purpose,
    visit_create,
)

BOOKING_TRANSITIONS: dict[str, set[str]] = {
    BookingRequestStatus.PENDING: {BookingRequestStatus.CONFIRMED, BookingRequestStatus.DECLINED},
    BookingRequestStatus.CONFIRMED: set(),
    BookingRequestStatus.DECLINED: set(),
}
BOOKING_WRITABLE_FIELDS = frozenset({"site", "purpose", "preferred_windows", "channel", "contact", "remarks"})
BOOKING_MAX_WINDOWS = 5
BOOKING_MIN_WINDOW = dt.timedelta(minutes=VISIT_MIN_DURATION)
BOOKING_MAX_WINDOW = dt.timedelta(hours=24)
# Staff file on a builder's behalf for a call or a WeChat message; builders file online (WeChat).
STAFF_CHANNELS = (BookingChannel.PHONE, BookingChannel.WECHAT)
BUILDER_CHANNELS = (BookingChannel.WECHAT,)


# --- who -------------------------------------------------------------------------------------


def booking_is_staff(*, user: User | None) -> bool:
    """The service's staff: administrators and approval officials (`None` is system code)."""
    if user is None:
        return True
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_administrator:
        return True
    return user.organization_kind == OrganizationKind.APPROVAL_DEPARTMENT and bool(OFFICIAL_ROLES & set(user.roles))


def booking_require_staff(user: User | None) -> None:
    if not booking_is_staff(user=user):
        raise PermissionDenied("Only the service's staff (approval officials, administrators) do this.")


def _require_case_visible(*, user: User | None, case: ApprovalCase) -> None:
    if user is not None and not cases_visible_to(user=user).filter(pk=case.pk).exists():
        raise NotFound("No such approval case.")


def _require_key_project(case: ApprovalCase) -> None:
    if not case.project.is_key_project:
        raise ValidationFailed(
            "The approval-service vehicle serves key projects (重点项目).",
            code="not_key_project",
            errors={"case": ["The case's project is not a key project."]},
        )


def _region_covers(region: str, code: str) -> bool:
    return not region or code.startswith(region)


def booking_staff_recipients(*, case: ApprovalCase) -> list[User]:
    """The back office of the approval departments over the project's region, and the leads of
    the vehicle teams there: who arranges the vehicle."""
    code = case.project.region_code
    people = User.objects.filter(is_active=True).select_related("organization")
    back_office = people.filter(
        organization__kind=OrganizationKind.APPROVAL_DEPARTMENT, roles__contains=[Role.BACK_OFFICE]
    )
    leads = people.filter(organization__kind=OrganizationKind.VEHICLE_TEAM, roles__contains=[Role.VEHICLE_LEAD])
    return [user for user in [*back_office, *leads] if _region_covers(user.organization.region, code)]


def booking_builder_recipients(*, request: BookingRequest) -> list[User]:
    """The builder's users, and whoever filed the request (staff filing on its behalf)."""
    people = list(User.objects.filter(is_active=True, organization_id=request.case.project.builder_id))
    if request.created_by_id and request.created_by.is_active:
        people.append(request.created_by)
    return people


def _notify(*, request: BookingRequest, kind: str, recipients: list[User], title: str, body: str = "") -> None:
    notifications_send(
        recipients=recipients,
        kind=kind,
        subject=f"booking_request:{request.pk}",
        day=timezone.localdate(),
        title=title,
        body=body,
        data={"booking_request": str(request.pk), "case": str(request.case_id), "visit": _id(request.visit_id)},
        once=True,
    )


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


# --- validation ------------------------------------------------------------------------------


def booking_clean_windows(windows: Any) -> list[dict[str, str]]:
    """[{"start", "end"}] with offsets, 1..5 windows, each up to a day and not already over."""

    def fail(message: str, key: str = "preferred_windows") -> ValidationFailed:
        return ValidationFailed(message, code="validation_error", errors={key: [message]})

    if not isinstance(windows, list) or not 1 <= len(windows) <= BOOKING_MAX_WINDOWS:
        raise fail(f"Give 1 to {BOOKING_MAX_WINDOWS} preferred windows [{{start, end}}, …].")
    now = timezone.now()
    cleaned = []
    for index, window in enumerate(windows):
        key = f"preferred_windows[{index}]"
        if not isinstance(window, dict) or set(window) - {"start", "end"}:
            raise fail("A window is an object {start, end}.", key)
        values = []
        for name in ("start", "end"):
            raw = window.get(name)
            value = parse_timestamp(raw)
            if value is None or value.tzinfo is None:
                raise fail(f"{name} must be an ISO 8601 timestamp with offset.", f"{key}.{name}")
            values.append(value)
        start, end = values
        if end - start < BOOKING_MIN_WINDOW or end - start > BOOKING_MAX_WINDOW:
            raise fail("end must be 15 minutes to a day after start.", f"{key}.end")
        if end <= now:
            raise fail("The window is already over.", f"{key}.end")
        cleaned.append({"start": timezone.localtime(start).isoformat(), "end": timezone.localtime(end).isoformat()})
    return cleaned


def _clean_channel(*, user: User | None, channel: str) -> str:
    staff = booking_is_staff(user=user)
    allowed = STAFF_CHANNELS if staff else BUILDER_CHANNELS
    if not channel and not staff:
        channel = BookingChannel.WECHAT
    if channel not in allowed:
        who = "Staff file for a phone or WeChat request" if staff else "Builders file online (wechat)"
        raise ValidationFailed(
            f"{who}: channel is one of {', '.join(allowed)}.",
            code="validation_error",
            errors={"channel": [f"One of: {', '.join(allowed)}."]},
        )
    return channel


# --- booking requests ------------------------------------------------------------------------


@transaction.atomic
def booking_request_create(
    *,
    by: User | None,
    case: ApprovalCase,
    purpose: list[str],
    preferred_windows: Any,
    channel: str = "",
    site: Any = None,
    contact: str = "",
    remarks: str = "",
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[BookingRequest, bool]:
    """A builder asks for the vehicle for its own case; or staff ask on its behalf."""
    fields = {
        "case": case,
        "site": site,
        "purpose": purpose,
        "preferred_windows": preferred_windows,
        "channel": channel,
        "contact": contact or "",
        "remarks": remarks or "",
        "status": BookingRequestStatus.PENDING,
    }
    if record_id is not None and BookingRequest.all_objects.filter(pk=record_id).exists():
        return record_create(model=BookingRequest, fields=fields, by=by, record_id=record_id, digest=digest)
    _require_case_visible(user=by, case=case)
    is_builder = by is not None and by.organization_kind == OrganizationKind.BUILDER
    if not (booking_is_staff(user=by) or (is_builder and case.project.builder_id == by.organization_id)):
        raise PermissionDenied("Builders ask for the vehicle for their own cases; the service's staff on their behalf.")
    _require_key_project(case)
    record_check_case_site(case=case, site=site)
    fields["purpose"] = visit_clean_purpose(purpose)
    fields["preferred_windows"] = booking_clean_windows(preferred_windows)
    fields["channel"] = _clean_channel(user=by, channel=channel)
    request, created = record_create(
        model=BookingRequest, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest
    )
    if created:
        title = f"直通车预约申请：{case.external_no}（{case.project.name}）"
        body = "；".join(f"{w['start']} – {w['end']}" for w in request.preferred_windows)
        _notify(
            request=request,
            kind=NotificationKind.BOOKING_REQUESTED,
            recipients=[*booking_staff_recipients(case=case), *booking_builder_recipients(request=request)],
            title=title,
            body=f"期望时间：{body}",
        )
    return request, created


def _require_pending(request: BookingRequest) -> None:
    if request.status != BookingRequestStatus.PENDING:
        raise ApplicationError(
            f"The booking request is already {request.status}.", code="booking_request_decided", status=409
        )


@transaction.atomic
def booking_request_update(
    *,
    instance: BookingRequest,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> BookingRequest:
    """Staff correct a pending request (after a call: other windows, another site …)."""
    booking_require_staff(by)
    refused = sorted(set(changes) - BOOKING_WRITABLE_FIELDS)
    if refused:
        raise ValidationFailed(
            f"These fields cannot be written: {', '.join(refused)}.",
            code="read_only_field",
            errors={name: ["Read-only."] for name in refused},
        )
    _require_pending(instance)
    changes = dict(changes)
    if "purpose" in changes:
        changes["purpose"] = visit_clean_purpose(changes["purpose"])
    if "preferred_windows" in changes:
        changes["preferred_windows"] = booking_clean_windows(changes["preferred_windows"])
    if "channel" in changes:
        changes["channel"] = _clean_channel(user=by, channel=changes["channel"])
    if "site" in changes:
        record_check_case_site(case=instance.case, site=changes["site"])
    return record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


@transaction.atomic
def booking_request_delete(
    *, instance: BookingRequest, by: User | None, device_id: str = "", expected_version: int | None = None
) -> BookingRequest:
    """Staff withdraw a pending request (the builder called it off); a decided one stays."""
    booking_require_staff(by)
    _require_pending(instance)
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)


def _decided(by: User | None) -> dict[str, Any]:
    return {"decided_by": by if getattr(by, "is_authenticated", False) else None, "decided_at": timezone.now()}


@transaction.atomic
def booking_request_confirm(
    *,
    request: BookingRequest,
    by: User | None,
    vehicle: Vehicle,
    scheduled_for: dt.datetime | None = None,
    window: int | None = None,
    duration_minutes: int | None = None,
    team: Any = None,
    remarks: str = "",
    device_id: str = "",
    expected_version: int | None = None,
) -> BookingRequest:
    """Book the visit and mark the request confirmed, in one transaction.

    The visit starts at `scheduled_for`, or at the start of preferred window `window` (default the
    first), for `duration_minutes` (default the window's length, capped at the longest visit).
    The vehicle must be free (409 `vehicle_booked`, nothing written).
    """
    booking_require_staff(by)
    current = record_select_for_update(request)
    _require_pending(current)
    windows = current.preferred_windows or []
    if scheduled_for is None:
        index = 0 if window is None else window
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(windows):
            raise ValidationFailed(
                "No such preferred window.",
                code="validation_error",
                errors={"window": [f"An index 0..{len(windows) - 1} of preferred_windows."]},
            )
        start = dt.datetime.fromisoformat(windows[index]["start"])
        end = dt.datetime.fromisoformat(windows[index]["end"])
        if duration_minutes is None:
            duration_minutes = min(int((end - start).total_seconds() // 60), VISIT_MAX_DURATION)
        scheduled_for = start
    visit, _ = visit_create(
        by=by,
        case=current.case,
        vehicle=vehicle,
        scheduled_for=scheduled_for,
        duration_minutes=visit_clean_duration(duration_minutes),
        booked_via=current.channel,
        purpose=current.purpose,
        site=current.site,
        team=team,
        remarks=remarks or current.remarks,
        device_id=device_id,
    )
    confirmed = record_transition(
        instance=current,
        field_name="status",
        to=BookingRequestStatus.CONFIRMED,
        allowed=BOOKING_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes={"visit": visit, **_decided(by)},
    )
    start = timezone.localtime(visit.scheduled_for)
    team_users = list(User.objects.filter(is_active=True, organization_id=vehicle.team_id))
    _notify(
        request=confirmed,
        kind=NotificationKind.BOOKING_CONFIRMED,
        recipients=[*booking_builder_recipients(request=confirmed), *team_users],
        title=f"直通车预约已确认：{start:%Y-%m-%d %H:%M} {vehicle.plate}",
        body=f"案件 {confirmed.case.external_no}，{start:%Y-%m-%d %H:%M} 至 "
        f"{timezone.localtime(visit.scheduled_until):%H:%M}。",
    )
    return confirmed


@transaction.atomic
def booking_request_decline(
    *,
    request: BookingRequest,
    by: User | None,
    reason: str,
    device_id: str = "",
    expected_version: int | None = None,
) -> BookingRequest:
    booking_require_staff(by)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the request is declined.", code="reason_required", errors={"reason": ["Required."]}
        )
    if len(reason) > 1000:
        raise ValidationFailed("At most 1000 characters.", code="validation_error", errors={"reason": ["Too long."]})
    declined = record_transition(
        instance=request,
        field_name="status",
        to=BookingRequestStatus.DECLINED,
        allowed=BOOKING_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes={"decline_reason": reason, **_decided(by)},
    )
    _notify(
        request=declined,
        kind=NotificationKind.BOOKING_DECLINED,
        recipients=booking_builder_recipients(request=declined),
        title=f"直通车预约未能安排：{declined.case.external_no}",
        body=reason,
    )
    return declined


# --- monthly service plans -------------------------------------------------------------------

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
RULE_KINDS = ("weekly", "nth_weekday")


def plan_time_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.VISIT_WORKING_TIME_ZONE)


def plan_clean_month(month: Any) -> dt.date:
    if isinstance(month, dt.date):
        return month.replace(day=1)
    match = re.fullmatch(r"(\d{4})-(\d{2})", month) if isinstance(month, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValidationFailed(
            "month is YYYY-MM.", code="validation_error", errors={"month": ["YYYY-MM, e.g. 2026-12."]}
        )
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def plan_rule_days(*, rule: Any, month: dt.date) -> tuple[list[dt.date], dt.time]:
    """The days of `month` the rule names, and the time of day (validated; 400 otherwise)."""

    def fail(message: str, key: str = "rule") -> ValidationFailed:
        return ValidationFailed(message, code="invalid_plan_rule", errors={key: [message]})

    if not isinstance(rule, dict) or rule.get("kind") not in RULE_KINDS:
        raise fail(
            'rule is {"kind": "weekly", "weekdays": [1..7], "time": "HH:MM"} or '
            '{"kind": "nth_weekday", "n": 1..5 or -1, "weekday": 1..7, "time": "HH:MM"}.'
        )
    allowed = {"kind", "time", "weekdays"} if rule["kind"] == "weekly" else {"kind", "time", "n", "weekday"}
    unknown = sorted(set(rule) - allowed)
    if unknown:
        raise fail(f"Unknown rule keys: {', '.join(map(str, unknown))[:100]}.")
    time_match = _TIME.match(rule.get("time")) if isinstance(rule.get("time"), str) else None
    if time_match is None:
        raise fail("time is HH:MM (local time).", "rule.time")
    at = dt.time(int(time_match.group(1)), int(time_match.group(2)))
    days_in_month = [
        month + dt.timedelta(days=offset)
        for offset in range(31)
        if (month + dt.timedelta(days=offset)).month == month.month
    ]

    def weekday(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
            raise fail("A weekday is 1 (Monday) .. 7 (Sunday).", key)
        return value

    if rule["kind"] == "weekly":
        weekdays = rule.get("weekdays")
        if not isinstance(weekdays, list) or not weekdays or len(weekdays) > 7:
            raise fail("weekdays is a non-empty list of 1 (Monday) .. 7 (Sunday).", "rule.weekdays")
        wanted = {weekday(value, "rule.weekdays") for value in weekdays}
        return [day for day in days_in_month if day.isoweekday() in wanted], at
    n = rule.get("n")
    if isinstance(n, bool) or n not in (1, 2, 3, 4, 5, -1):
        raise fail("n is 1..5, or -1 for the last.", "rule.n")
    matching = [day for day in days_in_month if day.isoweekday() == weekday(rule.get("weekday"), "rule.weekday")]
    if n == -1:
        return matching[-1:], at
    return matching[n - 1 : n], at


def _month_calendar(month: dt.date, days: list[dt.date]):
    """The working-day calendar over the month; past its horizon the whole plan is refused."""
    last = max(days) if days else month
    rows = (
        CalendarDay.objects.filter(date__gte=month, date__lte=last).order_by("date").values_list("date", "is_workday")
    )
    calendar = calendar_from_days(rows, start=month)
    if calendar.last < last:
        horizon = CalendarDay.objects.order_by("-date").values_list("date", flat=True).first()
        known = WorkingCalendar(first=month, last=horizon or month - dt.timedelta(days=1), workdays=frozenset())
        raise horizon_error(known, last, purpose="service plan")
    return calendar


@transaction.atomic
def service_plan_create(
    *,
    by: User | None,
    case: ApprovalCase,
    vehicle: Vehicle,
    month: Any,
    rule: Any,
    purpose: list[str],
    duration_minutes: int | None = None,
    site: Any = None,
    team: Any = None,
    remarks: str = "",
) -> ServicePlan:
    """Book the month's visits the rule gives; each occurrence stands alone (see the module)."""
    _require_case_visible(user=by, case=case)
    if not visit_can_manage(user=by, vehicle=vehicle):
        raise PermissionDenied("Only approval officials and the vehicle's team plan its visits.")
    _require_key_project(case)
    record_check_case_site(case=case, site=site)
    purpose = visit_clean_purpose(purpose)
    duration = visit_clean_duration(duration_minutes)
    month = plan_clean_month(month)
    days, at = plan_rule_days(rule=rule, month=month)
    calendar = _month_calendar(month, days)
    zone = plan_time_zone()
    plan = ServicePlan.objects.create(
        case=case,
        site=site,
        vehicle=vehicle,
        month=month,
        rule=rule,
        duration_minutes=duration,
        purpose=purpose,
        remarks=remarks or "",
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    now = timezone.now()
    occurrences = []
    for day in days:
        start = dt.datetime.combine(day, at, tzinfo=zone)
        entry: dict[str, Any] = {"scheduled_for": start.isoformat()}
        if not calendar.is_workday(day):
            entry["status"] = "not_workday"
        elif start <= now:
            entry["status"] = "past"
        else:
            try:
                visit, _ = visit_create(
                    by=by,
                    case=case,
                    vehicle=vehicle,
                    scheduled_for=start,
                    duration_minutes=duration,
                    booked_via=BookingChannel.PHONE,
                    purpose=purpose,
                    site=site,
                    team=team,
                    remarks=remarks or "服务计划",
                    plan=plan,
                )
            except VehicleBooked as error:
                entry |= {"status": "clash", "detail": error.message, "clashing_visit": error.extra["clashing_visit"]}
            else:
                entry |= {"status": "booked", "visit": str(visit.pk)}
        occurrences.append(entry)
    plan.occurrences = occurrences
    plan.save(update_fields=["occurrences", "updated_at"])
    booked = [entry for entry in occurrences if entry["status"] == "booked"]
    if booked:
        builders = User.objects.filter(is_active=True, organization_id=case.project.builder_id)
        team_users = User.objects.filter(is_active=True, organization_id=vehicle.team_id)
        notifications_send(
            recipients=[*builders, *team_users],
            kind=NotificationKind.VISIT_PLANNED,
            subject=f"service_plan:{plan.pk}",
            day=timezone.localdate(),
            title=f"直通车{month:%Y年%m月}服务计划：{case.external_no}，{len(booked)} 次上门服务",
            body="；".join(entry["scheduled_for"] for entry in booked),
            data={"service_plan": str(plan.pk), "case": str(case.pk), "visits": [e["visit"] for e in booked]},
            once=True,
        )
    return plan
