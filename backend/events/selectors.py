from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from backend.accounts.models import Organization, User
from backend.cases.models import ApprovalCase
from backend.cases.selectors import cases_visible_to
from backend.events.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookSubscription


def organization_member(organization: Organization) -> User:
    """An unsaved member of the organisation without roles: what the organisation itself may see.

    Subscriptions belong to an organisation, not to the person who created them, so their scope
    is the case selector's answer for a plain member (not for that person's administrator role).
    """
    return User(organization=organization, is_active=True, roles=[])


def cases_visible_to_organization(*, organization: Organization) -> QuerySet[ApprovalCase]:
    return cases_visible_to(user=organization_member(organization))


def events_visible_to(*, user: User) -> QuerySet[OutboxEvent]:
    """Outbox events of the cases the user may see, oldest first (the feed pages by id)."""
    return OutboxEvent.objects.filter(case_id__in=cases_visible_to(user=user).values("pk")).order_by("id")


def subscriptions_visible_to(*, user: User) -> QuerySet[WebhookSubscription]:
    """The subscriptions of the user's organisation (if the user may manage them)."""
    from backend.events.services import webhook_can_manage

    if not getattr(user, "is_authenticated", False) or not user.organization_id:
        return WebhookSubscription.objects.none()
    if not webhook_can_manage(user=user, organization=user.organization):
        return WebhookSubscription.objects.none()
    return WebhookSubscription.objects.filter(organization_id=user.organization_id).order_by("created_at", "id")


def deliveries_due(*, now=None) -> QuerySet[WebhookDelivery]:
    """Pending deliveries whose time has come and that wait for no earlier event of their case.

    Per subscription and case, events go out in commit order: a delivery waits while an earlier
    event of the same case is still pending for the same subscription.
    """
    now = now or timezone.now()
    earlier_pending = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        case_ref=OuterRef("case_ref"),
        status=DeliveryStatus.PENDING,
        event_id__lt=OuterRef("event_id"),
    )
    return (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(subscription__is_active=True)
        .exclude(Exists(earlier_pending))
        .order_by("next_attempt_at", "created_at")
    )
