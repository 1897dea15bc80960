"""Demo catalogue: what the vehicle accepts and decides on site, and one standing delegation."""

from datetime import timedelta

from django.utils import timezone

from backend.accounts.demo import DEMO_PASSWORD
from backend.accounts.models import Organization, Role, User
from backend.onsite.models import Delegation, DepartmentHead, OnsiteItem

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
    if head is None or Delegation.objects.filter(delegate=approver, department=departments[PLANNING]).exists():
        return
    # Written directly, not through the service: the demo has no request and the audit chain
    # should start with what users do.
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7)
    delegation = Delegation.objects.create(
        department=departments[PLANNING],
        delegate=approver,
        valid_from=start,
        valid_to=start + timedelta(days=365),
        granted_by=head,
    )
    delegation.items.set([items["建设工程规划许可证核发"], items["乡村建设规划许可证核发"]])
