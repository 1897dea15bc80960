from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from backend.accounts.login import LoginThrottled, login_limited
from backend.accounts.selectors import device_token_get_active

GIS_PREFIXES = ("/ogc/", "/tiles/")


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
    """HTTP Basic, accepted only on /ogc/ and /tiles/ so desktop GIS (QGIS, GDAL) can connect.

    Failed passwords count against the same per-username-and-address limit as
    `POST auth/token`, so Basic is no way around login throttling. Put this class FIRST in a
    GIS view's `authentication_classes` (`[BasicForGisAuthentication, DeviceTokenAuthentication]`):
    DRF takes the 401's `WWW-Authenticate` from the first class, and only `Basic` makes
    desktop GIS ask for a password; `Token` headers still work through the second class.
    """

    www_authenticate_realm = "field-approval"

    def authenticate(self, request):
        if not request.path.startswith(GIS_PREFIXES):
            return None
        return super().authenticate(request)

    def authenticate_credentials(self, userid, password, request=None):
        seconds = settings.BASIC_AUTH_CACHE_SECONDS
        key = _credential_cache_key(userid, password)

        def verify():
            user = _remembered_user(key) if seconds > 0 else None
            if user is not None:
                return user, None
            user, auth = super(BasicForGisAuthentication, self).authenticate_credentials(userid, password, request)
            if seconds > 0:
                cache.set(key, (str(user.pk), _user_fingerprint(user)), seconds)
            return user, auth

        if request is None:
            return verify()
        try:
            return login_limited(
                request,
                username=userid,
                verify=verify,
                is_failure=lambda error: isinstance(error, exceptions.AuthenticationFailed),
            )
        except LoginThrottled as throttled:
            raise exceptions.Throttled(wait=throttled.retry_after) from None

    def authenticate_header(self, request):
        if request.path.startswith(GIS_PREFIXES):
            return super().authenticate_header(request)
        # Elsewhere Basic is not offered: challenge for the API's own scheme (a 401, not a 403).
        return DeviceTokenAuthentication.keyword


# Desktop GIS sends Basic credentials with every tile, and the password hash (PBKDF2, by design
# ~100-300 ms) would then dominate each request. A verified credential is remembered briefly in the
# cache under an HMAC (keyed with SECRET_KEY) of username and password, never the password itself;
# the entry holds the user's id and a fingerprint of the row's stored hash, username and is_active,
# re-checked against the row (one primary-key query, which the request needs anyway) so that a
# password change, a rename or a deactivation ends it at once. Failures are never remembered.


def _credential_cache_key(userid: str, password: str) -> str:
    digest = salted_hmac(
        "mobile_api.basic-credential", f"{len(userid)}:{userid}:{password}", algorithm="sha256"
    ).hexdigest()
    return f"basic-credential:{digest}"


def _user_fingerprint(user) -> str:
    state = f"{user.pk}\0{user.get_username()}\0{user.password}\0{user.is_active}"
    return salted_hmac("mobile_api.basic-user-state", state, algorithm="sha256").hexdigest()


def _remembered_user(key: str):
    """The user a cached credential still stands for, or None (the entry is then dropped)."""
    entry = cache.get(key)
    if entry is None:
        return None
    user_id, fingerprint = entry
    user = get_user_model()._default_manager.select_related("organization").filter(pk=user_id).first()
    if user is not None and user.is_active and constant_time_compare(_user_fingerprint(user), fingerprint):
        return user
    cache.delete(key)
    return None


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    target_class = DeviceTokenAuthentication
    name = "deviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>` from `POST /api/v1/auth/token`; one token per device, expiring, revocable.",
        }


class BasicForGisScheme(OpenApiAuthenticationExtension):
    target_class = BasicForGisAuthentication
    name = "basicForGis"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "Only on /ogc/ and /tiles/, for desktop GIS."}
