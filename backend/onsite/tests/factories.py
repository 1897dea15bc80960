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


def case_world(world: SimpleNamespace) -> SimpleNamespace:
    """A case with the catalogue's permit item, its materials, the vehicle team assigned, and a
    standing delegation of the permit to the approver."""
    from backend.cases.models import Material
    from backend.cases.tests.factories import ApprovalCaseFactory, ApprovalItemFactory, ProjectFactory
    from backend.onsite.models import Delegation

    builder_org = world.builder.organization
    case = ApprovalCaseFactory(project=ProjectFactory(builder=builder_org, name="西海岸智能制造产业园"))
    case.assigned_organizations.add(world.team)
    item = ApprovalItemFactory(case=case, name=world.permit.name, department=world.department)
    form = Material.objects.create(item=item, name="建设工程规划许可申请表", is_required=True)
    drawings = Material.objects.create(item=item, name="总平面图", is_required=True, is_waivable=True)
    delegation = Delegation.objects.create(
        department=world.department,
        delegate=world.approver,
        valid_from=world.start,
        valid_to=world.end,
        granted_by=world.head,
    )
    delegation.items.set([world.permit])
    return SimpleNamespace(case=case, item=item, form=form, drawings=drawings, delegation=delegation)


def scan_of(*, by, case, item, material, name="scan"):
    import hashlib

    from backend.sync.services import material_scan_create

    scan, _ = material_scan_create(
        by=by,
        case=case,
        item=item,
        material=material,
        sha256=hashlib.sha256(f"{name}-{material.pk}".encode()).hexdigest(),
        content_type="application/pdf",
        filename=f"{material.name}.pdf",
    )
    return scan
