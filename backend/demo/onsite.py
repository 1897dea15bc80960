"""Demo catalogue: what the vehicle accepts and decides on site, one standing delegation, and an
on-site approval (intake, decision, certificate) of the planning permit of the demo case."""

import uuid
from datetime import timedelta

from django.utils import timezone

from backend.accounts.models import Organization, Role, User
from backend.cases.models import ApprovalItem
from backend.demo.accounts import DEMO_PASSWORD
from backend.onsite.models import Delegation, DepartmentHead, OnsiteDecision, OnsiteIntake, OnsiteItem

PLANNING = "青岛西海岸新区自然资源局"
HOUSING = "青岛西海岸新区住房和城乡建设局"
SERVICE = "青岛西海岸新区行政审批服务局"
VEHICLE_TEAM = "审批服务直通车专班"

# department, item, accepted on site, decided on site
DEMO_ITEMS = [
    (PLANNING, "建设用地规划许可证核发", True, False),
    (PLANNING, "建设工程规划许可证核发", True, True),
    (PLANNING, "乡村建设规划许可证核发", True, True),
    (HOUSING, "建筑工程施工许可证核发", True, True),
    (HOUSING, "房屋建筑和市政基础设施工程竣工验收备案", True, False),
    (SERVICE, "企业投资项目备案", True, True),
]
# The on-site approval: fixed record ids, so seeding again replays instead of adding another.
APPROVAL_CASE = "GG-370211-2026-000245"
APPROVAL_ITEM = "建设工程规划许可证核发"
INTAKE_ID = uuid.UUID("6f1d3c2a-0c1e-4a53-9d61-7e3b1a000001")
DECISION_ID = uuid.UUID("6f1d3c2a-0c1e-4a53-9d61-7e3b1a000002")
# And one accepted on site that awaits its decision.
WAITING_CASE = "GG-370211-2026-000388"
WAITING_ITEM = "建筑工程施工许可证核发"
WAITING_INTAKE_ID = uuid.UUID("6f1d3c2a-0c1e-4a53-9d61-7e3b1a000003")
# The department heads who grant delegations: demo users of those departments.
DEMO_HEADS = [(PLANNING, "planning"), (SERVICE, "official")]


def seed() -> None:
    departments = {o.name: o for o in Organization.objects.filter(name__in={d for d, *_ in DEMO_ITEMS})}
    team = Organization.objects.filter(name=VEHICLE_TEAM).first()
    if len(departments) < 3 or team is None:
        return
    items = {}
    for department, name, accept, decide in DEMO_ITEMS:
        items[name], _ = OnsiteItem.objects.update_or_create(
            department=departments[department],
            name=name,
            defaults={"accept_on_site": accept, "decide_on_site": decide, "active": True},
        )
    for department, username in DEMO_HEADS:
        head = User.objects.filter(username=username).first()
        if head is not None:
            DepartmentHead.objects.get_or_create(department=departments[department], user=head)
    approver, created = User.objects.get_or_create(
        username="vehicle_approver",
        defaults={"organization": team, "roles": [Role.VEHICLE_APPROVER], "full_name": "直通车审批员"},
    )
    if created:
        approver.set_password(DEMO_PASSWORD)
        approver.save(update_fields=["password"])
    head = User.objects.filter(username="planning").first()
    if head is None:
        return
    if not Delegation.objects.filter(delegate=approver, department=departments[PLANNING]).exists():
        _delegation(department=departments[PLANNING], approver=approver, head=head, items=items)
    _onsite_approval(approver=approver)
    _onsite_intake_waiting()


def _delegation(*, department, approver, head, items) -> None:
    # Written directly, not through the service: the demo has no request and the audit chain
    # should start with what users do.
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7)
    delegation = Delegation.objects.create(
        department=department,
        delegate=approver,
        valid_from=start,
        valid_to=start + timedelta(days=365),
        granted_by=head,
    )
    delegation.items.set([items["建设工程规划许可证核发"], items["乡村建设规划许可证核发"]])


def _onsite_approval(*, approver: User) -> None:
    """The vehicle accepts the planning permit of the demo case on site and the delegate approves
    it: a certificate is issued (through the services, as a device would)."""
    from backend.onsite.services import onsite_decision_create, onsite_intake_create

    if OnsiteDecision.all_objects.filter(pk=DECISION_ID).exists():
        return
    item = (
        ApprovalItem.objects.filter(case__external_no=APPROVAL_CASE, name=APPROVAL_ITEM)
        .select_related("case__project__builder")
        .first()
    )
    if item is None:
        return
    intake = (
        OnsiteIntake.all_objects.filter(pk=INTAKE_ID).first()
        or onsite_intake_create(
            by=None,
            case=item.case,
            item=item,
            materials=[],
            note="直通车现场受理：申请材料齐全。",
            record_id=INTAKE_ID,
        )[0]
    )
    onsite_decision_create(
        by=approver,
        case=item.case,
        intake=intake,
        outcome="approve",
        reason="经现场核查，符合控制性详细规划及规划条件，准予许可。",
        record_id=DECISION_ID,
    )


def _onsite_intake_waiting() -> None:
    from backend.onsite.services import onsite_intake_create

    if OnsiteIntake.all_objects.filter(pk=WAITING_INTAKE_ID).exists():
        return
    item = ApprovalItem.objects.filter(case__external_no=WAITING_CASE, name=WAITING_ITEM).first()
    if item is None:
        return
    onsite_intake_create(
        by=None,
        case=item.case,
        item=item,
        materials=[],
        note="直通车现场受理，待住建局授权审批员现场审批。",
        record_id=WAITING_INTAKE_ID,
    )
