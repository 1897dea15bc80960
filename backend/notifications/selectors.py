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
