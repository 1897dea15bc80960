from django.utils import timezone
from rest_framework import authentication, exceptions

from backend.accounts.selectors import device_token_get_active


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>`: a per-device token, stored hashed, expiring, revocable."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Token <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed("Token contains invalid characters.") from error
        token = device_token_get_active(raw=raw)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Token is invalid, expired or revoked.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            type(token).objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class BasicForGisAuthentication(authentication.BasicAuthentication):
    """HTTP Basic, accepted only on /ogc/ and /tiles/ so desktop GIS can connect."""

    def authenticate(self, request):
        if not request.path.startswith(("/ogc/", "/tiles/")):
            return None
        return super().authenticate(request)
