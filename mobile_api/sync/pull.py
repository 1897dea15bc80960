"""`sync/pull`: the page of changes after a cursor, its JSON assembled in PostgreSQL.

Which records a page carries, in which order and up to where, is the domain's feed
(`backend.sync.pull.feed_page`). Here each record is rendered as its type's REST serializer
renders it, scoped by its REST selector (deleted records as tombstones), in one query per record
type on the page: the serializer's fields are translated into one `jsonb_build_object` over the
model's columns (`record_json_expression`), with the serializer's formats (ISO 8601 times in the
current time zone, GeoJSON geometry, UUIDs as text, related records as their ids, ...). A type
whose serializer has a field with no such translation (a method field, a custom representation)
is rendered by its serializer in Python, as before: `sql_rendered_types()` says which are which.

A page stops at `limit` changes, and before the change that would take its JSON past
SYNC_PULL_MAX_BYTES (always at least one change); `has_more` then says the rest comes next.
"""

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connection, models, transaction
from django.db.models import Exists, Expression, F, Func, OuterRef, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone
from rest_framework import fields as drf_fields
from rest_framework import relations as drf_relations
from rest_framework import serializers
from rest_framework.request import Request

from backend.common.errors import ValidationFailed
from backend.sync.models import SyncAttachment
from backend.sync.pull import CASE_ACCESS, case_access_changes, feed_page
from backend.sync.selectors import attachments_missing_by_record
from mobile_api.geometry import GeometryInputField
from mobile_api.parsers import parse_non_negative_int
from mobile_api.sync.push import jsonable, tombstone_data
from mobile_api.sync.registry import SyncType, including_tombstones, sync_types

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

Position = tuple[int, int]


def parse_cursor(raw: str | None) -> Position:
    if raw in (None, ""):
        return (0, 0)
    txid_raw, dot, id_raw = raw.partition(".")
    txid = parse_non_negative_int(txid_raw) if dot else 0
    entry_id = parse_non_negative_int(id_raw if dot else txid_raw)
    if txid is None or entry_id is None:
        raise ValidationFailed("Unknown cursor; use the cursor of a previous pull.", code="invalid_cursor")
    return (txid, entry_id)


def format_cursor(position: Position) -> str:
    txid, entry_id = position
    return str(entry_id) if txid == 0 else f"{txid}.{entry_id}"


def parse_limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    limit = parse_non_negative_int(raw)
    if limit is None and raw.isascii() and raw.isdigit() and raw.strip("0"):
        limit = MAX_LIMIT  # more digits than bigint is still more than the maximum
    if limit is None or limit < 1:
        raise ValidationFailed(
            "limit must be a positive integer.", code="invalid_limit", errors={"limit": ["Invalid."]}
        )
    return min(limit, MAX_LIMIT)


def parse_types(raw: str | None) -> list[str]:
    available = sync_types()
    if raw in (None, ""):
        return sorted(available)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValidationFailed(
            f"Unknown or unsupported types: {', '.join(unknown)}.",
            code="unsupported_type",
            errors={"types": [f"Supported: {', '.join(sorted(available))}."]},
        )
    return names


def parse_case(raw: str | None) -> uuid.UUID | None:
    if raw in (None, ""):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise ValidationFailed(
            "case must be a UUID.", code="invalid_case", errors={"case": ["Expected a UUID."]}
        ) from error


# --- The serializer's representation as SQL -----------------------------------------------------


class Untranslatable(Exception):
    """A serializer field whose representation has no SQL translation here."""


class _Sql(Func):
    """A SQL template over one expression, which it may name several times (`{x}`)."""

    def __init__(self, expression: Any, template: str, output_field: models.Field) -> None:
        super().__init__(expression, output_field=output_field)
        self.sql_template = template

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        count = self.sql_template.count("{x}")
        return self.sql_template.replace("{x}", f"({sql})"), tuple(params) * count


class _JsonbConcat(Func):
    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = models.JSONField()


def _same(field: Any, base: type, *methods: str) -> bool:
    """`field` represents values exactly as `base` does (it overrides none of `methods`)."""
    return isinstance(field, base) and all(getattr(type(field), method) is getattr(base, method) for method in methods)


