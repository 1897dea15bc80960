"""Demo red lines in the Qingdao West Coast New Area (黄岛区), around lon 120.16–120.20, lat 35.95–35.98.

Attached to the demo builder's projects created by backend.demo.cases, each to the project's
first case. Tolerant: with no demo project yet it does nothing; idempotent by (project, name).
"""

from django.contrib.gis.geos import MultiPolygon, Polygon

from backend.accounts.models import OrganizationKind
from backend.cases.models import Project
from backend.demo.accounts import DEMO_ORGANIZATIONS
from backend.sites.models import Site
from backend.sites.services import site_create

DEMO_BUILDERS = [name for name, kind, *_ in DEMO_ORGANIZATIONS if kind == OrganizationKind.BUILDER]

# Main plant: an irregular parcel of about 12 ha between two roads, the south-east corner cut
# off by a river setback (绿线退让).
MAIN_PLANT = Polygon(
    (
        (120.1712, 35.9608),
        (120.1768, 35.9606),
        (120.1771, 35.9631),
        (120.1756, 35.9647),
        (120.1714, 35.9649),
        (120.1709, 35.9630),
        (120.1712, 35.9608),
    ),
    srid=4326,
)
# Phase two: warehouse block north of the plant, plus a detached parking lot across the road.
PHASE_TWO = MultiPolygon(
    Polygon(
        ((120.1820, 35.9702), (120.1866, 35.9702), (120.1866, 35.9738), (120.1820, 35.9738), (120.1820, 35.9702)),
        srid=4326,
    ),
    Polygon(
        ((120.1872, 35.9708), (120.1889, 35.9708), (120.1889, 35.9721), (120.1872, 35.9721), (120.1872, 35.9708)),
        srid=4326,
    ),
    srid=4326,
)
# Substation and energy station: a small rectangle with a courtyard excluded (hole).
ENERGY_STATION = Polygon(
    ((120.1930, 35.9532), (120.1951, 35.9532), (120.1951, 35.9546), (120.1930, 35.9546), (120.1930, 35.9532)),
    ((120.1936, 35.9536), (120.1942, 35.9536), (120.1942, 35.9540), (120.1936, 35.9540), (120.1936, 35.9536)),
    srid=4326,
)

# name, address, boundary, index of the demo project (by code) it belongs to
DEMO_SITES = [
    ("一期主厂房地块", "青岛西海岸新区长江中路以南、井冈山路以西", MAIN_PLANT, 0),
    ("二期仓储及停车场地块", "青岛西海岸新区珠江路以北、嘉陵江路两侧", PHASE_TWO, 1),
    ("配套变电站及能源站地块", "青岛西海岸新区漓江西路与海滨大道交叉口东北", ENERGY_STATION, 2),
]


def seed() -> None:
    projects = list(Project.objects.filter(builder__name__in=DEMO_BUILDERS).order_by("code"))
    if not projects:
        return
    for name, address, boundary, index in DEMO_SITES:
        project = projects[index % len(projects)]
        if Site.all_objects.filter(project=project, name=name).exists():
            continue
        case = project.cases.order_by("opened_at").first()
        site_create(
            project=None if case else project, case=case, name=name, address=address, boundary=boundary, by=None
        )
