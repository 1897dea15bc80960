from datetime import timedelta
from types import SimpleNamespace

from django.utils import timezone

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.onsite.models import DepartmentHead, OnsiteItem


def onsite_world() -> SimpleNamespace:
    """Two departments, their catalogues, a head, an administrator and the vehicle team."""
    department = OrganizationFactory(name="市自然资源和规划局", kind=OrganizationKind.APPROVAL_DEPARTMENT)
    other = OrganizationFactory(name="市住房和城乡建设局", kind=OrganizationKind.APPROVAL_DEPARTMENT)
    team = OrganizationFactory(name="直通车专班", kind=OrganizationKind.VEHICLE_TEAM)
    head = UserFactory(organization=department, roles=[Role.OFFICIAL])
    DepartmentHead.objects.create(department=department, user=head)
    official = UserFactory(organization=department, roles=[Role.OFFICIAL])
    admin = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    approver = UserFactory(organization=team, roles=[Role.VEHICLE_APPROVER], full_name="王审批")
    agent = UserFactory(organization=team, roles=[Role.VEHICLE_AGENT])
    lead = UserFactory(organization=team, roles=[Role.VEHICLE_LEAD])
    builder = UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.BUILDER), roles=[Role.BUILDER_REPRESENTATIVE]
    )
    permit = OnsiteItem.objects.create(
        department=department, name="建设工程规划许可证核发", accept_on_site=True, decide_on_site=True
    )
    accept_only = OnsiteItem.objects.create(department=department, name="建设用地规划许可证核发", accept_on_site=True)
    retired = OnsiteItem.objects.create(
        department=department, name="临时建设工程规划许可", decide_on_site=True, active=False
    )
    other_item = OnsiteItem.objects.create(department=other, name="施工许可证核发", decide_on_site=True)
    now = timezone.now()
    return SimpleNamespace(
        department=department,
        other=other,
        team=team,
        head=head,
        official=official,
        admin=admin,
        approver=approver,
        agent=agent,
        lead=lead,
        builder=builder,
        permit=permit,
        accept_only=accept_only,
        retired=retired,
        other_item=other_item,
        now=now,
        start=now - timedelta(days=1),
        end=now + timedelta(days=30),
    )
