"""Demo joint acceptance for the completion-acceptance case of the demo key project.

- stage 1: planning verification passed, fire acceptance failed (two rectification items, one
  already fixed), archives passed, completion filing filed, civil air defence still pending;
- stage 2: every item has a final result (results complete, waiting for signatures).

Departments come from the catalogue (the demo organisations carry the catalogue's names);
results are recorded by the demo department users where they exist. Idempotent: records have
fixed ids and are skipped when present. Tolerant: without the demo case or departments it does nothing.
"""

import datetime as dt
import uuid

from backend.acceptance.models import Inspection, InspectionItem, RectificationItem, RectificationStatus
from backend.acceptance.services import (
    inspection_create,
    inspection_item_record_result,
    rectification_create,
    rectification_transition,
)
from backend.accounts.models import User
from backend.cases.models import ApprovalCase, Stage
from backend.common.errors import ApplicationError
from backend.sites.models import Site

NAMESPACE = uuid.UUID("4f7c3a52-6d0e-4b8a-9a41-acce97a0c000")
CASE_EXTERNAL_NO = "GG-370211-2026-000415"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# code → (result, remarks, demo username of the department or None)
STAGE_1_RESULTS = {
    "planning_verification": ("pass", "建筑位置、层数、面积与规划许可一致。", "planning"),
    "fire": ("fail", "消防车道局部宽度不足4米；室内消火栓系统压力不足。", "fire"),
    "archives": ("pass", "竣工档案齐全。", None),
    "completion_filing": ("filed", "竣工验收备案已受理。", None),
}
STAGE_2_RESULTS = {
    "soil_water_conservation": ("filed", "水土保持设施验收报备完成。", None),
    "telecom_infrastructure": ("filed", "通信配套设施已备案。", None),
    "lightning_protection": ("pass", "防雷装置检测合格。", None),
}
# description, due date, fixed?
FIRE_RECTIFICATIONS = [
    ("拓宽东侧消防车道至不小于4米，清除占道设施。", dt.date(2026, 12, 15), True),
    ("更换消防水泵控制柜，复测室内消火栓栓口静压。", dt.date(2026, 12, 20), False),
]


def _demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def _case() -> ApprovalCase | None:
    case = ApprovalCase.objects.filter(external_no=CASE_EXTERNAL_NO).first()
    return case or ApprovalCase.objects.filter(stage=Stage.COMPLETION_ACCEPTANCE).order_by("opened_at").first()


def _user(username: str | None) -> User | None:
    return User.objects.filter(username=username).first() if username else None


def _record(inspection: Inspection, results: dict) -> None:
    for code, (result, remarks, username) in results.items():
        item = InspectionItem.objects.get(inspection=inspection, code=code)
        if item.result != "pending":
            continue
        user = _user(username)
        by = user if user is not None and user.organization_id == item.department_id else None
        inspection_item_record_result(item=item, result=result, remarks=remarks, by=by)


def _inspection(case: ApprovalCase, site: Site | None, stage: int, name: str, scheduled_at: dt.datetime):
    record_id = _demo_id(name)
    existing = Inspection.all_objects.filter(pk=record_id).first()
    if existing is not None:
        return existing
    inspection, _ = inspection_create(
        by=None, case=case, site=site, stage=stage, scheduled_at=scheduled_at, record_id=record_id
    )
    return inspection


def seed() -> None:
    case = _case()
    if case is None:
        return
    site = Site.objects.filter(case=case).first() or Site.objects.filter(project=case.project).first()
    try:
        stage_1 = _inspection(case, site, 1, "stage-1", dt.datetime(2026, 11, 20, 9, 30, tzinfo=SHANGHAI))
        stage_2 = _inspection(case, site, 2, "stage-2", dt.datetime(2026, 11, 21, 14, 0, tzinfo=SHANGHAI))
    except ApplicationError:
        # The demo organisations (catalogue departments) are not there: nothing to show.
        return
    _record(stage_1, STAGE_1_RESULTS)
    _record(stage_2, STAGE_2_RESULTS)

    fire_item = InspectionItem.objects.get(inspection=stage_1, code="fire")
    fire_user = _user("fire")
    by = fire_user if fire_user is not None and fire_user.organization_id == fire_item.department_id else None
    for index, (description, due_date, is_fixed) in enumerate(FIRE_RECTIFICATIONS):
        record_id = _demo_id(f"fire-rectification-{index}")
        if RectificationItem.all_objects.filter(pk=record_id).exists():
            continue
        rectification, _ = rectification_create(
            by=by, inspection_item=fire_item, description=description, due_date=due_date, record_id=record_id
        )
        if is_fixed:
            rectification_transition(rectification=rectification, to=RectificationStatus.FIXED, by=None)
