from django.db.models import QuerySet
from django.utils import timezone

from backend.accounts.models import DeviceToken, Organization, User
from backend.accounts.services import token_hash


def device_token_get_active(*, raw: str) -> DeviceToken | None:
    return (
        DeviceToken.objects.select_related("user", "user__organization")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def organizations_visible_to(*, user: User) -> QuerySet[Organization]:
    """Organisations are a directory: every signed-in user may read it; administrators write."""
    return Organization.objects.all()


def users_visible_to(*, user: User) -> QuerySet[User]:
    qs = User.objects.select_related("organization").order_by("username")
    if user.is_administrator:
        return qs
    return qs.filter(pk=user.pk)
