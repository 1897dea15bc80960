from django.db.models import Q, QuerySet

from backend.accounts.models import Organization, OrganizationKind, User
from backend.cases.deadlines import CLOCK_STOPPING_STATUSES
from backend.cases.models import ApprovalCase, ApprovalItem, Project


def cases_visible_to(*, user: User) -> QuerySet[ApprovalCase]:
    """The approval cases a user may see; every record selector builds on this.

    - administrators: all;
    - approval departments: their jurisdiction (project region under the organisation's
      region), the cases they are assigned to, and cases with an item of theirs;
    - an external system (the approval system): the cases of its region and the cases it created
      itself (accounts.CaseOrigin); without a region, only the latter;
    - builders: their own projects' cases;
    - crews, teams and utility companies: the cases they are assigned to (services that
      address a record to an organisation assign it to the case).
    """
    qs = ApprovalCase.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if sees_every_case(user):
        return qs
    org = user.organization
    if org is None:
        return qs.none()
    return cases_visible_to_organization(organization=org)


def sees_every_case(user: User) -> bool:
    """Whether cases_visible_to(user) is every case (an active administrator)."""
    return user.is_authenticated and user.is_active and user.is_administrator


def on_cases_visible_to(qs: QuerySet, *, user: User) -> QuerySet:
    """`qs` (records with a `case`) narrowed to those on the cases the user may see; every
    record selector scopes through this.

    For a user who sees every case, records whose `case` is a required foreign key are not
    narrowed at all: each is on a case, so `case_id IN (SELECT id FROM cases)` keeps every row
    and would only cost a probe of the cases' primary key per row (a fifth of a z14 tile's SQL
    over 400 points)."""
    if sees_every_case(user) and not qs.model._meta.get_field("case").null:
        return qs
    return qs.filter(case__in=cases_visible_to(user=user))


def cases_visible_to_organization(*, organization: Organization) -> QuerySet[ApprovalCase]:
    """The cases every member of `organization` sees by its kind (administrators see more).

    What a machine receiver owned by the organisation, such as a webhook subscription, may get.
    """
    qs = ApprovalCase.objects.all()
    org = organization
    if org.kind == OrganizationKind.APPROVAL_DEPARTMENT:
        condition = Q(assigned_organizations=org) | Q(items__department=org)
        if org.region:
            condition |= Q(project__region_code__startswith=org.region)
        return qs.filter(pk__in=ApprovalCase.objects.filter(condition).values("pk"))
    if org.kind == OrganizationKind.EXTERNAL_SYSTEM:
        condition = Q(origin__organization=org)
        if org.region:
            condition |= Q(project__region_code__startswith=org.region)
        return qs.filter(condition)
    if org.kind == OrganizationKind.BUILDER:
        return qs.filter(project__builder=org)
    return qs.filter(pk__in=ApprovalCase.objects.filter(assigned_organizations=org).values("pk"))


def projects_visible_to(*, user: User) -> QuerySet[Project]:
    """Projects with a visible case; builders see all of their own; administrators all.

    Approval departments and external systems with a region also see every project of their
    region, with or without a case yet (they register projects before the approval system opens
    cases).
    """
    qs = Project.objects.select_related("builder")
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    org = user.organization if user.organization_id else None
    if org is not None and org.kind == OrganizationKind.BUILDER:
        return qs.filter(builder=org)
    condition = Q(pk__in=cases_visible_to(user=user).values("project_id"))
    if (
        org is not None
        and org.kind in {OrganizationKind.APPROVAL_DEPARTMENT, OrganizationKind.EXTERNAL_SYSTEM}
        and org.region
    ):
        condition |= Q(region_code__startswith=org.region)
    return qs.filter(condition)


def case_items_visible_to(*, user: User, case: ApprovalCase) -> QuerySet[ApprovalItem]:
    """Items of a case the user can see (the case itself must come from `cases_visible_to`)."""
    return (
        ApprovalItem.objects.filter(case=case)
        .select_related("department")
        .prefetch_related("status_events", "materials")
        .order_by("created_at", "id")
    )


def open_items() -> QuerySet[ApprovalItem]:
    """Items whose clock may still run (for `deadlines_due`; not user-scoped: an operator command)."""
    return (
        ApprovalItem.objects.all()
        .exclude(status__in=CLOCK_STOPPING_STATUSES)
        .select_related("department", "case", "case__project")
        .prefetch_related("status_events")
        .order_by("department__name", "due_date", "id")
    )