_STRING_COLUMNS = (models.CharField, models.TextField)
_INTEGER_COLUMNS = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.AutoField)


# Python's `datetime.isoformat()` as DRF's DateTimeField renders it: microseconds only when not
# zero, the UTC offset as ±HH:MM, `Z` for UTC. The offset is the session's time zone's, which the
# render query sets to the current time zone for its transaction (`_session_time_zone`).
_DATETIME_SQL = "replace(replace(to_char({x}, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM'), '.000000', ''), '+00:00', 'Z')"
# A tombstone's deletion time, in UTC whatever the session's time zone.
_UTC_SQL = "to_char({x} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


# GeoJSON as GEOS writes it (`geometry.json`): points with their exact doubles (float8 → jsonb
# is the shortest text that reads back as the same double, as Python's repr is); other types
# through ST_AsGeoJSON with 15 decimals, which reads back as the same doubles for |coordinate|
# >= 1 (every lon/lat of this service's area).
_GEOJSON_SQL = (
    "CASE WHEN {x} IS NULL THEN NULL"
    " WHEN GeometryType({x}) = 'POINT' AND ST_NDims({x}) = 2"
    " THEN jsonb_build_object('type', 'Point', 'coordinates', jsonb_build_array(ST_X({x}), ST_Y({x})))"
    " ELSE ST_AsGeoJSON({x}, 15, 0)::jsonb END"
)


def _column(model: type[models.Model], source: str) -> tuple[str, models.Field]:
    """The ORM path (`department__name`) and the model field of the value a dotted serializer
    source names (`case_id`, a foreign key's attname, names the related record's key)."""
    parts = source.split(".")
    current = model
    path = []
    for index, part in enumerate(parts):
        try:
            model_field = current._meta.get_field(part)
        except FieldDoesNotExist:
            raise Untranslatable(f"{source}: not a column") from None
        if not getattr(model_field, "concrete", False) or model_field.many_to_many or model_field.one_to_many:
            raise Untranslatable(f"{source}: not a column")
        path.append(part)
        last = index == len(parts) - 1
        if model_field.is_relation and part == model_field.attname and model_field.attname != model_field.name:
            if not last:
                raise Untranslatable(source)
            return "__".join(path), model_field.target_field
        if not last:
            if not (model_field.many_to_one or model_field.one_to_one):
                raise Untranslatable(source)
            current = model_field.related_model
    return "__".join(path), model_field


def _text(expression: Any) -> Expression:
    return Cast(expression, models.TextField())


