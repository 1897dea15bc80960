"""Demo utility connection (联合报装) for the demo sites of backend.demo.sites.

The main plant's joint application fans out to the five companies of backend.demo.accounts;
water and power have accepted with a plan, gas asked for more information, telecom accepted,
heating has not answered yet. Phase two applied for water, power and telecom. About twenty
access points around the sites, in every status. Tolerant: without demo sites it does nothing.
Idempotent: every record has a fixed id, and answers and transitions are only made once.
"""

import datetime as dt
import uuid

from django.contrib.gis.geos import Point
from django.utils import timezone

from backend.accounts.models import User
from backend.common.errors import ApplicationError
from backend.sites.models import Site
from backend.utilities.models import (
    UtilityApplication,
    UtilityPoint,
    UtilityPointStatus,
    UtilityRequest,
    UtilityRequestStatus,
)
from backend.utilities.services import (
    POINT_TRANSITIONS,
    utility_application_create,
    utility_point_create,
    utility_point_transition,
    utility_request_respond,
)

DEMO_NAMESPACE = uuid.UUID("5f0c7a52-3b1e-4c1f-9a55-2d8f1f6b7a10")
MAIN_SITE = "一期主厂房地块"
PHASE_TWO_SITE = "二期仓储及停车场地块"
ENERGY_SITE = "配套变电站及能源站地块"
APPLICANT = "青岛海晟新能源装备制造有限公司"
PHONE = "0532-86981234"

MAIN_DEMANDS = {
    "water": {
        "use_type": "industrial",
        "daily_m3": 420,
        "meter_diameter_mm": 100,
        "supply_mode": "municipal_direct",
        "households": 0,
        "buildings": 4,
        "floors": 3,
    },
    "power": {
        "capacity_kva": 8000,
        "is_addition": False,
        "voltage_kv": 10,
        "supply": "dual",
        "load_class": 2,
        "metering": "high_side",
    },
    "gas": {"peak_m3h": 260, "annual_m3": 1_200_000, "pressure": "medium"},
    "heating": {"heat_load_kw": 3200, "heated_area_m2": 46000, "medium": "hot_water"},
    "telecom": {"ports": 300, "fibre_pairs": 48, "operators": ["china_unicom", "china_mobile"]},
}
PHASE_TWO_DEMANDS = {
    "water": {
        "use_type": "commercial",
        "daily_m3": 35,
        "meter_diameter_mm": 50,
        "supply_mode": "booster",
        "buildings": 2,
        "floors": 2,
    },
    "power": {
        "capacity_kva": 1250,
        "is_addition": False,
        "voltage_kv": 10,
        "supply": "single",
        "load_class": 3,
        "metering": "low_side",
    },
    "telecom": {"ports": 40, "fibre_pairs": 12, "operators": ["china_telecom"]},
}

# site, utility type, decision, plan, days until connection, note
ANSWERS = [
    (MAIN_SITE, "water", "accept", "自长江中路 DN300 市政给水管接入，新建 DN100 水表井一座。", 45, ""),
    (MAIN_SITE, "power", "accept", "由 110kV 海晟站 10kV 两回线路双电源供电，新建高压配电室。", 90, ""),
    (MAIN_SITE, "gas", "need_info", "", None, "请补充燃气设备清单及锅炉房平面布置图。"),
    (MAIN_SITE, "telecom", "accept", "联通光交箱 GJ-HD-0217 引入 48 芯光缆。", 30, ""),
    (PHASE_TWO_SITE, "power", "accept", "由 10kV 珠江路线 T 接，新建箱变一台。", 60, ""),
]

