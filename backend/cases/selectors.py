from django.db.models import Q, QuerySet

from backend.accounts.models import OrganizationKind, User
from backend.cases.models import ApprovalCase, Project


def cases_visible_to(*, user: User) -> QuerySet[ApprovalCase]:
    """The approval cases a user may see; every record selector builds on this.

    - administrators: all;
    - approval departments: their jurisdiction (project region under the organisation's
      region), the cases they are assigned to, and cases with an item of theirs;
    - the external approval system: all cases in its region (all when it has none);
    - builders: their own projects' cases;
    - crews, teams and utility companies: the cases they are assigned to (services that
      address a record to an organisation assign it to the case).
    """
    qs = ApprovalCase.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    org = user.organization
    if org is None:
        return qs.none()
    if org.kind == OrganizationKind.APPROVAL_DEPARTMENT:
        condition = Q(assigned_organizations=org) | Q(items__department=org)
        if org.region:
            condition |= Q(project__region_code__startswith=org.region)
        return qs.filter(pk__in=ApprovalCase.objects.filter(condition).values("pk"))
    if org.kind == OrganizationKind.EXTERNAL_SYSTEM:
        return qs.filter(project__region_code__startswith=org.region) if org.region else qs
    if org.kind == OrganizationKind.BUILDER:
        return qs.filter(project__builder=org)
    return qs.filter(pk__in=ApprovalCase.objects.filter(assigned_organizations=org).values("pk"))


def projects_visible_to(*, user: User) -> QuerySet[Project]:
    """Projects with a visible case; builders see all of their own; administrators all."""
    qs = Project.objects.select_related("builder")
    if user.is_authenticated and user.is_administrator:
        return qs
    if user.is_authenticated and user.organization_id and user.organization.kind == OrganizationKind.BUILDER:
        return qs.filter(builder=user.organization)
    return qs.filter(pk__in=cases_visible_to(user=user).values("project_id"))