def _value_expression(field: Any, model: type[models.Model]) -> tuple[Expression, str]:
    """The SQL value of one serializer field and the ORM path of its column."""
    if isinstance(field, drf_relations.PrimaryKeyRelatedField):
        if not _same(field, drf_relations.PrimaryKeyRelatedField, "to_representation") or field.pk_field is not None:
            raise Untranslatable(field.field_name)
        if "." in field.source:
            raise Untranslatable(field.field_name)
        path, model_field = _column(model, field.source)
        if not model_field.is_relation:
            raise Untranslatable(field.field_name)
        column = F(model_field.attname)
        return (_text(column) if isinstance(model_field.target_field, models.UUIDField) else column), path
    if isinstance(field, serializers.ManyRelatedField | serializers.BaseSerializer):
        raise Untranslatable(field.field_name)
    if field.source == "*":
        raise Untranslatable(field.field_name)
    path, model_field = _column(model, field.source)
    column = F(path)
    if _same(field, GeometryInputField, "to_representation"):
        if not isinstance(model_field, gis_models.GeometryField) or model_field.geography:
            raise Untranslatable(field.field_name)
        return _Sql(column, _GEOJSON_SQL, models.JSONField()), path
    if _same(field, drf_fields.UUIDField, "to_representation"):
        if field.uuid_format != "hex_verbose" or not isinstance(model_field, models.UUIDField):
            raise Untranslatable(field.field_name)
        return _text(column), path
    if _same(field, drf_fields.DateTimeField, "to_representation", "enforce_timezone"):
        if getattr(field, "format", drf_fields.api_settings.DATETIME_FORMAT) != drf_fields.ISO_8601:
            raise Untranslatable(field.field_name)
        if not isinstance(model_field, models.DateTimeField) or getattr(field, "timezone", None) is not None:
            raise Untranslatable(field.field_name)
        return _Sql(column, _DATETIME_SQL, models.TextField()), path
    if _same(field, drf_fields.DateField, "to_representation"):
        if getattr(field, "format", drf_fields.api_settings.DATE_FORMAT) != drf_fields.ISO_8601:
            raise Untranslatable(field.field_name)
        if not isinstance(model_field, models.DateField) or isinstance(model_field, models.DateTimeField):
            raise Untranslatable(field.field_name)
        return _Sql(column, "to_char({x}, 'YYYY-MM-DD')", models.TextField()), path
    if _same(field, drf_fields.ChoiceField, "to_representation") or _same(
        field, drf_fields.CharField, "to_representation"
    ):
        if isinstance(field, drf_fields.ChoiceField) and any(
            not isinstance(value, str) for value in field.choice_strings_to_values.values()
        ):
            # Integer choices: the stored integer.
            integers = all(type(value) is int for value in field.choice_strings_to_values.values())
            if integers and isinstance(model_field, _INTEGER_COLUMNS):
                return column, path
            raise Untranslatable(field.field_name)
        if isinstance(model_field, _STRING_COLUMNS):
            return column, path
        if isinstance(model_field, models.UUIDField):
            return _text(column), path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.IntegerField, "to_representation"):
        if isinstance(model_field, _INTEGER_COLUMNS) and not isinstance(model_field, models.ForeignKey):
            return column, path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.FloatField, "to_representation"):
        if isinstance(model_field, models.FloatField):
            return column, path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.BooleanField, "to_representation"):
        if isinstance(model_field, models.BooleanField):
            return column, path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.JSONField, "to_representation"):
        if isinstance(model_field, models.JSONField) and not field.binary:
            return column, path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.ListField, "to_representation"):
        child = field.child
        identity = _same(child, drf_fields.ChoiceField, "to_representation") or _same(
            child, drf_fields.CharField, "to_representation"
        )
        if isinstance(model_field, ArrayField) and identity and isinstance(model_field.base_field, _STRING_COLUMNS):
            return _Sql(column, "to_jsonb({x})", models.JSONField()), path
        if isinstance(model_field, models.JSONField) and identity:
            # A JSON list of strings (the service writes it so), each rendered as itself.
            return column, path
        uuid_child = _same(child, drf_fields.UUIDField, "to_representation")
        if isinstance(model_field, ArrayField) and uuid_child and isinstance(model_field.base_field, models.UUIDField):
            return _Sql(column, "to_jsonb({x})", models.JSONField()), path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.DictField, "to_representation"):
        if isinstance(model_field, models.JSONField) and type(field.child) is drf_fields._UnvalidatedField:
            return column, path
        raise Untranslatable(field.field_name)
    raise Untranslatable(f"{field.field_name} ({type(field).__name__})")


# jsonb_build_object takes at most 100 arguments.
_PAIRS_PER_OBJECT = 50


def record_json_expression(serializer: serializers.Serializer, model: type[models.Model]) -> Expression:
    """One SQL expression for `serializer.to_representation(record)`, over the record's row.

    Raises Untranslatable when a field (or the serializer) represents values in a way this does not
    translate. Keys the serializer would leave out (a dotted source through an empty relation, on
    a field with no default that is neither nullable nor required) are left out too.
    """
    if type(serializer).to_representation is not serializers.Serializer.to_representation:
        raise Untranslatable(f"{type(serializer).__name__}.to_representation")
    pairs: list[tuple[str, Expression]] = []
    optional: list[Expression] = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if type(field).get_attribute not in (
            drf_fields.Field.get_attribute,
            drf_relations.RelatedField.get_attribute,
        ):
            raise Untranslatable(f"{name}.get_attribute")
        expression, path = _value_expression(field, model)
        if "__" in path and field.default is drf_fields.empty and not field.allow_null and not field.required:
            # Through an empty relation, DRF skips the key.
            related = path.rsplit("__", 1)[0]
            optional.append(_Optional(F(related), JSONObject(**{name: expression})))
        elif "__" in path and field.default is not drf_fields.empty:
            raise Untranslatable(f"{name}: default")
        else:
            pairs.append((name, expression))
    objects: list[Expression] = [
        JSONObject(**dict(pairs[start : start + _PAIRS_PER_OBJECT]))
        for start in range(0, len(pairs), _PAIRS_PER_OBJECT)
    ] or [Value({}, output_field=models.JSONField())]
    parts = objects + optional
    return parts[0] if len(parts) == 1 else _JsonbConcat(*parts)


