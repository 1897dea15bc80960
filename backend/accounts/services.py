import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, router, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils import timezone

from backend.accounts.models import DeviceToken, Organization, OrganizationKind, Role, User, UtilityType
from backend.common.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed

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


def device_tokens_revoke_for_user(*, user: User) -> int:
    """Revoke every active token of a user (password changed, account deactivated)."""
    return DeviceToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- administration ------------------------------------------------------------------------

# 统一社会信用代码 (GB 32100-2015): 18 characters from this alphabet; the last is a check character.
_CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_REGION_PATTERN = re.compile(r"^(\d{2}|\d{4}|\d{6})$")


def credit_code_check_character(first17: str) -> str:
    total = sum(_CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_CODE_WEIGHTS, strict=True))
    return _CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def credit_code_is_valid(code: str) -> bool:
    if len(code) != 18 or any(c not in _CREDIT_CODE_ALPHABET for c in code):
        return False
    return credit_code_check_character(code[:17]) == code[17]


def _require_administrator(by: User) -> None:
    if not by.is_administrator:
        raise PermissionDenied("Only administrators may do this.")


def organization_validation_errors(
    *, name: str, kind: str, utility_types: list[str], region: str, credit_code: str
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["Name is required."]
    if kind not in OrganizationKind.values:
        errors["kind"] = [f"Unknown kind {kind!r}; one of {', '.join(OrganizationKind.values)}."]
    unknown = [t for t in utility_types if t not in UtilityType.values]
    if unknown:
        errors["utility_types"] = [f"Unknown utility type(s): {', '.join(map(str, unknown))}."]
    elif kind == OrganizationKind.UTILITY_COMPANY and not utility_types:
        errors["utility_types"] = ["A utility company needs at least one utility type."]
    elif kind != OrganizationKind.UTILITY_COMPANY and utility_types:
        errors["utility_types"] = ["Only utility companies have utility types."]
    if region and not _REGION_PATTERN.match(region):
        errors["region"] = ["Region is an administrative division code: 2, 4 or 6 digits."]
    if credit_code and not credit_code_is_valid(credit_code):
        errors["credit_code"] = ["Not a valid unified social credit code (18 characters, GB 32100 check character)."]
    return errors


def _organization_save(*, organization: Organization) -> Organization:
    errors = organization_validation_errors(
        name=organization.name,
        kind=organization.kind,
        utility_types=organization.utility_types,
        region=organization.region,
        credit_code=organization.credit_code,
    )
    if not errors and Organization.objects.filter(name=organization.name).exclude(pk=organization.pk).exists():
        errors["name"] = ["An organisation with this name exists."]
    if errors:
        raise ValidationFailed("The organisation is not valid.", errors=errors)
    organization.save()
    return organization


@transaction.atomic
def organization_create(
    *,
    by: User,
    name: str,
    kind: str,
    utility_types: Iterable[str] = (),
    region: str = "",
    credit_code: str = "",
) -> Organization:
    _require_administrator(by)
    organization = Organization(
        name=name.strip(),
        kind=kind,
        utility_types=list(dict.fromkeys(utility_types)),
        region=region.strip(),
        credit_code=credit_code.strip().upper(),
    )
    return _organization_save(organization=organization)


_ORGANIZATION_FIELDS = {"name", "kind", "utility_types", "region", "credit_code"}


@transaction.atomic
def organization_update(*, by: User, organization: Organization, **changes) -> Organization:
    """Change some of name, kind, utility_types, region, credit_code."""
    _require_administrator(by)
    unknown = set(changes) - _ORGANIZATION_FIELDS
    if unknown:
        raise ValidationFailed("Unknown fields.", errors={f: ["Unknown field."] for f in sorted(unknown)})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    for field, value in changes.items():
        if field == "utility_types":
            value = list(dict.fromkeys(value))
        elif field == "credit_code":
            value = value.strip().upper()
        elif isinstance(value, str):
            value = value.strip()
        setattr(organization, field, value)
    return _organization_save(organization=organization)


def _blocking_references(obj: models.Model, *, harmless: set[type[models.Model]]) -> dict[str, int]:
    """What deleting `obj` would also delete or clear, other than `harmless` models: {label: count}."""
    collector = Collector(using=router.db_for_write(type(obj)))
    try:
        collector.collect([obj])
    except (ProtectedError, RestrictedError) as error:
        blocking: dict[str, int] = {}
        for related in error.protected_objects if isinstance(error, ProtectedError) else error.restricted_objects:
            label = related._meta.label_lower
            blocking[label] = blocking.get(label, 0) + 1
        return blocking
    blocking = {}
    for model, instances in collector.data.items():
        if model is type(obj) or model in harmless:
            continue
        if instances:
            blocking[model._meta.label_lower] = len(instances)
    for queryset in collector.fast_deletes:
        if queryset.model in harmless or queryset.model is type(obj):
            continue
        count = queryset.count()
        if count:
            label = queryset.model._meta.label_lower
            blocking[label] = blocking.get(label, 0) + count
    return blocking


@transaction.atomic
def organization_delete(*, by: User, organization: Organization) -> None:
    """Delete an organisation nothing refers to; otherwise 409 `in_use` (no cascade ever)."""
    _require_administrator(by)
    blocking = _blocking_references(organization, harmless=set())
    if blocking:
        raise Conflict(
            "The organisation is still referred to; it cannot be deleted.",
            code="in_use",
            extra={"references": blocking},
        )
    organization.delete()


def _user_errors(*, username: str, roles: list[str], pk=None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    try:
        User.username_validator(username)
    except DjangoValidationError as error:
        errors["username"] = list(error.messages)
    if not username:
        errors["username"] = ["Username is required."]
    elif User.objects.filter(username=username).exclude(pk=pk).exists():
        errors["username"] = ["A user with this username exists."]
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        errors["roles"] = [f"Unknown role(s): {', '.join(map(str, unknown))}."]
    return errors


def _password_errors(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as error:
        return list(error.messages)
    return []


@transaction.atomic
def user_create(
    *,
    by: User,
    username: str,
    password: str,
    organization: Organization | None = None,
    roles: Iterable[str] = (),
    full_name: str = "",
    is_active: bool = True,
) -> User:
    _require_administrator(by)
    user = User(
        username=username.strip(),
        organization=organization,
        roles=list(dict.fromkeys(roles)),
        full_name=full_name.strip(),
        is_active=is_active,
    )
    errors = _user_errors(username=user.username, roles=user.roles)
    password_errors = _password_errors(password, user)
    if password_errors:
        errors["password"] = password_errors
    if errors:
        raise ValidationFailed("The user is not valid.", errors=errors)
    user.set_password(password)
    user.save()
    return user


_USER_FIELDS = {"username", "password", "organization", "roles", "full_name", "is_active"}


@transaction.atomic
def user_update(*, by: User, user: User, **changes) -> User:
    """Change some of username, password, organization, roles, full_name, is_active.

    A new password or deactivation revokes the user's device tokens.
    """
    _require_administrator(by)
    unknown = set(changes) - _USER_FIELDS
    if unknown:
        raise ValidationFailed("Unknown fields.", errors={f: ["Unknown field."] for f in sorted(unknown)})
    user = User.objects.select_for_update().get(pk=user.pk)
    password = changes.pop("password", None)
    for field, value in changes.items():
        if field == "roles":
            value = list(dict.fromkeys(value))
        elif field in {"username", "full_name"}:
            value = value.strip()
        setattr(user, field, value)
    if user.pk == by.pk and not user.is_active:
        raise ValidationFailed(
            "You cannot deactivate yourself.", errors={"is_active": ["You cannot deactivate yourself."]}
        )
    errors = _user_errors(username=user.username, roles=user.roles, pk=user.pk)
    if password is not None:
        password_errors = _password_errors(password, user)
        if password_errors:
            errors["password"] = password_errors
    if errors:
        raise ValidationFailed("The user is not valid.", errors=errors)
    if password is not None:
        user.set_password(password)
    user.save()
    if password is not None or not user.is_active:
        device_tokens_revoke_for_user(user=user)
    return user


@transaction.atomic
def user_delete(*, by: User, user: User) -> None:
    """Delete a user who has recorded nothing; otherwise 409 `in_use` (deactivate them instead)."""
    _require_administrator(by)
    if user.pk == by.pk:
        raise Conflict("You cannot delete yourself.", code="cannot_delete_self")
    harmless = {DeviceToken, LogEntry, User.groups.through, User.user_permissions.through}
    blocking = _blocking_references(user, harmless=harmless)
    if blocking:
        raise Conflict(
            "The user has records; deactivate them (is_active=false) instead of deleting.",
            code="in_use",
            extra={"references": blocking},
        )
    user.delete()
