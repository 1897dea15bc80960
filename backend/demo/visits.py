"""Demo service vehicle 鲁B·A1234 of 审批服务直通车专班, its visits and yesterday's track.

Visits to the demo key project's cases in every typical state: completed yesterday (with the
~100-position track of the drive from the service centre to the site), on site now, booked for
tomorrow, and cancelled; then a booked week (the next five working days, mornings and some
afternoons), booking requests (one confirmed into that week, one declined, one pending) and
this month's service plan (Wednesday afternoons, its clashes with the week reported). Times are
placed relative to the first load; later runs change nothing (fixed record ids; the track is loaded
once). Tolerant: without the vehicle team or cases it does nothing.
"""

import datetime as dt
import math
import uuid

from django.utils import timezone

from backend.accounts.models import Organization, OrganizationKind, User
from backend.cases.models import ApprovalCase
from backend.cases.notices import is_working_day
from backend.common.errors import CalendarHorizonExceeded
from backend.sites.models import Site
from backend.visits.bookings import (
    booking_request_confirm,
    booking_request_create,
    booking_request_decline,
    service_plan_create,
)
from backend.visits.models import BookingRequest, ServicePlan, Vehicle, VehiclePosition, Visit, VisitStatus
from backend.visits.services import VehicleBooked, vehicle_track_append, visit_create, visit_transition

NAMESPACE = uuid.UUID("0b6d1f0e-9a7c-4c55-8a8e-71517c1e0000")
TEAM = "审批服务直通车专班"
PLATE = "鲁B·A1234"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# From the approval service centre along the roads to the demo plant site (lon, lat, WGS84):
# east, north, east, north, following the street grid of the West Coast New Area.
ROUTE = [
    (120.1585, 35.9512),
    (120.1660, 35.9512),
    (120.1660, 35.9580),
    (120.1735, 35.9580),
    (120.1735, 35.9615),
    (120.1740, 35.9626),
]
TRACK_POINTS = 100
TRACK_INTERVAL = dt.timedelta(seconds=10)


def _demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def route_positions(*, start: dt.datetime, count: int = TRACK_POINTS) -> list[dict]:
    """`count` positions evenly spaced along ROUTE, one every TRACK_INTERVAL from `start`."""
    legs = list(zip(ROUTE, ROUTE[1:], strict=False))
    lengths = [math.dist(a, b) for a, b in legs]
    total = sum(lengths)
    speed = total * 111_000 / (TRACK_INTERVAL.total_seconds() * (count - 1))  # rough m/s
    positions = []
    for index in range(count):
        distance = total * index / (count - 1)
        for (a, b), length in zip(legs, lengths, strict=True):
            if distance <= length or (a, b) == legs[-1]:
                fraction = min(distance / length, 1.0) if length else 0.0
                lon = a[0] + (b[0] - a[0]) * fraction
                lat = a[1] + (b[1] - a[1]) * fraction
                heading = (math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) + 360) % 360
                break
            distance -= length
        positions.append(
            {
                "recorded_at": (start + TRACK_INTERVAL * index).isoformat(),
                "lon": round(lon, 7),
                "lat": round(lat, 7),
                "speed": round(speed, 1),
                "heading": round(heading, 1),
                "accuracy": 5.0,
            }
        )
    return positions


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def _site(case: ApprovalCase) -> Site | None:
    return Site.objects.filter(case=case).first() or Site.objects.filter(project=case.project).first()


def seed() -> None:
    team = Organization.objects.filter(name=TEAM, kind=OrganizationKind.VEHICLE_TEAM).first()
    if team is None:
        return
    vehicle, _ = Vehicle.objects.get_or_create(plate=PLATE, defaults={"name": "审批服务直通车1号", "team": team})
    cases = [
        case
        for case in ApprovalCase.objects.filter(project__builder__name="青岛海晟新能源装备制造有限公司")
        .select_related("project")
        .order_by("opened_at")
        if case.project.is_key_project
    ]
    if not cases:
        return
    lead = User.objects.filter(username="vehicle_lead").first()
    agent = User.objects.filter(username="vehicle_agent").first()
    crew = {
        "lead": str(lead.pk) if lead else "李班长",
        "agents": [str(agent.pk)] if agent else ["王代办"],
        "approvers": ["赵审批"],
    }
    today = timezone.localdate()
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    departed = _at(yesterday, 9, 0)

    if not VehiclePosition.objects.filter(vehicle=vehicle).exists():
        vehicle_track_append(vehicle=vehicle, positions=route_positions(start=departed), by=None)

    now = timezone.now()
    # name, case index, scheduled for, booked via, purpose, steps [(status, at)], cancel reason
    plans = [
        (
            "completed",
            0,
            _at(yesterday, 9, 30),
            "wechat",
            ["intake", "survey"],
            [
                (VisitStatus.EN_ROUTE, departed),
                (VisitStatus.ON_SITE, departed + TRACK_INTERVAL * (TRACK_POINTS - 1)),
                (VisitStatus.COMPLETED, _at(yesterday, 11, 30)),
            ],
            "",
        ),
        (
            "on-site",
            len(cases) - 1,
            now - dt.timedelta(minutes=45),
            "phone",
            ["acceptance", "approval"],
            [
                (VisitStatus.EN_ROUTE, now - dt.timedelta(minutes=40)),
                (VisitStatus.ON_SITE, now - dt.timedelta(minutes=20)),
            ],
            "",
        ),
        ("booked", min(1, len(cases) - 1), _at(tomorrow, 9, 0), "on_site", ["intake"], [], ""),
        (
            "cancelled",
            0,
            _at(tomorrow, 14, 0),
            "phone",
            ["approval"],
            [(VisitStatus.CANCELLED, None)],
            "建设单位材料未备齐，改约下周。",
        ),
    ]
    for name, case_index, scheduled_for, booked_via, purpose, steps, reason in plans:
        record_id = _demo_id(name)
        if Visit.all_objects.filter(pk=record_id).exists():
            continue
        case = cases[case_index]
        visit, _ = visit_create(
            by=None,
            case=case,
            site=_site(case),
            vehicle=vehicle,
            scheduled_for=scheduled_for,
            booked_via=booked_via,
            purpose=purpose,
            team=crew,
            record_id=record_id,
        )
        for status, at in steps:
            visit = visit_transition(visit=visit, to=status, by=None, at=at, reason=reason)
    week = _working_days_after(today, 5)
    _seed_week(vehicle=vehicle, cases=cases, crew=crew, days=week)
    _seed_requests(vehicle=vehicle, cases=cases, days=week)
    _seed_plan(vehicle=vehicle, case=cases[0], today=today)


