"""Demo joint site surveys for the demo builder's key industrial project.

- On the land-use case (GG-370211-2026-000101): a survey held on site, every department's opinion
  recorded (the civil air defence office waived with a reason), submitted with a conditional
  agreement and minutes, ready for signatures; two findings, one resolved, one open.
- On the engineering-planning case (GG-370211-2026-000245): a scheduled survey with invited
  departments, and an open finding for the water bureau.

Written through the services (audited like any change). Idempotent by fixed record ids;
tolerant: without the demo cases or organisations it does nothing.
"""

import datetime as dt
import uuid

from django.contrib.gis.geos import Point

from backend.accounts.models import Organization
from backend.cases.models import ApprovalCase
from backend.sites.models import Site
from backend.surveys import services
from backend.surveys.models import Finding, Survey, SurveyConclusion

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NAMESPACE = uuid.UUID("6a1f7d9e-3c0b-4f4e-9a51-2f7c5b1e8d40")

LAND_USE_CASE = "GG-370211-2026-000101"
ENGINEERING_CASE = "GG-370211-2026-000245"
PLANNING = "青岛西海岸新区自然资源局"
HOUSING = "青岛西海岸新区住房和城乡建设局"
FIRE = "青岛西海岸新区消防救援大队"
CIVIL_DEFENCE = "青岛西海岸新区人防办"
WATER_BUREAU = "青岛西海岸新区水务局"
APPROVAL = "青岛西海岸新区行政审批服务局"
BUILDER = "青岛海晟新能源装备制造有限公司"


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def _at(day: int, hour: int, minute: int = 0, month: int = 4) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def seed() -> None:
    organizations = {org.name: org for org in Organization.objects.all()}
    land_use = ApprovalCase.objects.filter(external_no=LAND_USE_CASE).first()
    engineering = ApprovalCase.objects.filter(external_no=ENGINEERING_CASE).first()
    if land_use is not None and {PLANNING, FIRE, HOUSING, CIVIL_DEFENCE, BUILDER} <= set(organizations):
        _seed_submitted_survey(land_use, organizations)
    if engineering is not None and {PLANNING, FIRE, WATER_BUREAU, APPROVAL} <= set(organizations):
        _seed_scheduled_survey(engineering, organizations)


def _site_of(case: ApprovalCase) -> Site | None:
    return Site.objects.filter(project_id=case.project_id).order_by("created_at").first()


def _seed_submitted_survey(case: ApprovalCase, organizations: dict[str, Organization]) -> None:
    survey_id = _id("survey-land-use")
    if Survey.all_objects.filter(pk=survey_id).exists():
        return
    survey, _ = services.survey_create(
        by=None,
        record_id=survey_id,
        case=case,
        site=_site_of(case),
        scheduled_at=_at(8, 9, 30),
        summary="海晟新能源装备智能制造基地一期，拟用地约12公顷，建设联合厂房、研发楼及配套设施，总投资约18亿元。",
        location=Point(120.1740, 35.9628, srid=4326),
    )
    participants = [
        (PLANNING, "李建国", True, _at(8, 9, 20), "选址符合国土空间规划，同意。", ""),
        (FIRE, "王海涛", True, _at(8, 9, 25), "东侧消防车道宽度须不小于4米，有条件同意。", ""),
        (HOUSING, "张敏", True, _at(8, 9, 28), "同意，施工期间注意扬尘治理。", ""),
        (CIVIL_DEFENCE, "", False, None, "", "本期工程按规定缴纳人防易地建设费，不单独建设人防工程，免于到场。"),
        (BUILDER, "陈志强", True, _at(8, 9, 15), "已知悉各部门意见，按要求整改。", ""),
    ]
    for name, person, attended, arrived_at, opinion, waived_reason in participants:
        services.survey_participant_create(
            by=None,
            record_id=_id(f"participant-land-use-{name}"),
            survey=survey,
            department=organizations[name],
            person_name=person,
            attended=attended,
            arrived_at=arrived_at,
            opinion=opinion,
            opinion_at=_at(8, 11, 0) if opinion else None,
            is_waived=bool(waived_reason),
            waived_reason=waived_reason,
        )
    survey = services.survey_start(survey=survey, by=None, started_at=_at(8, 9, 30))
    drainage, _ = services.finding_create(
        by=None,
        record_id=_id("finding-land-use-drainage"),
        case=case,
        survey=survey,
        description="场地东南角现状排水沟穿越用地红线，需改移至退让绿线内。",
        location=Point(120.1765, 35.9610, srid=4326),
        responsible_department=organizations[HOUSING],
        due_date=dt.date(2026, 5, 15),
        meeting_ref="西海岸审批协调〔2026〕12号",
    )
    services.finding_create(
        by=None,
        record_id=_id("finding-land-use-fire-lane"),
        case=case,
        survey=survey,
        description="东侧规划消防车道与现状围墙冲突，宽度不足4米。",
        location=Point(120.1769, 35.9630, srid=4326),
        responsible_department=organizations[FIRE],
        due_date=dt.date(2026, 12, 20),
    )
    services.survey_submit(
        survey=survey,
        by=None,
        conclusion=SurveyConclusion.AGREE_WITH_CONDITIONS,
        conditions="东侧消防车道拓宽至4米以上；排水沟改移方案报住建局备案。",
        minutes="2026年4月8日，行政审批服务局组织自然资源、消防、住建等部门对海晟新能源装备智能制造基地一期"
        "进行联合踏勘。与会部门原则同意项目选址，形成问题清单2项，由责任部门跟踪整改。",
        ended_at=_at(8, 11, 30),
    )
    services.finding_resolve(
        finding=Finding.objects.get(pk=drainage.pk), by=None, resolution="排水沟已改移，住建局现场核查通过。"
    )


def _seed_scheduled_survey(case: ApprovalCase, organizations: dict[str, Organization]) -> None:
    survey_id = _id("survey-engineering")
    if Survey.all_objects.filter(pk=survey_id).exists():
        return
    survey, _ = services.survey_create(
        by=None,
        record_id=survey_id,
        case=case,
        site=_site_of(case),
        scheduled_at=_at(3, 9, 0, month=12),
        summary="工程建设许可阶段联合踏勘：核对总平面布置、消防车道、供排水接入条件。",
    )
    for name, must_attend in ((PLANNING, True), (FIRE, True), (WATER_BUREAU, True), (APPROVAL, False)):
        services.survey_participant_create(
            by=None,
            record_id=_id(f"participant-engineering-{name}"),
            survey=survey,
            department=organizations[name],
            must_attend=must_attend,
        )
    services.finding_create(
        by=None,
        record_id=_id("finding-engineering-water"),
        case=case,
        description="市政给水接入点距红线约180米，需明确接入路由及管径。",
        location=Point(120.1702, 35.9612, srid=4326),
        responsible_department=organizations[WATER_BUREAU],
        due_date=dt.date(2026, 12, 10),
    )
