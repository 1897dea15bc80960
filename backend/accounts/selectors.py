import functools

from django.db import connection
from django.db.models import Model, QuerySet
from django.utils import timezone

from backend.accounts.models import DeviceToken, Organization, User
from backend.accounts.services import token_hash


def device_token_get_active(*, raw: str) -> DeviceToken | None:
    """The unrevoked, unexpired token whose hash matches `raw`, with its user and their organisation.

    Every token-authenticated request runs this, so it is one precompiled SQL statement instead of
    an ORM query built per request (`select_related("user", "user__organization")…first()` spent
    about as long compiling the three-table join and its needless ORDER BY as PostgreSQL spent
    answering it). Nothing is cached across requests: a revocation or an expiry applies to the
    very next request. The three rows are whole model instances (every concrete column), so
    code reading any field of the token, the user or the organisation works as before.
    """
    with connection.cursor() as cursor:
        cursor.execute(_active_token_sql(), [token_hash(raw), timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    token_end = len(DeviceToken._meta.concrete_fields)
    user_end = token_end + len(User._meta.concrete_fields)
    token = _instance(DeviceToken, "t", row[:token_end])
    user = _instance(User, "u", row[token_end:user_end])
    organization = _instance(Organization, "o", row[user_end:]) if user.organization_id is not None else None
    user.organization = organization
    token.user = user
    return token


@functools.cache
def _active_token_sql() -> str:
    """SELECT every concrete column of token `t`, user `u` and organisation `o` (in field order)."""
    qn = connection.ops.quote_name
    columns = [
        f"{alias}.{qn(field.column)}"
        for alias, model in (("t", DeviceToken), ("u", User), ("o", Organization))
        for field in model._meta.concrete_fields
    ]
    token_user = DeviceToken._meta.get_field("user")
    user_organization = User._meta.get_field("organization")
    return (
        f"SELECT {', '.join(columns)} FROM {qn(DeviceToken._meta.db_table)} t "
        f"JOIN {qn(User._meta.db_table)} u ON u.{qn(User._meta.pk.column)} = t.{qn(token_user.column)} "
        f"LEFT JOIN {qn(Organization._meta.db_table)} o "
        f"ON o.{qn(Organization._meta.pk.column)} = u.{qn(user_organization.column)} "
        f"WHERE t.{qn(DeviceToken._meta.get_field('key_hash').column)} = %s "
        f"AND t.{qn(DeviceToken._meta.get_field('revoked_at').column)} IS NULL "
        f"AND t.{qn(DeviceToken._meta.get_field('expires_at').column)} > %s"
    )


def _instance(model: type[Model], alias: str, values: tuple) -> Model:
    """A model instance from its columns as the database returned them, converted as the ORM
    would (each field's and the backend's converters, e.g. JSON)."""
    values = list(values)
    for index, expression, converters in _converters(model, alias):
        for converter in converters:
            values[index] = converter(values[index], expression, connection)
    return model.from_db(connection.alias, _attnames(model), values)


@functools.cache
def _attnames(model: type[Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


@functools.cache
def _converters(model: type[Model], alias: str) -> list[tuple[int, object, list]]:
    """(column index, column expression, converters) of the fields that need converting; once per
    process, as the ORM's compiler would find them (the backend's and each field's own)."""
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        expression = field.get_col(alias)
        converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        if converters:
            found.append((index, expression, converters))
    return found


def organizations_visible_to(*, user: User) -> QuerySet[Organization]:
    """Organisations are a directory: every signed-in user may read it; administrators write."""
    return Organization.objects.all()


def users_visible_to(*, user: User) -> QuerySet[User]:
    qs = User.objects.select_related("organization").order_by("username")
    if user.is_administrator:
        return qs
    return qs.filter(pk=user.pk)
