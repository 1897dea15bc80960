"""Who sees which acceptance records.

- administrators: everything;
- an acceptance department (an approval department that inspects: the department of a catalogue
  row or of any inspection item) sees the items addressed to it, the inspections containing
  them and their rectifications, never another department's items;
- utility companies see none;
- everyone else (the coordinating approval service bureau, acceptance teams and vehicle teams
  assigned to the case, the builder, the external system) follows cases_visible_to.
"""

from django.db.models import Q, QuerySet

from backend.acceptance.models import CatalogueItem, Inspection, InspectionItem, RectificationItem
from backend.accounts.models import Organization, OrganizationKind, User
from backend.cases.selectors import on_cases_visible_to


def organization_is_acceptance_department(*, organization: Organization) -> bool:
    if organization.kind != OrganizationKind.APPROVAL_DEPARTMENT:
        return False
    return (
        CatalogueItem.objects.filter(Q(default_department=organization) | Q(default_department_name=organization.name))
        .only("pk")
        .exists()
        or InspectionItem.all_objects.filter(department=organization).only("pk").exists()
    )


def _scope(user: User) -> tuple[str, Organization | None]:
    """("all" | "none" | "department" | "cases", organisation)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "none", None
    if user.is_administrator:
        return "all", None
    organization = user.organization
    if organization is None or organization.kind == OrganizationKind.UTILITY_COMPANY:
        return "none", None
    if organization_is_acceptance_department(organization=organization):
        return "department", organization
    return "cases", organization


def inspection_items_visible_to(*, user: User) -> QuerySet[InspectionItem]:
    qs = InspectionItem.objects.select_related("department", "inspection")
    scope, organization = _scope(user)
    if scope == "all":
        return qs
    if scope == "none":
        return qs.none()
    if scope == "department":
        return qs.filter(department=organization)
    return on_cases_visible_to(qs, user=user)


def inspections_visible_to(*, user: User) -> QuerySet[Inspection]:
    qs = Inspection.objects.all()
    scope, organization = _scope(user)
    if scope == "all":
        return qs
    if scope == "none":
        return qs.none()
    if scope == "department":
        return qs.filter(pk__in=InspectionItem.objects.filter(department=organization).values("inspection_id"))
    return on_cases_visible_to(qs, user=user)


def rectifications_visible_to(*, user: User) -> QuerySet[RectificationItem]:
    qs = RectificationItem.objects.select_related("inspection_item")
    scope, organization = _scope(user)
    if scope == "all":
        return qs
    if scope == "none":
        return qs.none()
    if scope == "department":
        return qs.filter(inspection_item__department=organization)
    return on_cases_visible_to(qs, user=user)


def catalogue_items(*, include_inactive: bool = False) -> QuerySet[CatalogueItem]:
    qs = CatalogueItem.objects.select_related("default_department")
    return qs if include_inactive else qs.filter(is_active=True)
