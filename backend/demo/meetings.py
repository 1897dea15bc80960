"""Demo coordination meeting: 西海岸审批协调〔2026〕12号, a 协调会 of the demo builder's two cases that
settled the problems the surveys left open.

Convened on the land-use case (GG-370211-2026-000101) with the engineering-planning case
(GG-370211-2026-000245) as a further case; it took up the fire-lane finding of the first and the
water-connection finding of the second, was held, and its decisions resolved both (the findings
show the meeting and its decision as their resolution). A 联席会议 of the engineering case is
scheduled for December. Written through the services, audited
like any change; idempotent by fixed ids; without the survey demo it does nothing.
"""

import datetime as dt
import uuid

from django.contrib.gis.geos import Point

from backend.accounts.models import Organization
from backend.cases.models import ApprovalCase
from backend.demo import surveys as survey_demo
from backend.meetings import services
from backend.meetings.models import Meeting, MeetingKind
from backend.surveys.models import Finding

NAMESPACE = uuid.UUID("0f4c2b7a-9d3e-4b8e-8c61-5a2e7d9b1c30")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NUMBER = "西海岸审批协调〔2026〕12号"


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def seed() -> None:
    if Meeting.all_objects.filter(pk=_id("meeting-12")).exists():
        return
    land_use = ApprovalCase.objects.filter(external_no=survey_demo.LAND_USE_CASE).first()
    engineering = ApprovalCase.objects.filter(external_no=survey_demo.ENGINEERING_CASE).first()
    fire_lane = Finding.objects.filter(pk=uuid.uuid5(survey_demo.NAMESPACE, "finding-land-use-fire-lane")).first()
    water = Finding.objects.filter(pk=uuid.uuid5(survey_demo.NAMESPACE, "finding-engineering-water")).first()
    organizations = {org.name: org for org in Organization.objects.all()}
    names = {survey_demo.APPROVAL, survey_demo.FIRE, survey_demo.WATER_BUREAU, survey_demo.PLANNING}
    if None in (land_use, engineering, fire_lane, water) or not names <= set(organizations):
        return
    meeting, _ = services.meeting_create(
        by=None,
        record_id=_id("meeting-12"),
        case=land_use,
        further_cases=[engineering.pk],
        kind=MeetingKind.COORDINATION,
        number=NUMBER,
        title="海晟新能源装备智能制造基地项目审批问题协调会",
        scheduled_at=dt.datetime(2026, 11, 20, 14, 30, tzinfo=SHANGHAI),
        place="西海岸新区行政审批服务局三楼会议室",
        location=Point(120.1935, 35.9600, srid=4326),
        agenda="一、东侧消防车道与现状围墙冲突问题；二、市政给水接入路由及管径；三、下阶段审批时限安排。",
        findings=[fire_lane.pk, water.pk],
    )
    attendance = [
        (survey_demo.APPROVAL, "刘红", "副局长", True),
        (survey_demo.FIRE, "王海涛", "防火监督科科长", True),
        (survey_demo.WATER_BUREAU, "赵磊", "供排水科科长", True),
        (survey_demo.PLANNING, "李建国", "规划科副科长", False),
    ]
    for name, person, position, attended in attendance:
        services.meeting_participant_create(
            by=None,
            record_id=_id(f"participant-{name}"),
            meeting=meeting,
            department=organizations[name],
            person_name=person,
            position=position,
            attended=attended,
            remarks="" if attended else "书面意见：同意会议议定事项。",
        )
    meeting = services.meeting_hold(
        meeting=meeting,
        by=None,
        held_at=dt.datetime(2026, 11, 20, 14, 35, tzinfo=SHANGHAI),
        minutes="2026年11月20日，区行政审批服务局召集消防、水务等部门召开协调会，研究海晟新能源项目审批中的"
        "2项问题，形成议定事项3项。自然资源局书面同意。",
    )
    decisions = [
        ("fire-lane", "建设单位拆除东侧现状围墙，消防车道按4.5米宽实施；消防救援大队同意按此方案审查。", fire_lane),
        ("water", "给水由滨海大道DN300市政管接入，管径DN150，水务局12月15日前出具接水意见。", water),
        ("schedule", "各部门按承诺时限办理施工许可阶段事项，审批局每周调度。", None),
    ]
    for name, text, finding in decisions:
        services.meeting_decision_create(
            by=None,
            record_id=_id(f"decision-{name}"),
            meeting=meeting,
            text=text,
            finding=finding,
            resolves_finding=finding is not None,
            responsible_department=organizations[survey_demo.APPROVAL] if finding is None else None,
        )
    _seed_scheduled_meeting(engineering, organizations)


def _seed_scheduled_meeting(case: ApprovalCase, organizations: dict[str, Organization]) -> None:
    meeting, _ = services.meeting_create(
        by=None,
        record_id=_id("meeting-joint-december"),
        case=case,
        kind=MeetingKind.JOINT,
        title="施工许可阶段联席会议",
        scheduled_at=dt.datetime(2026, 12, 18, 9, 0, tzinfo=SHANGHAI),
        place="西海岸新区行政审批服务局一楼直通车调度室",
        agenda="施工图审查意见汇总；水、电接入工程与主体工程同步施工安排。",
    )
    for name in (survey_demo.APPROVAL, survey_demo.HOUSING, survey_demo.WATER_BUREAU):
        if name in organizations:
            services.meeting_participant_create(
                by=None, record_id=_id(f"participant-joint-{name}"), meeting=meeting, department=organizations[name]
            )
