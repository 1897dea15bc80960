"""Demo projects and approval cases: 青岛海晟新能源装备制造有限公司's key industrial project
(工业“四改”, city key project) in the Qingdao West Coast New Area (region 370211).

Item dates are placed relative to the day the demo is first loaded, so the item list shows
every warning level (ok, warn7, remind5, supervise3, overdue), a paused item, a closed stage,
and one item whose limit runs past the calendar horizon (2026-12-31): its due date is unknown
(`deadline_error` says why, `calendar_horizon`) while its remaining days and level are known. Idempotent: cases are keyed by external number, items by external id;
a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib.gis.geos import Point
from django.utils import timezone

from backend.accounts.models import Organization, OrganizationKind
from backend.cases.deadlines import (
    Thresholds,
    WorkingCalendar,
    calendar_load,
    item_deadline,
    item_deadlines_record,
)
from backend.cases.models import ApprovalCase, ApprovalItem, Blzt, ItemStatusEvent, Material, Project
from backend.cases.services import case_assign_organizations, project_create
from backend.common.errors import CalendarHorizonExceeded

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
BUILDER = "青岛海晟新能源装备制造有限公司"
APPROVAL = "青岛西海岸新区行政审批服务局"
PLANNING = "青岛西海岸新区自然资源局"
HOUSING = "青岛西海岸新区住房和城乡建设局"
FIRE = "青岛西海岸新区消防救援大队"
ARCHIVES = "青岛西海岸新区城建档案馆"
CIVIL_DEFENCE = "青岛西海岸新区人防办"
WATER_BUREAU = "青岛西海岸新区水务局"
WEATHER = "青岛西海岸新区气象局"

# code, name, investment type, category, simple low-risk, priority, location (lon, lat).
# Ordered by code: backend.demo.sites attaches its red lines by this order.
PROJECTS = [
    (
        "2404-370211-04-01-306581",
        "海晟新能源装备智能制造基地一期（工业“四改”）",
        "private",
        "industrial_four_upgrades",
        False,
        "city",
        (120.1740, 35.9628),
    ),
    (
        "2406-370211-04-01-306874",
        "海晟新能源装备二期仓储及停车场",
        "private",
        "industrial_four_upgrades",
        True,
        "district",
        (120.1843, 35.9720),
    ),
    (
        "2409-370211-04-02-307112",
        "海晟新能源配套变电站及能源站",
        "private",
        "industrial_four_upgrades",
        False,
        "city",
        (120.1940, 35.9539),
    ),
]

# external item id, name, department, statutory days, promised days, target, modes, materials.
# target: ("remaining", n) → n working days left today; ("paused", n) → an open special procedure
# with n days frozen; ("closed", days_ago) → approved; ("horizon", 0) → limit past the calendar.
Target = tuple[str, int]


def _cases(anchor: dt.date) -> list[dict]:
    return [
        {
            "external_no": "GG-370211-2026-000101",
            "project": 0,
            "stage": "land_use_planning",
            "status": Blzt.APPROVED,
            "opened_at": dt.datetime(2026, 3, 16, 9, 0, tzinfo=SHANGHAI),
            "assign": ["survey_crew", "vehicle_team"],
            "items": [
                ("LU-01", "建设项目用地预审与选址意见书核发", PLANNING, 20, 10, ("closed", 170), ["parallel"], []),
                ("LU-02", "建设用地规划许可证核发", PLANNING, 20, 5, ("closed", 150), [], []),
                ("LU-03", "企业投资项目备案", APPROVAL, 3, 1, ("closed", 175), ["commitment"], []),
            ],
        },
        {
            "external_no": "GG-370211-2026-000245",
            "project": 0,
            "stage": "engineering_planning",
            "is_parallel": True,
            "status": Blzt.ACCEPTED,
            "opened_at": dt.datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI),
            "assign": ["survey_crew", "vehicle_team", "utility_company"],
            "items": [
                ("EP-01", "建设工程规划许可证核发", PLANNING, 20, 10, ("remaining", 8), ["parallel"], []),
                ("EP-02", "特殊建设工程消防设计审查", FIRE, 15, 12, ("remaining", 7), ["parallel"], []),
                (
                    "EP-03",
                    "人防工程设计审查",
                    CIVIL_DEFENCE,
                    20,
                    10,
                    ("remaining", 5),
                    ["parallel", "tolerance"],
                    [
                        ("人防工程施工图设计文件", True, False, None, None),
                        ("人防工程防护设备清单", False, True, None, 6),
                    ],
                ),
                ("EP-04", "城市建筑垃圾处置核准", HOUSING, 20, 8, ("remaining", 3), ["parallel"], []),
                (
                    "EP-05",
                    "生产建设项目水土保持方案审批",
                    WATER_BUREAU,
                    20,
                    10,
                    ("remaining", -2),
                    ["tolerance"],
                    [("水土保持方案报告书", True, False, None, None), ("水土保持补偿费缴纳凭证", True, True, None, -3)],
                ),
                ("EP-06", "雷电防护装置设计审核", WEATHER, 20, 10, ("paused", 6), [], []),
            ],
        },
        {
            "external_no": "GG-370211-2026-000388",
            "project": 0,
            "stage": "construction_permit",
            "status": Blzt.ACCEPTED,
            "opened_at": dt.datetime(2026, 11, 16, 9, 0, tzinfo=SHANGHAI),
            "assign": ["survey_crew", "vehicle_team", "utility_company"],
            "items": [
                ("CP-01", "建筑工程施工许可证核发", HOUSING, 7, 3, ("remaining", 2), ["commitment"], []),
                ("CP-02", "建设项目环境影响报告书审批", APPROVAL, 60, 40, ("horizon", 0), [], []),
            ],
        },
        {
            "external_no": "GG-370211-2026-000312",
            "project": 1,
            "stage": "construction_permit",
            "status": Blzt.ACCEPTED,
            "opened_at": dt.datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI),
            "assign": ["vehicle_team", "utility_company"],
            "items": [
                ("SL-01", "建筑工程施工许可证核发（简易低风险）", HOUSING, 7, 3, ("remaining", 1), ["commitment"], []),
            ],
        },
        {
            "external_no": "GG-370211-2026-000415",
            "project": 2,
            "stage": "completion_acceptance",
            "status": Blzt.ACCEPTED,
            "opened_at": dt.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI),
            "assign": ["acceptance_team", "vehicle_team", "utility_company"],
            "items": [
                ("CA-01", "竣工规划核实", PLANNING, 10, 5, ("remaining", 4), ["parallel"], []),
                ("CA-02", "建设工程消防验收", FIRE, 15, 10, ("remaining", 9), ["parallel"], []),
                ("CA-03", "城建档案验收", ARCHIVES, 10, 5, ("remaining", 1), ["parallel"], []),
                ("CA-04", "人防工程竣工验收备案", CIVIL_DEFENCE, 15, 5, ("remaining", -1), ["parallel"], []),
            ],
        },
    ]


def _aware(value: dt.datetime) -> dt.datetime:
    return timezone.make_aware(value, timezone.get_default_timezone())


def _at(day: dt.date, hour: int = 9, minute: int = 30) -> dt.datetime:
    return _aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _workdays_back(calendar: WorkingCalendar, anchor: dt.date) -> list[dt.date]:
    """Working days on or before `anchor`, latest first."""
    days = []
    day = anchor
    while day >= calendar.first and len(days) < 200:
        if calendar.is_workday(day):
            days.append(day)
        day -= dt.timedelta(days=1)
    return days


def _find_acceptance(
    calendar: WorkingCalendar,
    anchor: dt.date,
    promised: int,
    remaining: int,
    events_for: Callable[[dt.date], list[tuple[int, dt.date]]],
) -> dt.date:
    """The latest working day of acceptance giving `remaining` working days at `anchor`."""
    for accepted_on in _workdays_back(calendar, anchor):
        result = item_deadline(
            calendar,
            accepted_on=accepted_on,
            promised_days=promised,
            events=events_for(accepted_on),
            stopped_on=None,
            as_of=anchor,
            thresholds=Thresholds(),
        )
        if result.remaining_working_days == remaining and result.is_overdue == (remaining < 0):
            return accepted_on
    raise ValueError(f"no acceptance day gives {remaining} working days left on {anchor}")


def _nth_workday_after(calendar: WorkingCalendar, day: dt.date, n: int) -> dt.date:
    while n > 0:
        day += dt.timedelta(days=1)
        if calendar.is_workday(day):
            n -= 1
    return day


def _plan_item(
    calendar: WorkingCalendar, anchor: dt.date, name: str, promised: int, target: Target
) -> tuple[dt.date, list[tuple[int, dt.date]], int, dt.date | None]:
    """(accepted_on, events, status, completed_on) for the wanted deadline state."""
    kind, value = target
    if kind == "closed":
        accepted_on = anchor - dt.timedelta(days=value)
        while not calendar.is_workday(accepted_on):
            accepted_on -= dt.timedelta(days=1)
        completed_on = _nth_workday_after(calendar, accepted_on, max(1, promised - 1))
        return accepted_on, [(Blzt.ACCEPTED, accepted_on), (Blzt.APPROVED, completed_on)], Blzt.APPROVED, completed_on
    if kind == "horizon":
        # Accepted on the last working day before the anchor: its limit needs next year's calendar.
        accepted_on = _workdays_back(calendar, anchor)[1]
        return accepted_on, [(Blzt.ACCEPTED, accepted_on)], Blzt.ACCEPTED, None
    if kind == "paused":
        # A special procedure (expert review) opened three working days ago and still running.
        def events(accepted_on: dt.date) -> list[tuple[int, dt.date]]:
            start = _workdays_back(calendar, anchor)[3]
            return [(Blzt.ACCEPTED, accepted_on), (Blzt.SPECIAL_PROCEDURE_START, start)]

        accepted_on = _find_acceptance(calendar, anchor, promised, value, events)
        return accepted_on, events(accepted_on), Blzt.SPECIAL_PROCEDURE_START, None
    if "建筑垃圾" in name:
        # A correction (补正) of two working days early on: the clock stood still meanwhile.
        def events(accepted_on: dt.date) -> list[tuple[int, dt.date]]:
            start = _nth_workday_after(calendar, accepted_on, 1)
            end = _nth_workday_after(calendar, start, 2)
            return [(Blzt.ACCEPTED, accepted_on), (Blzt.CORRECTION_START, start), (Blzt.CORRECTION_END, end)]

        accepted_on = _find_acceptance(calendar, anchor, promised, value, events)
        return accepted_on, events(accepted_on), Blzt.CORRECTION_END, None

    def accepted_only(accepted_on: dt.date) -> list[tuple[int, dt.date]]:
        return [(Blzt.ACCEPTED, accepted_on)]

    accepted_on = _find_acceptance(calendar, anchor, promised, value, accepted_only)
    return accepted_on, accepted_only(accepted_on), Blzt.ACCEPTED, None


def seed(*, today: dt.date | None = None) -> None:
    """Load the demo (idempotent); `today` places the deadlines (default: the real date)."""
    builder = Organization.objects.filter(name=BUILDER, kind=OrganizationKind.BUILDER).first()
    if builder is None:
        return
    today = today or timezone.localdate()
    calendar = calendar_load(start=dt.date(2025, 1, 1))
    # Placed relative to today; past the calendar horizon the demo is anchored on its last day.
    anchor = min(today, calendar.last)
    projects = []
    for code, name, investment_type, category, simple, priority, (lon, lat) in PROJECTS:
        project = Project.objects.filter(code=code).first() or project_create(
            by=None,
            code=code,
            name=name,
            builder=builder,
            investment_type=investment_type,
            category=category,
            is_simple_low_risk=simple,
            priority=priority,
            location=Point(lon, lat, srid=4326),
        )
        projects.append(project)

    departments = {org.name: org for org in Organization.objects.filter(kind=OrganizationKind.APPROVAL_DEPARTMENT)}
    teams = {
        kind: list(Organization.objects.filter(kind=kind, region__startswith="3702"))
        for kind in ("survey_crew", "vehicle_team", "acceptance_team", "utility_company")
    }
    new_items: list[ApprovalItem] = []
    for spec in _cases(anchor):
        case, _ = ApprovalCase.objects.get_or_create(
            external_no=spec["external_no"],
            defaults={
                "project": projects[spec["project"]],
                "stage": spec["stage"],
                "is_parallel": spec.get("is_parallel", False),
                "status": spec["status"],
                "opened_at": spec["opened_at"],
            },
        )
        case_assign_organizations(case=case, organizations=[org for kind in spec["assign"] for org in teams[kind]])
        for external_id, name, department, statutory, promised, target, modes, materials in spec["items"]:
            if (
                department not in departments
                or ApprovalItem.objects.filter(case=case, external_id=external_id).exists()
            ):
                continue
            try:
                accepted_on, events, status, completed_on = _plan_item(calendar, anchor, name, promised, target)
            except (CalendarHorizonExceeded, ValueError):
                continue
            item = ApprovalItem.objects.create(
                case=case,
                external_id=external_id,
                name=name,
                department=departments[department],
                statutory_days=statutory,
                promised_days=promised,
                accepted_at=_at(accepted_on),
                status=status,
                modes=modes,
                completed_at=_at(completed_on, 16) if completed_on else None,
            )
            for index, (event_status, day) in enumerate(events):
                ItemStatusEvent.objects.create(item=item, status=event_status, occurred_at=_at(day, 9 + index, 30))
            for material_name, is_required, is_waivable, received, promised_in_days in materials:
                Material.objects.create(
                    item=item,
                    name=material_name,
                    is_required=is_required,
                    is_waivable=is_waivable,
                    received_at=received or (_at(accepted_on) if promised_in_days is None else None),
                    promised_by=anchor + dt.timedelta(days=promised_in_days) if promised_in_days is not None else None,
                )
            new_items.append(item)
    if new_items:
        fresh = list(ApprovalItem.objects.filter(pk__in=[i.pk for i in new_items]).prefetch_related("status_events"))
        item_deadlines_record(items=fresh, as_of=anchor)
