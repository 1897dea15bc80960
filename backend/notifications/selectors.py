from django.db.models import QuerySet

from backend.accounts.models import User
from backend.notifications.models import Notification


def notifications_for(*, user: User, unread: bool | None = None) -> QuerySet[Notification]:
    """The signed-in user's own notices, newest first; nobody reads another's."""
    if not user.is_authenticated:
        return Notification.objects.none()
    qs = Notification.objects.filter(recipient=user)
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-created_at", "-id")


def supervisions_visible_to(*, user: User) -> QuerySet:
    """Administrators see every supervision; supervisors those of their region (all without a
    region, as the notice chain tells them); everyone else those of their own department."""
    from django.db.models import Q

    from backend.accounts.models import Role
    from backend.notifications.models import Supervision

    qs = Supervision.objects.select_related("item", "department")
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_administrator:
        return qs
    scope = Q(department_id=user.organization_id) if user.organization_id else Q(pk__in=[])
    if Role.SUPERVISOR in user.roles:
        region = user.organization.region if user.organization_id else ""
        if not region:
            return qs
        scope |= Q(case__project__region_code__startswith=region)
    return qs.filter(scope)
