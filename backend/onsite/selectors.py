from datetime import datetime

from django.db.models import Q, QuerySet

from backend.accounts.models import Organization, Role, User
from backend.cases.selectors import on_cases_visible_to
from backend.common.errors import PermissionDenied
from backend.onsite.models import Certificate, Delegation, DepartmentHead, OnsiteDecision, OnsiteIntake, OnsiteItem


def onsite_items_visible_to(*, user: User) -> QuerySet[OnsiteItem]:
    """Every signed-in user sees the active catalogue (builders plan their visit with it); retired
    entries only administrators and the department's own staff, who may still meet them on records."""
    items = OnsiteItem.objects.select_related("department")
    if user.is_administrator:
        return items
    scope = Q(active=True)
    if user.organization_id:
        scope |= Q(department_id=user.organization_id)
    return items.filter(scope)


def is_department_head(*, user: User, department: Organization) -> bool:
    return DepartmentHead.objects.filter(department=department, user=user).exists()


def may_grant_for(*, user: User, department: Organization) -> bool:
    return user.is_administrator or is_department_head(user=user, department=department)


def delegations_visible_to(*, user: User) -> QuerySet[Delegation]:
    """Administrators: all; a department's staff: its delegations; a delegate: their own; the
    vehicle team's leads: all (they plan who rides on which visit)."""
    delegations = Delegation.objects.select_related("department", "delegate", "granted_by", "revoked_by")
    delegations = delegations.prefetch_related("items")
    if user.is_administrator or Role.VEHICLE_LEAD in user.roles:
        return delegations
    scope = Q(delegate=user)
    if user.organization_id:
        scope |= Q(department_id=user.organization_id)
    return delegations.filter(scope)


def delegation_check(*, user: User, department: Organization, item: OnsiteItem, at: datetime) -> Delegation:
    """The delegation that lets `user` decide `item` for `department` at `at`, or a 403 saying why not.

    Refusals, most specific first: `item_not_decidable_on_site` (the catalogue no longer allows it),
    `not_vehicle_approver`, `delegation_revoked` (a delegation covered it but was revoked by `at`),
    `delegation_expired` (ended by `at`), `delegation_not_yet_valid`, else `not_delegated`.
    """
    if item.department_id != department.pk or not item.decide_on_site or not item.active:
        raise PermissionDenied(
            "The catalogue does not let this department's item be decided on site.",
            code="item_not_decidable_on_site",
        )
    if not user.is_active or Role.VEHICLE_APPROVER not in user.roles:
        raise PermissionDenied("Only a vehicle approver decides on site.", code="not_vehicle_approver")
    covering = Delegation.objects.filter(delegate=user, department=department, items=item)
    valid = covering.filter(valid_from__lte=at, valid_to__gt=at).filter(
        Q(revoked_at__isnull=True) | Q(revoked_at__gt=at)
    )
    delegation = valid.order_by("valid_to").first()
    if delegation is not None:
        return delegation
    revoked = covering.filter(revoked_at__lte=at).order_by("-revoked_at").first()
    if revoked is not None:
        raise PermissionDenied(
            "The delegation for this item was revoked.",
            code="delegation_revoked",
            extra={"delegation": str(revoked.pk), "revoked_at": revoked.revoked_at.isoformat()},
        )
    expired = covering.filter(valid_to__lte=at).order_by("-valid_to").first()
    if expired is not None:
        raise PermissionDenied(
            "The delegation for this item has ended.",
            code="delegation_expired",
            extra={"delegation": str(expired.pk), "valid_to": expired.valid_to.isoformat()},
        )
    future = covering.filter(valid_from__gt=at).order_by("valid_from").first()
    if future is not None:
        raise PermissionDenied(
            "The delegation for this item has not started yet.",
            code="delegation_not_yet_valid",
            extra={"delegation": str(future.pk), "valid_from": future.valid_from.isoformat()},
        )
    raise PermissionDenied("The department has not delegated this item to you.", code="not_delegated")


def onsite_intakes_visible_to(*, user: User) -> QuerySet[OnsiteIntake]:
    return on_cases_visible_to(OnsiteIntake.objects.all(), user=user).select_related("onsite_item", "item")


def onsite_decisions_visible_to(*, user: User) -> QuerySet[OnsiteDecision]:
    return on_cases_visible_to(OnsiteDecision.objects.all(), user=user).select_related(
        "onsite_item", "department", "delegate", "certificate"
    )


def certificates_visible_to(*, user: User) -> QuerySet[Certificate]:
    return on_cases_visible_to(Certificate.objects.all(), user=user).select_related("decision")