# name, utility type, lon, lat, status, attributes, site whose request it serves (or None)
POINTS = [
    ("长江中路 DN300 给水接口", "water", 120.1735, 35.9604, "agreed", {"pipe_diameter_mm": 300, "pipe_material": "ductile_iron", "pressure_mpa": 0.35}, MAIN_SITE),
    ("井冈山路 DN200 给水接口", "water", 120.1774, 35.9625, "surveyed", {"pipe_diameter_mm": 200, "pipe_material": "ductile_iron"}, None),
    ("厂区北侧消防水接口", "water", 120.1740, 35.9652, "proposed", {"pipe_diameter_mm": 150, "pipe_material": "pe"}, None),
    ("珠江路 DN150 给水接口", "water", 120.1842, 35.9699, "proposed", {"pipe_diameter_mm": 150}, PHASE_TWO_SITE),
    ("漓江西路 DN400 给水干管", "water", 120.1925, 35.9528, "connected", {"pipe_diameter_mm": 400, "pipe_material": "steel", "capacity_m3d": 20000}, None),
    ("10kV 长江线 N12 杆", "power", 120.1709, 35.9615, "agreed", {"voltage_kv": 10, "pole_id": "N12", "line_id": "10kV 长江线"}, MAIN_SITE),
    ("10kV 井冈山线 N07 杆", "power", 120.1778, 35.9640, "agreed", {"voltage_kv": 10, "pole_id": "N07", "line_id": "10kV 井冈山线"}, MAIN_SITE),
    ("10kV 珠江路线 T 接点", "power", 120.1818, 35.9710, "surveyed", {"voltage_kv": 10, "line_id": "10kV 珠江路线", "capacity_kva": 2000}, PHASE_TWO_SITE),
    ("110kV 海晟变电站出线间隔", "power", 120.1945, 35.9549, "connected", {"voltage_kv": 110, "capacity_kva": 50000}, None),
    ("0.4kV 低压分支箱", "power", 120.1868, 35.9735, "proposed", {"voltage_kv": 0.4}, None),
    ("中压燃气调压箱", "gas", 120.1760, 35.9609, "surveyed", {"pressure_level": "medium", "pipe_diameter_mm": 160, "pipe_material": "pe"}, MAIN_SITE),
    ("长江中路中压燃气管", "gas", 120.1722, 35.9601, "proposed", {"pressure_level": "medium", "pipe_diameter_mm": 250, "pipe_material": "steel"}, None),
    ("漓江西路次高压燃气管", "gas", 120.1955, 35.9530, "agreed", {"pressure_level": "sub_high", "capacity_m3h": 5000}, None),
    ("热力管网 DN300 接口", "heating", 120.1713, 35.9640, "proposed", {"pipe_diameter_mm": 300, "medium": "hot_water", "capacity_kw": 8000}, MAIN_SITE),
    ("热电厂蒸汽支线", "heating", 120.1932, 35.9551, "surveyed", {"pipe_diameter_mm": 200, "medium": "steam"}, None),
    ("联通光交箱 GJ-HD-0217", "telecom", 120.1750, 35.9605, "agreed", {"operator": "china_unicom", "cabinet_id": "GJ-HD-0217", "fibre_pairs": 96}, MAIN_SITE),
    ("移动人井 RJ-0412", "telecom", 120.1766, 35.9645, "proposed", {"operator": "china_mobile", "cabinet_id": "RJ-0412"}, None),
    ("电信光交箱 GJ-ZJ-0033", "telecom", 120.1830, 35.9700, "surveyed", {"operator": "china_telecom", "cabinet_id": "GJ-ZJ-0033", "ports": 144}, None),
    ("广电光节点 GD-07", "telecom", 120.1890, 35.9725, "proposed", {"operator": "china_broadnet", "cabinet_id": "GD-07"}, None),
    ("能源站通信接入点", "telecom", 120.1948, 35.9535, "connected", {"operator": "china_unicom", "fibre_pairs": 24}, None),
]  # fmt: skip

STATUS_ORDER = [
    UtilityPointStatus.PROPOSED,
    UtilityPointStatus.SURVEYED,
    UtilityPointStatus.AGREED,
    UtilityPointStatus.CONNECTED,
]


def _demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, name)


def _company_user(company_id) -> User | None:
    return User.objects.filter(organization_id=company_id, is_active=True).order_by("username").first()


def _apply(site: Site, demands: dict) -> None:
    application_id = _demo_id(f"application:{site.name}")
    if UtilityApplication.all_objects.filter(pk=application_id).exists():
        return
    try:
        utility_application_create(
            case=site.case,
            site=site,
            demands=demands,
            applicant_name=APPLICANT,
            contact_phone=PHONE,
            note="重点项目联合报装（水电气暖信）",
            by=None,
            record_id=application_id,
            digest="demo",
        )
    except ApplicationError:
        # The demo companies were changed or a request was made by hand: leave the data as it is.
        return


def _answer(sites: dict[str, Site]) -> None:
    today = timezone.localdate()
    for site_name, utility_type, decision, plan, days, note in ANSWERS:
        site = sites.get(site_name)
        if site is None:
            continue
        request = UtilityRequest.objects.filter(
            site=site, utility_type=utility_type, status=UtilityRequestStatus.SUBMITTED
        ).first()
        if request is None or request.responded_at is not None:
            continue
        utility_request_respond(
            request=request,
            decision=decision,
            plan=plan,
            planned_connection_date=today + dt.timedelta(days=days) if days else None,
            note=note,
            by=_company_user(request.company_id),
        )


def _points(sites: dict[str, Site]) -> None:
    default_case = sites[MAIN_SITE].case if MAIN_SITE in sites else next(iter(sites.values())).case
    for name, utility_type, lon, lat, status, attributes, request_site in POINTS:
        point_id = _demo_id(f"point:{name}")
        point = UtilityPoint.all_objects.filter(pk=point_id).first()
        if point is None:
            site = sites.get(request_site) if request_site else None
            request = (
                UtilityRequest.objects.filter(site=site, utility_type=utility_type).first()
                if site is not None
                else None
            )
            try:
                point, _ = utility_point_create(
                    case=request.case if request else default_case,
                    utility_type=utility_type,
                    location=Point(lon, lat, srid=4326),
                    request=request,
                    name=name,
                    attributes=attributes,
                    by=None,
                    record_id=point_id,
                    digest="demo",
                )
            except ApplicationError:
                continue
        if point.deleted_at is not None:
            continue
        while STATUS_ORDER.index(point.status) < STATUS_ORDER.index(status):
            (next_status,) = POINT_TRANSITIONS[point.status]
            point = utility_point_transition(point=point, to=next_status, by=_company_user(point.company_id))


def seed() -> None:
    sites = {
        site.name: site
        for site in Site.objects.filter(name__in=[MAIN_SITE, PHASE_TWO_SITE, ENERGY_SITE], case__isnull=False)
    }
    if not sites:
        return
    if MAIN_SITE in sites:
        _apply(sites[MAIN_SITE], MAIN_DEMANDS)
    if PHASE_TWO_SITE in sites:
        _apply(sites[PHASE_TWO_SITE], PHASE_TWO_DEMANDS)
    _answer(sites)
    _points(sites)