class _Optional(Func):
    """`{key: value}` when the relation is there, `{}` when it is empty."""

    template = "(CASE WHEN %(expressions)s END)"
    output_field = models.JSONField()

    def as_sql(self, compiler, connection, **extra_context):
        relation_sql, relation_params = compiler.compile(self.source_expressions[0])
        object_sql, object_params = compiler.compile(self.source_expressions[1])
        return (
            f"(CASE WHEN ({relation_sql}) IS NULL THEN '{{}}'::jsonb ELSE {object_sql} END)",
            (*relation_params, *object_params),
        )


_UNTRANSLATABLE: dict[str, str] = {}


def _sql_expression(sync_type: SyncType, serializer: serializers.Serializer) -> Expression | None:
    try:
        return record_json_expression(serializer, sync_type.model)
    except Untranslatable as reason:
        _UNTRANSLATABLE[sync_type.name] = str(reason)
        return None


def sql_rendered_types(request: Request) -> dict[str, str | None]:
    """Sync type → None when its changes are built in SQL, else why its serializer renders them."""
    found = {}
    for name, sync_type in sorted(sync_types().items()):
        view = sync_type.view(request, "list")
        expression = _sql_expression(sync_type, view.get_serializer())
        found[name] = None if expression is not None else _UNTRANSLATABLE.get(name, "?")
    return found


# --- The page -------------------------------------------------------------------------------------

# The change's JSON around its data, for the byte budget: `{"type": …, "data": <data>, …}`.
_CHANGE_KEYS = ("type", "id", "version", "deleted", "data", "complete", "missing_attachments")


# (type, serializer class, time zone, its fields) → the compiled SQL rendering a type's records by id.
_RENDER_SQL: dict[tuple[str, type, str, tuple[str, ...]], tuple[str, tuple[Any, ...]] | None] = {}
_INNER = "SELECT NULL::uuid WHERE false /* pull: the ids */"


def _render_sql(sync_type: SyncType, serializer: serializers.Serializer) -> tuple[str, tuple[Any, ...]] | None:
    """`SELECT id, version, deleted_at, case_id, <data JSON text> FROM <table>
    WHERE id = ANY(<ids>) AND id IN (<scoped ids>)` compiled once; the caller gives the ids and
    puts its scoped query in place of `_INNER`."""
    key = (sync_type.name, type(serializer), timezone.get_current_timezone_name(), tuple(serializer.fields))
    if key not in _RENDER_SQL:
        expression = _sql_expression(sync_type, serializer)
        if expression is None:
            _RENDER_SQL[key] = None
        else:
            model = sync_type.model
            case = "case_id" if _has_case(model) else "pk"
            query = (
                model.all_objects.filter(_AnyOf("pk", []))
                .filter(pk__in=RawSQL(_INNER, ()))
                .annotate(_pull_json=_Sql(expression, "({x})::text", models.TextField()))
                .annotate(_pull_deleted=_Sql(F("deleted_at"), _UTC_SQL, models.TextField()))
                .annotate(
                    _pull_declared=Exists(
                        SyncAttachment.objects.filter(record_type=sync_type.name, record_id=OuterRef("pk"))
                    )
                )
                .values_list("pk", "version", "_pull_deleted", case, "_pull_json", "_pull_declared")
                .order_by()
                .query
            )
            sql, params = query.sql_with_params()
            if sql.count(_INNER) != 1 or sql.split(_INNER)[1].count("%s") or not params or params[-1] != "{}":
                raise AssertionError(f"{sync_type.name}: the render query's ids are not its last parameters")
            _RENDER_SQL[key] = (sql, tuple(params[:-1]))
    return _RENDER_SQL[key]


