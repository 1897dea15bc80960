import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import DeviceToken, User
from backend.common.errors import ApplicationError

DEFAULT_DEVICE_ID = "default"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def device_token_issue(*, user: User, device_id: str | None, device_name: str = "") -> tuple[str, DeviceToken]:
    """Issue a token for one device, revoking the device's previous one. Returns the raw token once."""
    device_id = (device_id or DEFAULT_DEVICE_ID)[:100]
    now = timezone.now()
    DeviceToken.objects.filter(user=user, device_id=device_id, revoked_at__isnull=True).update(revoked_at=now)
    raw = secrets.token_urlsafe(32)
    token = DeviceToken.objects.create(
        user=user,
        device_id=device_id,
        device_name=device_name[:200],
        key_hash=token_hash(raw),
        expires_at=now + timedelta(days=settings.TOKEN_TTL_DAYS),
    )
    return raw, token


def device_token_login(
    *, username: str, password: str, device_id: str | None, device_name: str = ""
) -> tuple[str, DeviceToken]:
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise ApplicationError("Username or password is wrong.", code="invalid_credentials", status=401)
    return device_token_issue(user=user, device_id=device_id, device_name=device_name)


def device_token_revoke(*, token: DeviceToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