def _working_days_after(today: dt.date, count: int) -> list[dt.date]:
    days, day = [], today
    while len(days) < count:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            days.append(day)
    return days


def _seed_week(*, vehicle: Vehicle, cases: list[ApprovalCase], crew: dict, days: list[dt.date]) -> None:
    """Mornings 09:00-11:00 every day, afternoons 14:30-16:30 every other day (but the fourth,
    which a confirmed booking request takes); a slot already taken is left as it is."""
    purposes = [["intake"], ["survey"], ["acceptance"], ["intake", "approval"], ["survey"]]
    for index, day in enumerate(days):
        slots = [("am", _at(day, 9, 0))]
        if index % 2 == 0:
            slots.append(("pm", _at(day, 14, 30)))
        for slot, start in slots:
            record_id = _demo_id(f"week-{index}-{slot}")
            if Visit.all_objects.filter(pk=record_id).exists():
                continue
            case = cases[(index + len(slot)) % len(cases)]
            try:
                visit_create(
                    by=None,
                    case=case,
                    site=_site(case),
                    vehicle=vehicle,
                    scheduled_for=start,
                    duration_minutes=120,
                    booked_via="wechat" if slot == "am" else "phone",
                    purpose=purposes[index % len(purposes)],
                    team=crew,
                    record_id=record_id,
                )
            except VehicleBooked:
                continue


def _seed_requests(*, vehicle: Vehicle, cases: list[ApprovalCase], days: list[dt.date]) -> None:
    case = cases[-1]
    plans = [
        ("request-confirmed", "phone", [(days[3], 14, 30)], "建设单位张经理来电预约，现场受理施工许可材料。"),
        ("request-declined", "wechat", [(days[1], 9, 0)], ""),
        ("request-pending", "wechat", [(days[4], 14, 0), (days[4], 15, 30)], "希望下午到场踏勘。"),
    ]
    for name, channel, windows, remarks in plans:
        record_id = _demo_id(name)
        if BookingRequest.all_objects.filter(pk=record_id).exists():
            continue
        request, _ = booking_request_create(
            by=None,
            case=case,
            site=_site(case),
            purpose=["intake"] if name != "request-pending" else ["survey"],
            preferred_windows=[
                {"start": _at(d, h, m).isoformat(), "end": (_at(d, h, m) + dt.timedelta(hours=2)).isoformat()}
                for d, h, m in windows
            ],
            channel=channel,
            contact="张经理 13800000000",
            remarks=remarks,
            record_id=record_id,
        )
        if name == "request-confirmed":
            try:
                booking_request_confirm(request=request, by=None, vehicle=vehicle)
            except VehicleBooked:
                pass
        elif name == "request-declined":
            booking_request_decline(request=request, by=None, reason="该时段车辆已约满，已电话联系改约。")


def _seed_plan(*, vehicle: Vehicle, case: ApprovalCase, today: dt.date) -> None:
    month = today.replace(day=1)
    if ServicePlan.objects.filter(case=case, month=month).exists():
        return
    try:
        _plan(vehicle=vehicle, case=case, month=month)
    except CalendarHorizonExceeded:
        return  # the month is past the loaded calendar: no plan until the year is loaded


def _plan(*, vehicle: Vehicle, case: ApprovalCase, month: dt.date) -> None:
    service_plan_create(
        by=None,
        case=case,
        site=_site(case),
        vehicle=vehicle,
        month=month,
        rule={"kind": "weekly", "weekdays": [3], "time": "14:30"},
        purpose=["survey", "acceptance"],
        duration_minutes=120,
        remarks="重点项目月度服务计划：每周三下午上门服务。",
    )