@contextlib.contextmanager
def _session_time_zone(name: str) -> Iterator[None]:
    """The session's time zone is `name` inside (SET LOCAL: a rollback undoes it too), then back.
    Re-entrant: an inner use with the same name costs nothing. Django reads timestamptz values
    as if the session's zone were its own: queries inside must not return any (see _UTC_SQL)."""
    if getattr(connection, "_pull_time_zone", None) == name:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('TimeZone'), set_config('TimeZone', %s, true)", [name])
        (previous, _now) = cursor.fetchone()
    connection._pull_time_zone = name
    try:
        yield
    finally:
        connection._pull_time_zone = None
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [previous])


def _utc(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _has_case(model: type[models.Model]) -> bool:
    return any(f.attname == "case_id" for f in model._meta.concrete_fields)


class _AnyOf(Func):
    """`column = ANY('{…}'::uuid[])`: a page's ids as one parameter (a thousand parameters cost
    more to sort, adapt and plan than the query takes to run)."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, column: str, ids: list[uuid.UUID]) -> None:
        super().__init__(F(column), Value("{" + ",".join(str(pk) for pk in ids) + "}"))

    def as_sql(self, compiler, connection, **extra_context):
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        ids_sql, ids_params = compiler.compile(self.source_expressions[1])
        return f"({column_sql} = ANY(({ids_sql})::uuid[]))", (*column_params, *ids_params)


_Row = tuple[uuid.UUID, int, dt.datetime | None, Any, str | None]


def _sql_rows(*, request: Request, sync_type: SyncType, ids: list[uuid.UUID]) -> tuple[list[_Row], set] | None:
    """The rows of the records among `ids` the caller may see, their data's JSON built in SQL, and
    which of them declared attachments; None for a type the serializer renders."""
    view = sync_type.view(request, "list")
    render = _render_sql(sync_type, view.get_serializer())
    if render is None:
        return None
    sql, params = render
    queryset = including_tombstones(view.get_queryset()).filter(_AnyOf("pk", ids))
    try:
        inner_sql, inner_params = queryset.prefetch_related(None).order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # the selector shows the caller nothing of this type
        return [], set()
    # The ids again outside the selector's subquery: the row lookups go by primary key.
    ids_literal = "{" + ",".join(str(pk) for pk in ids) + "}"
    with transaction.atomic(), _session_time_zone(timezone.get_current_timezone_name()):
        with connection.cursor() as cursor:
            cursor.execute(sql.replace(_INNER, inner_sql), (*params, ids_literal, *inner_params))
            fetched = cursor.fetchall()
    rows = [(pk, version, _utc(deleted_at), case_id, text) for pk, version, deleted_at, case_id, text, _ in fetched]
    return rows, {row[0] for row in fetched if row[5]}


def _render_type(
    *, request: Request, sync_type: SyncType, ids: Any, fetched: tuple[list[_Row], set] | None = None
) -> dict[uuid.UUID, tuple[dict[str, Any], int]]:
    """record id → (its change, its JSON's size in bytes), for the records among `ids` the caller
    may see through the type's REST selector (`fetched`: what `_sql_rows` read for them)."""
    ids = list(ids)
    if fetched is None:
        fetched = _sql_rows(request=request, sync_type=sync_type, ids=ids)
    has_case = _has_case(sync_type.model)
    rows: list[_Row]
    if fetched is not None:
        rows, with_attachments = fetched
        data_by_id = {
            pk: (json.loads(text), len(text.encode()))
            for pk, _version, deleted_at, _case, text in rows
            if deleted_at is None
        }
    else:
        view = sync_type.view(request, "list")
        records = list(including_tombstones(view.get_queryset()).filter(_AnyOf("pk", ids)))
        rows = [(r.pk, r.version, r.deleted_at, getattr(r, "case_id", None), None) for r in records]
        live = [record for record in records if record.deleted_at is None]
        data = jsonable(view.get_serializer(live, many=True).data) if live else []
        data_by_id = {}
        for item in data:
            data_by_id[uuid.UUID(str(item.get("id")))] = (item, _size(item))
        declared = SyncAttachment.objects.filter(_AnyOf("record_id", ids), record_type=sync_type.name)
        with_attachments = set(declared.values_list("record_id", flat=True).distinct()) if rows else set()
    # Only records with declared attachments can miss one: ask about those alone.
    missing = (
        attachments_missing_by_record(
            record_type=sync_type.name,
            record_ids=[row[0] for row in rows if row[0] in with_attachments],
            user=request.user,
        )
        if with_attachments
        else {}
    )
    rendered = {}
    for pk, version, deleted_at, case_id, _json_text in rows:
        deleted = deleted_at is not None
        if deleted:
            row = SimpleNamespace(pk=pk, case_id=case_id if has_case else None, version=version, deleted_at=deleted_at)
            data = tombstone_data(row)
            data_size = _size(data)
        else:
            data, data_size = data_by_id.get(pk, ({}, 2))
        missing_here = missing.get(pk, [])
        change = {
            "type": sync_type.name,
            "id": str(pk),
            "version": version,
            "deleted": deleted,
            "data": data,
            "complete": not missing_here,
            "missing_attachments": missing_here,
        }
        rendered[pk] = (change, data_size + _envelope_size(change))
    return rendered


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


# (type, deleted, digits of the version) → bytes of a change's JSON besides its data, when it
# misses no attachment (its id is a UUID's 36 characters).
_ENVELOPE_SIZES: dict[tuple[str, bool, int], int] = {}


def _envelope_size(change: dict[str, Any]) -> int:
    """Bytes of the change's JSON besides its data (whose size is counted apart)."""
    if change["missing_attachments"] or len(change["id"]) != 36:
        return _size({**change, "data": 0}) - 1
    key = (change["type"], change["deleted"], len(str(change["version"])))
    if key not in _ENVELOPE_SIZES:
        _ENVELOPE_SIZES[key] = _size({**change, "data": 0}) - 1
    return _ENVELOPE_SIZES[key]


def pull(
    *, request: Request, cursor: Position, limit: int, types: list[str], case_id: uuid.UUID | None = None
) -> dict[str, Any]:
    user = request.user
    page = feed_page(user=user, cursor=cursor, limit=limit, types=types, case_id=case_id)
    latest = page.latest
    after = page.after
    has_more = page.has_more

    available = sync_types()
    by_type: dict[str, list[uuid.UUID]] = {}
    for record_type, record_id in latest:
        by_type.setdefault(record_type, []).append(record_id)
    rendered: dict[tuple[str, uuid.UUID], tuple[dict[str, Any], int]] = {}
    if CASE_ACCESS in by_type:
        for key, change in case_access_changes(user=user, case_ids=by_type.pop(CASE_ACCESS)).items():
            rendered[key] = (change, _size(change))
    # The rows of the types built in SQL in one transaction with the session in the current time
    # zone; then every change rendered with the session as Django set it.
    with transaction.atomic(), _session_time_zone(timezone.get_current_timezone_name()):
        fetched = {
            record_type: _sql_rows(request=request, sync_type=available[record_type], ids=ids)
            for record_type, ids in by_type.items()
        }
    for record_type, ids in by_type.items():
        changes_of_type = _render_type(
            request=request, sync_type=available[record_type], ids=ids, fetched=fetched[record_type]
        )
        for pk, item in changes_of_type.items():
            rendered[(record_type, pk)] = item
    ordered = [(rendered[key], entry) for key, entry in sorted(latest.items(), key=lambda kv: kv[1]) if key in rendered]
    changes = []
    size = 0
    for (change, change_size), (txid, entry_id) in ordered:
        size += change_size
        if changes and size > settings.SYNC_PULL_MAX_BYTES:
            # The rest comes on the next page: every later change's last entry is at or after
            # this one, and what lies before it was sent or is not the caller's.
            after = (txid, entry_id - 1)
            has_more = True
            break
        changes.append(change)
    return {"changes": changes, "cursor": format_cursor(after), "has_more": has_more}
