"""`sync/pull`: the page of changes after a cursor, its JSON assembled in PostgreSQL.

Which records a page carries, in which order and up to where, is the domain's feed
(`backend.sync.pull.feed_page`, one query). Here each record is rendered as its type's REST
serializer renders it, scoped by its REST selector (deleted records as tombstones), all the types
of a page in one statement: the serializer's fields are translated into the JSON text of the
record over the model's columns (`record_json_expression`: keys in the serializer's order, spaced
as json.dumps writes them), with the serializer's formats (ISO 8601 times in the current time
zone, GeoJSON geometry, UUIDs as text, related records as their ids, ...); a field whose value is
no column's can be declared in SQL beside it (the serializer's `sql_representation`). A type whose
serializer has a field with no such translation (a method field, a custom representation) is
rendered by its serializer in Python, as before: `sql_rendered_types()` says which are which.

The response body is the changes' JSON texts joined (`pull_page`), never parsed and encoded again.
A page stops at `limit` changes, and before the change that would take its changes' JSON past
SYNC_PULL_MAX_BYTES (always at least one change); `has_more` then says the rest comes next.
"""

import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet, FieldDoesNotExist
from django.db import connection, models
from django.db.models import Case, Exists, Expression, ExpressionWrapper, F, Func, OuterRef, Q, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from psycopg.adapt import Loader
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


def _same(field: Any, base: type, *methods: str) -> bool:
    """`field` represents values exactly as `base` does (it overrides none of `methods`)."""
    return isinstance(field, base) and all(getattr(type(field), method) is getattr(base, method) for method in methods)


_STRING_COLUMNS = (models.CharField, models.TextField)
_INTEGER_COLUMNS = (models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.AutoField)


# Python's `datetime.isoformat()` as DRF's DateTimeField renders it: microseconds only when not
# zero, the UTC offset as ±HH:MM, `Z` for UTC. The offset is the session's time zone's, which the
# render query sets to the current time zone for its statement (`_fetch_in_time_zone`).
_DATETIME_SQL = "replace(replace(to_char({x}, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM'), '.000000', ''), '+00:00', 'Z')"
# A tombstone's deletion time, in UTC whatever the session's time zone.
_UTC_SQL = "to_char({x} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


# A double as Python's repr writes it: float8's text is the same shortest digits, but Python
# writes a whole number with ".0" (45.0, not 45); |x| >= 1e15 (exponent in PostgreSQL from 1e15,
# in Python from 1e16) is no value of this service's fields (degrees, metres).
# The value is named once (a point's ST_X is computed once). NaN and ±Infinity come as json.dumps
# writes them too.
_FLOAT_SQL = "regexp_replace(({x})::text, '^(-?[0-9]+)$', '\\1.0')"

# A 2-D point column's GeoJSON (the column's type admits nothing else).
_POINT_GEOJSON_SQL = (
    '\'{"type": "Point", "coordinates": [\' || '
    + _FLOAT_SQL.replace("{x}", "ST_X({x})")
    + " || ', ' || "
    + _FLOAT_SQL.replace("{x}", "ST_Y({x})")
    + " || ']}'"
)

# GeoJSON as GEOS writes it (`geometry.json`: json.dumps of the coordinates), as JSON text: points
# with their exact doubles (float8's text is the shortest that reads back as the same double, as
# Python's repr is); other types through ST_AsGeoJSON with 15 decimals, which reads back as the same
# doubles for |coordinate| >= 1 (every lon/lat of this service's area), spaced as jsonb writes it,
# and each whole-number coordinate (`120`, after `[` or `, ` and before `,` or `]`) given the
# `.0` Python writes (`120.0`).
_GEOJSON_SQL = (
    "CASE WHEN {x} IS NULL THEN NULL"
    " WHEN GeometryType({x}) = 'POINT' AND ST_NDims({x}) = 2"
    " THEN "
    + _POINT_GEOJSON_SQL
    + " ELSE regexp_replace((ST_AsGeoJSON({x}, 15, 0)::jsonb)::text, '([[ ])(-?[0-9]+)([],])', '\\1\\2.0\\3', 'g')"
    " END"
)


class _JsonText(_Sql):
    """A value's SQL that is already its JSON text (not a value to_json writes; NULL for null)."""


def _quoted(expression: Any) -> _JsonText:
    """The JSON string of a text that needs no escaping (a UUID, an ISO 8601 time)."""
    return _JsonText(expression, "'\"' || {x} || '\"'", models.TextField())


def _json_number(expression: Any) -> _JsonText:
    """The JSON of an integer or a boolean: its SQL text (to_json's, without its per-call type lookup)."""
    return _JsonText(expression, "{x}::text", models.TextField())


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
        if isinstance(model_field.target_field, models.UUIDField):
            return _quoted(_text(column)), path
        if isinstance(model_field.target_field, _INTEGER_COLUMNS):
            return _json_number(column), path
        return column, path
    if isinstance(field, serializers.ManyRelatedField | serializers.BaseSerializer):
        raise Untranslatable(field.field_name)
    if field.source == "*":
        raise Untranslatable(field.field_name)
    path, model_field = _column(model, field.source)
    column = F(path)
    if _same(field, GeometryInputField, "to_representation"):
        if not isinstance(model_field, gis_models.GeometryField) or model_field.geography:
            raise Untranslatable(field.field_name)
        if isinstance(model_field, gis_models.PointField) and model_field.dim == 2:
            return _JsonText(column, _POINT_GEOJSON_SQL, models.TextField()), path
        return _JsonText(column, _GEOJSON_SQL, models.TextField()), path
    if _same(field, drf_fields.UUIDField, "to_representation"):
        if field.uuid_format != "hex_verbose" or not isinstance(model_field, models.UUIDField):
            raise Untranslatable(field.field_name)
        return _quoted(_text(column)), path
    if _same(field, drf_fields.DateTimeField, "to_representation", "enforce_timezone"):
        if getattr(field, "format", drf_fields.api_settings.DATETIME_FORMAT) != drf_fields.ISO_8601:
            raise Untranslatable(field.field_name)
        if not isinstance(model_field, models.DateTimeField) or getattr(field, "timezone", None) is not None:
            raise Untranslatable(field.field_name)
        return _quoted(_Sql(column, _DATETIME_SQL, models.TextField())), path
    if _same(field, drf_fields.DateField, "to_representation"):
        if getattr(field, "format", drf_fields.api_settings.DATE_FORMAT) != drf_fields.ISO_8601:
            raise Untranslatable(field.field_name)
        if not isinstance(model_field, models.DateField) or isinstance(model_field, models.DateTimeField):
            raise Untranslatable(field.field_name)
        return _quoted(_Sql(column, "to_char({x}, 'YYYY-MM-DD')", models.TextField())), path
    if _same(field, drf_fields.ChoiceField, "to_representation") or _same(
        field, drf_fields.CharField, "to_representation"
    ):
        if isinstance(field, drf_fields.ChoiceField) and any(
            not isinstance(value, str) for value in field.choice_strings_to_values.values()
        ):
            # Integer choices: the stored integer.
            integers = all(type(value) is int for value in field.choice_strings_to_values.values())
            if integers and isinstance(model_field, _INTEGER_COLUMNS):
                return _json_number(column), path
            raise Untranslatable(field.field_name)
        if isinstance(model_field, _STRING_COLUMNS):
            return column, path
        if isinstance(model_field, models.UUIDField):
            return _quoted(_text(column)), path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.IntegerField, "to_representation"):
        if isinstance(model_field, _INTEGER_COLUMNS) and not isinstance(model_field, models.ForeignKey):
            return _json_number(column), path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.FloatField, "to_representation"):
        if isinstance(model_field, models.FloatField):
            return _JsonText(column, _FLOAT_SQL, models.TextField()), path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.BooleanField, "to_representation"):
        if isinstance(model_field, models.BooleanField):
            return _json_number(column), path
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
        if isinstance(model_field, models.JSONField) and _plain_text_serializer(child):
            return _JsonText(column, _objects_list_sql(child), models.TextField()), path
        uuid_child = _same(child, drf_fields.UUIDField, "to_representation")
        if isinstance(model_field, ArrayField) and uuid_child and isinstance(model_field.base_field, models.UUIDField):
            return _Sql(column, "to_jsonb({x})", models.JSONField()), path
        raise Untranslatable(field.field_name)
    if _same(field, drf_fields.DictField, "to_representation"):
        if isinstance(model_field, models.JSONField) and type(field.child) is drf_fields._UnvalidatedField:
            return column, path
        raise Untranslatable(field.field_name)
    raise Untranslatable(f"{field.field_name} ({type(field).__name__})")


def _json_value(expression: Expression) -> Expression:
    """The value's JSON text (`null` for NULL): to_json writes strings, numbers, booleans and
    jsonb as JSON, jsonb with the spacing json.dumps uses."""
    if isinstance(expression, _JsonText):
        return _Sql(expression, "coalesce({x}, 'null')", models.TextField())
    return _Sql(expression, "coalesce(to_json({x})::text, 'null')", models.TextField())


def record_json_expression(serializer: serializers.Serializer, model: type[models.Model]) -> Expression:
    """One SQL expression for the JSON text of `serializer.to_representation(record)` (as
    json.dumps writes it, keys in the serializer's order), over the record's row.

    Raises Untranslatable when a field (or the serializer) represents values in a way this does not
    translate. Keys the serializer would leave out (a dotted source through an empty relation, on
    a field with no default that is neither nullable nor required) are left out too.
    """
    overridden: dict[str, Any] = {}
    if type(serializer).to_representation is not serializers.Serializer.to_representation:
        # A serializer's own to_representation translated here: the fields whose value it changes.
        overridden = _serializer_translations().get(type(serializer).to_representation)
        if overridden is None:
            raise Untranslatable(f"{type(serializer).__name__}.to_representation")
    pieces: list[Expression] = []
    # Fields whose value is no column's, declared by the serializer in SQL beside the field (a
    # boolean expression over the record's row, the same value its Python gives).
    declared = getattr(type(serializer), "sql_representation", {})
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if name in declared:
            sql = declared[name]
            expression = ExpressionWrapper(sql, output_field=models.BooleanField()) if isinstance(sql, Q) else sql
            pieces.append(
                _Concat(Value(("" if not pieces else ", ") + json.dumps(name) + ": "), _json_value(expression))
            )
            continue
        translation = overridden.get(name) or _translation(serializer, field)
        if translation is not None:
            pieces.append(
                _Concat(
                    Value(("" if not pieces else ", ") + json.dumps(name) + ": "),
                    _json_value(translation(field, model)),
                )
            )
            continue
        if type(field).get_attribute not in (
            drf_fields.Field.get_attribute,
            drf_relations.RelatedField.get_attribute,
        ):
            raise Untranslatable(f"{name}.get_attribute")
        expression, path = _value_expression(field, model)
        pair = _Concat(Value(("" if not pieces else ", ") + json.dumps(name) + ": "), _json_value(expression))
        if "__" in path and field.default is drf_fields.empty and not field.allow_null and not field.required:
            # Through an empty relation, DRF skips the key.
            if not pieces:
                raise Untranslatable(f"{name}: an optional first key")
            related = path.rsplit("__", 1)[0]
            pieces.append(_Optional(F(related), pair))
        elif "__" in path and field.default is not drf_fields.empty:
            raise Untranslatable(f"{name}: default")
        else:
            pieces.append(pair)
    return _Concat(Value("{"), *pieces, Value("}"))


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plain_text_serializer(child: Any) -> bool:
    """A nested plain serializer of read-only text fields, each named as its key."""
    if not isinstance(child, serializers.Serializer) or isinstance(child, serializers.ModelSerializer):
        return False
    if type(child).to_representation is not serializers.Serializer.to_representation:
        return False
    return all(
        _same(f, drf_fields.CharField, "to_representation", "get_attribute")
        and f.source == name
        and f.read_only
        and not f.allow_null
        and f.default is drf_fields.empty
        for name, f in child.fields.items()
    )


def _objects_list_sql(child: serializers.Serializer) -> str:
    """A JSON list of objects rendered through `child` (ListField(child=<plain serializer>)): each
    object's keys the child's, those it lacks left out (DRF skips them), values as str() writes a
    string (the service stores strings; a number as its JSON text, a boolean as Python writes it)."""
    keys = []
    for name in child.fields:
        key = _sql_literal(name)
        value = (
            f"CASE jsonb_typeof(e -> {key}) WHEN 'null' THEN 'null'"
            f" WHEN 'boolean' THEN to_json(initcap(e ->> {key}))::text ELSE to_json(e ->> {key})::text END"
        )
        keys.append(f"CASE WHEN e ? {key} THEN {_sql_literal(json.dumps(name) + ': ')} || {value} END")
    keys_sql = ", ".join(keys)
    element = (
        "CASE jsonb_typeof(e) WHEN 'null' THEN 'null' WHEN 'object' THEN '{' || concat_ws(', ', "
        + keys_sql
        + ") || '}' ELSE '{}' END"
    )
    return (
        "CASE WHEN {x} IS NULL OR jsonb_typeof({x}) = 'null' THEN NULL"
        " WHEN jsonb_typeof({x}) = 'array' THEN '[' || coalesce((SELECT string_agg("
        + element
        + ", ', ' ORDER BY n) FROM jsonb_array_elements({x}) WITH ORDINALITY AS t(e, n)), '') || ']'"
        " ELSE '[]' END"
    )


# --- Fields whose value is no column's, translated beside the Python they stand for ------------
#
# A method field's method, or a field class's to_representation → the SQL of its value (JSON
# text). Looked up by the very function: when the Python changes, it is not found, and the type
# goes back to its serializer (sql_rendered_types says why).

# In a head, the place of a value the page's tails decide: the record's completeness as
# `missing_attachments` says it (a raw control character never occurs in JSON text).
_COMPLETE_MARK = "\x01"


class _RequestText(str):
    """A text parameter of the cached render SQL whose value is the request's (where the
    absolute URLs start): `_sql_statement` puts `of(request)` in its place."""

    def __new__(cls, of: Any) -> "_RequestText":
        text = super().__new__(cls, "")
        text.of = of
        return text


_URL_ID = "00000000-0000-0000-0000-000000000000"


def _url_around_id(request: Request | None, view_name: str) -> tuple[str, str]:
    """The text before and after the record's id in `request.build_absolute_uri(reverse(...))`."""
    from django.urls import reverse

    path = reverse(view_name, args=[_URL_ID])
    url = request.build_absolute_uri(path) if request is not None else path
    before, found, after = url.partition(_URL_ID)
    if not found or _URL_ID in after:
        raise AssertionError(f"{view_name}: the id is not once in its URL")
    return before, after


def _record_url(view_name: str, pk: Any) -> Expression:
    """The JSON string of a record's absolute URL, as the serializer's request builds it."""
    before = _RequestText(lambda request: _url_around_id(request, view_name)[0])
    after = _RequestText(lambda request: _url_around_id(request, view_name)[1])
    url = _Concat(
        Value(before, output_field=models.TextField()), _text(pk), Value(after, output_field=models.TextField())
    )
    return _Sql(url, "to_json({x})::text", models.TextField())


def _scan_complete(field: Any, model: type[models.Model]) -> Expression:
    # get_complete: the selector's is_complete, the rule missing_attachments follows (the tail).
    return _JsonText(Value(_COMPLETE_MARK), "{x}", models.TextField())


def _intake_materials(field: Any, model: type[models.Model]) -> Expression:
    # IntakeChecklistField.to_representation: the stored checklist as it is (null stays null).
    path, model_field = _column(model, field.source)
    if not isinstance(model_field, models.JSONField):
        raise Untranslatable(field.field_name)
    return _JsonText(F(path), "{x}::text", models.TextField())


def _decision_certificate(field: Any, model: type[models.Model]) -> Expression:
    # get_certificate: the decision's certificate as CertificateSummarySerializer renders it, or null.
    from backend.onsite.models import Certificate
    from mobile_api.onsite.serializers import CertificateSummarySerializer

    summary = record_json_expression(CertificateSummarySerializer(), Certificate)
    found = Certificate._base_manager.filter(decision=OuterRef("pk")).annotate(text=summary).values("text")[:1]
    return _JsonText(Subquery(found, output_field=models.TextField()), "{x}", models.TextField())


def _photo_urls(field: Any, model: type[models.Model]) -> Expression:
    # get_urls: the original's URL; the thumbnail's and the preview's once they are made.
    def optional(column: str, name: str) -> Expression:
        return Case(
            When(**{f"{column}__isnull": True}, then=Value("null")),
            default=_record_url(name, F("pk")),
            output_field=models.TextField(),
        )

    return _JsonText(
        _Concat(
            Value('{"original": '),
            _record_url("api:photo-original", F("pk")),
            Value(', "thumbnail": '),
            optional("thumbnail_id", "api:photo-thumbnail"),
            Value(', "preview": '),
            optional("preview_id", "api:photo-preview"),
            Value("}"),
        ),
        "{x}",
        models.TextField(),
    )


def _signer(field: Any, model: type[models.Model]) -> Expression:
    # SignerSerializer.to_representation: the signer's columns; ids as text or null.
    def text(column: str) -> Expression:
        return _json_value(F(column))

    def uuid_or_null(column: str) -> Expression:
        return _json_value(_quoted(_text(F(column))))

    pairs = [
        ("name", text("signer_name")),
        ("role", text("signer_role")),
        ("organization", uuid_or_null("signer_organization_id")),
        ("organization_name", text("signer_organization_name")),
        ("user", uuid_or_null("signer_user_id")),
        ("witness", uuid_or_null("witness_id")),
    ]
    pieces: list[Expression] = [Value("{")]
    for index, (key, value) in enumerate(pairs):
        pieces += [Value(("" if index == 0 else ", ") + json.dumps(key) + ": "), value]
    return _JsonText(_Concat(*pieces, Value("}")), "{x}", models.TextField())


def _signature_image(field: Any, model: type[models.Model]) -> Expression:
    # SignatureImageField.to_representation: the image's hash and its URL.
    return _JsonText(
        _Concat(
            Value('{"sha256": '),
            _json_value(F("image_id")),
            Value(', "url": '),
            _record_url("api:signature-image", F("pk")),
            Value("}"),
        ),
        "{x}",
        models.TextField(),
    )


def _signature_image_sha256(field: Any, model: type[models.Model]) -> Expression:
    # SignatureSerializer.to_representation: image_sha256 (in its place) is the image's id.
    return F("image_id")


@functools.cache
def _serializer_translations() -> dict[Any, dict[str, Any]]:
    from mobile_api.signatures.serializers import SignatureSerializer

    return {SignatureSerializer.to_representation: {"image_sha256": _signature_image_sha256}}


@functools.cache
def _translations() -> dict[Any, Any]:
    from mobile_api.evidence.serializers import PhotoSerializer
    from mobile_api.onsite.serializers import IntakeChecklistField, OnsiteDecisionSerializer
    from mobile_api.signatures.serializers import SignatureImageField, SignerSerializer
    from mobile_api.sync.scans import MaterialScanSerializer

    return {
        MaterialScanSerializer.get_complete: _scan_complete,
        IntakeChecklistField.to_representation: _intake_materials,
        OnsiteDecisionSerializer.get_certificate: _decision_certificate,
        PhotoSerializer.get_urls: _photo_urls,
        SignerSerializer.to_representation: _signer,
        SignatureImageField.to_representation: _signature_image,
    }


def _translation(serializer: serializers.Serializer, field: Any) -> Any:
    """The SQL builder of a field whose value comes from a function translated here, or None."""
    if isinstance(field, serializers.SerializerMethodField):
        function = getattr(type(serializer), field.method_name, None)
    else:
        function = type(field).to_representation
    return _translations().get(function)


class _Concat(Func):
    """Text pieces joined (`||`; none is NULL)."""

    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = models.TextField()


class _Optional(Func):
    """The piece when the relation is there, nothing when it is empty."""

    output_field = models.TextField()

    def as_sql(self, compiler, connection, **extra_context):
        relation_sql, relation_params = compiler.compile(self.source_expressions[0])
        piece_sql, piece_params = compiler.compile(self.source_expressions[1])
        return (
            f"(CASE WHEN ({relation_sql}) IS NULL THEN '' ELSE {piece_sql} END)",
            (*relation_params, *piece_params),
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

# A change's JSON is `<head><tail>`: the head, `{"type": …, "id": …, "version": …, "deleted": …,
# "data": …`, is built with the record (in SQL for the types built there); the tail says which
# declared attachments are missing, which only records with declared attachments can.
# Heads and tails are UTF-8 bytes: PostgreSQL's text as it sent it, never decoded here.
_COMPLETE_TAIL = b', "complete": true, "missing_attachments": []}'


def _tail(missing: list[str]) -> bytes:
    if not missing:
        return _COMPLETE_TAIL
    return (', "complete": false, "missing_attachments": ' + json.dumps(missing, ensure_ascii=False) + "}").encode()


class _RawText(Loader):
    """A text column as the bytes PostgreSQL sent (UTF-8), not decoded."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


# (type, serializer class, time zone, its fields) → the compiled SQL rendering a type's records by id.
_RENDER_SQL: dict[tuple[str, type, str, tuple[str, ...]], tuple[str, tuple[Any, ...]] | None] = {}
_INNER = "SELECT NULL::uuid WHERE false /* pull: the ids */"
# Types whose heads carry _COMPLETE_MARK, filled in once the tails are known (`_completed`).
_MARKED_TYPES: set[str] = set()

# Around the type's row query: its change's head (a tombstone's data for a deleted record, as
# backend.sync.push.tombstone_data writes it) and the head's size in bytes. OFFSET 0 keeps the
# head built once per row.
_HEAD_SQL = """SELECT h.id_text, h.head, octet_length(h.head), h.declared FROM (
    SELECT r.id_text,
        %s || r.id_text || '", "version": ' || r.version::text || CASE
            WHEN r.deleted_text IS NULL THEN ', "deleted": false, "data": ' || r.data_text
            ELSE ', "deleted": true, "data": {"id": "' || r.id_text || '", "case": '
                || coalesce('"' || r.case_text || '"', 'null') || ', "version": ' || r.version::text
                || ', "deleted_at": "' || r.deleted_text || '"}'
        END AS head,
        r.declared
    FROM ({rows}) r OFFSET 0
) h"""


def _render_sql(sync_type: SyncType, serializer: serializers.Serializer) -> tuple[str, tuple[Any, ...]] | None:
    """`SELECT id, head, head's bytes, declared attachments FROM <table> WHERE id = ANY(<ids>)
    AND id IN (<scoped ids>)` compiled once; the caller gives the ids and puts its scoped query in
    place of `_INNER`."""
    key = (sync_type.name, type(serializer), timezone.get_current_timezone_name(), tuple(serializer.fields))
    if key not in _RENDER_SQL:
        expression = _sql_expression(sync_type, serializer)
        if expression is None:
            _RENDER_SQL[key] = None
        else:
            model = sync_type.model
            case = _text(F("case_id")) if _has_case(model) else Value(None, output_field=models.TextField())
            query = (
                model.all_objects.filter(_AnyOf("pk", []))
                .filter(pk__in=RawSQL(_INNER, ()))
                .annotate(
                    id_text=_text(F("pk")),
                    case_text=case,
                    data_text=expression,
                    deleted_text=_Sql(F("deleted_at"), _DELETED_AT_SQL, models.TextField()),
                    declared=Exists(
                        SyncAttachment.objects.filter(record_type=sync_type.name, record_id=OuterRef("pk"))
                    ),
                )
                .values_list("id_text", "version", "deleted_text", "case_text", "data_text", "declared")
                .order_by()
                .query
            )
            sql, params = query.sql_with_params()
            if sql.count(_INNER) != 1 or sql.split(_INNER)[1].count("%s") or not params or params[-1] != "{}":
                raise AssertionError(f"{sync_type.name}: the render query's ids are not its last parameters")
            head = '{"type": ' + json.dumps(sync_type.name) + ', "id": "'
            _RENDER_SQL[key] = (_HEAD_SQL.replace("{rows}", sql), (head, *params[:-1]))
            if _COMPLETE_MARK in params:
                _MARKED_TYPES.add(sync_type.name)
    return _RENDER_SQL[key]


# A tombstone's deletion time as Python's isoformat() writes a UTC time, whatever the session's
# time zone.
_DELETED_AT_SQL = f"replace({_UTC_SQL}, '.000000', '') || '+00:00'"


# The heads' statement is sent between these two in one message (the simple query protocol: one
# round trip, and one implicit transaction when none is open): the session's time zone is the
# current time zone's for the heads only (SET LOCAL: a rollback undoes it too), then back as it
# was inside an open transaction. Django reads timestamptz values as if the session's zone were
# its own: the heads' statement returns none (see _UTC_SQL).
_IN_TIME_ZONE = (
    "SELECT set_config('pull.previous_time_zone', current_setting('TimeZone'), true),"
    " set_config('TimeZone', %s, true); "
)
_TIME_ZONE_BACK = "; SELECT set_config('TimeZone', current_setting('pull.previous_time_zone'), true)"


def _fetch_in_time_zone(sql: str, params: tuple[Any, ...], time_zone: str) -> list[tuple[Any, ...]]:
    """The rows of `sql` run with the session in `time_zone`, text columns as UTF-8 bytes."""
    with connection.cursor() as cursor:
        raw = cursor.cursor
        raw.adapters.register_loader("text", _RawText)
        cursor.execute(_IN_TIME_ZONE + sql + _TIME_ZONE_BACK, (time_zone, *params))
        raw.nextset()
        fetched = raw.fetchall()
        raw.nextset()
    return fetched


def _has_case(model: type[models.Model]) -> bool:
    return any(f.attname == "case_id" for f in model._meta.concrete_fields)


class _AnyOf(Func):
    """`column = ANY('{…}'::uuid[])`: a page's ids as one parameter (a thousand parameters cost
    more to sort, adapt and plan than the query takes to run)."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, column: str, ids: list[Any]) -> None:
        super().__init__(F(column), Value(_ids_literal(ids)))

    def as_sql(self, compiler, connection, **extra_context):
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        ids_sql, ids_params = compiler.compile(self.source_expressions[1])
        return f"({column_sql} = ANY(({ids_sql})::uuid[]))", (*column_params, *ids_params)


def _ids_literal(ids: list[Any]) -> str:
    return "{" + ",".join(str(pk) for pk in ids) + "}"


# id → (the change's head, its size in bytes, whether the record declared attachments).
_Heads = dict[str, tuple[bytes, int, bool]]


def _sql_statement(*, request: Request, sync_type: SyncType, ids: list[str]) -> tuple[str, tuple] | None:
    """The statement reading the heads of the records among `ids` the caller may see; None for a
    type the serializer renders, ("", ()) when the caller sees nothing of the type."""
    view = sync_type.view(request, "list")
    render = _render_sql(sync_type, view.get_serializer())
    if render is None:
        return None
    sql, params = render
    queryset = including_tombstones(view.get_queryset()).filter(_AnyOf("pk", ids))
    try:
        inner_sql, inner_params = queryset.prefetch_related(None).order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # the selector shows the caller nothing of this type
        return "", ()
    if any(isinstance(param, _RequestText) for param in params):
        params = tuple(param.of(request) if isinstance(param, _RequestText) else param for param in params)
    # The ids again outside the selector's subquery: the row lookups go by primary key.
    return sql.replace(_INNER, inner_sql), (*params, _ids_literal(ids), *inner_params)


def _serializer_heads(*, request: Request, sync_type: SyncType, ids: list[str]) -> _Heads:
    """The heads of the records among `ids` the caller may see, rendered by the type's serializer."""
    view = sync_type.view(request, "list")
    records = list(including_tombstones(view.get_queryset()).filter(_AnyOf("pk", ids)))
    live = [record for record in records if record.deleted_at is None]
    data = jsonable(view.get_serializer(live, many=True).data) if live else []
    data_by_id = {str(item.get("id")): item for item in data}
    declared = set()
    if records:
        declared = {
            str(pk)
            for pk in SyncAttachment.objects.filter(_AnyOf("record_id", ids), record_type=sync_type.name)
            .values_list("record_id", flat=True)
            .distinct()
        }
    heads: _Heads = {}
    for record in records:
        pk = str(record.pk)
        deleted = record.deleted_at is not None
        change = {
            "type": sync_type.name,
            "id": pk,
            "version": record.version,
            "deleted": deleted,
            "data": tombstone_data(record) if deleted else data_by_id.get(pk, {}),
        }
        head = json.dumps(change, ensure_ascii=False)[:-1].encode()
        heads[pk] = (head, len(head), pk in declared)
    return heads


def _heads(*, request: Request, ids_by_type: dict[str, list[str]]) -> dict[str, _Heads]:
    """type → its heads, for the records among `ids_by_type` the caller may see: the types built in
    SQL in one statement (with the session in the current time zone, `_fetch_in_time_zone`)."""
    available = sync_types()
    heads: dict[str, _Heads] = {}
    statements = []
    for record_type, ids in ids_by_type.items():
        statement = _sql_statement(request=request, sync_type=available[record_type], ids=ids)
        if statement is None:
            heads[record_type] = _serializer_heads(request=request, sync_type=available[record_type], ids=ids)
            continue
        heads[record_type] = {}
        if statement[0]:
            statements.append((record_type, statement))
    if statements:
        sql = " UNION ALL ".join(
            f"(SELECT {n} AS type, * FROM ({statement_sql}) rows_{n})"
            for n, (_type, (statement_sql, _params)) in enumerate(statements)
        )
        params = tuple(param for _type, (_sql, statement_params) in statements for param in statement_params)
        fetched = _fetch_in_time_zone(sql, params, timezone.get_current_timezone_name())
        of_type = [heads[record_type] for record_type, _statement in statements]
        for n, pk, head, size, declared in fetched:
            of_type[n][pk.decode()] = (head, size, declared)
    return heads


def _tails(*, request: Request, record_type: str, heads: _Heads) -> dict[str, bytes]:
    """id → the tail of each change that misses an attachment (only records that declared some)."""
    declared = [uuid.UUID(pk) for pk, (_head, _size, has) in heads.items() if has]
    if not declared:
        return {}
    missing = attachments_missing_by_record(record_type=record_type, record_ids=declared, user=request.user)
    return {str(pk): _tail(names) for pk, names in missing.items() if names}


def _completed(*, record_type: str, heads: _Heads, tails: dict[str, bytes]) -> _Heads:
    """The heads with their completeness written: false where the tail names missing attachments."""
    if record_type not in _MARKED_TYPES:
        return heads
    mark = _COMPLETE_MARK.encode()
    filled: _Heads = {}
    for pk, (head, size, declared) in heads.items():
        if mark in head:  # not in a tombstone
            value = b"false" if pk in tails else b"true"
            head, size = head.replace(mark, value, 1), size - len(mark) + len(value)
        filled[pk] = (head, size, declared)
    return filled


def render_changes(*, request: Request, sync_type: SyncType, ids: list[Any]) -> dict[str, str]:
    """id → the change's JSON, for the records among `ids` the caller may see through the type's
    REST selector (deleted records as tombstones)."""
    ids = [str(pk) for pk in ids]
    heads = _heads(request=request, ids_by_type={sync_type.name: ids})[sync_type.name]
    tails = _tails(request=request, record_type=sync_type.name, heads=heads)
    heads = _completed(record_type=sync_type.name, heads=heads, tails=tails)
    return {pk: (head + tails.get(pk, _COMPLETE_TAIL)).decode() for pk, (head, _size, _has) in heads.items()}


@dataclass
class PulledPage:
    """A page as the response's JSON, and what a caller walking the feed needs of it."""

    body: bytes
    cursor: str
    has_more: bool
    count: int


def pull_page(
    *, request: Request, cursor: Position, limit: int, types: list[str], case_id: uuid.UUID | None = None
) -> PulledPage:
    """The page after `cursor`: `{"changes": […], "cursor": …, "has_more": …}`, assembled from
    each change's JSON as PostgreSQL (or the type's serializer) wrote it, never parsed here."""
    user = request.user
    page = feed_page(user=user, cursor=cursor, limit=limit, types=types, case_id=case_id)
    after = page.after
    has_more = page.has_more

    ids_by_type: dict[str, list[str]] = {}
    for record_type, record_id, _txid, _entry_id in page.changes:
        ids_by_type.setdefault(record_type, []).append(record_id)
    access: _Heads = {}
    if CASE_ACCESS in ids_by_type:
        for pk, change in case_access_changes(user=user, case_ids=ids_by_type.pop(CASE_ACCESS)).items():
            text = json.dumps(change, ensure_ascii=False).encode()
            access[pk] = (text[: -len(_COMPLETE_TAIL)], len(text) - len(_COMPLETE_TAIL), False)
    heads = _heads(request=request, ids_by_type=ids_by_type)
    heads[CASE_ACCESS] = access
    tails = {record_type: _tails(request=request, record_type=record_type, heads=h) for record_type, h in heads.items()}
    heads = {
        record_type: _completed(record_type=record_type, heads=h, tails=tails[record_type])
        for record_type, h in heads.items()
    }

    parts: list[bytes] = []  # head, tail, separator, head, tail, separator, ...
    size = 0
    budget = settings.SYNC_PULL_MAX_BYTES
    complete_size = len(_COMPLETE_TAIL)
    for record_type, record_id, txid, entry_id in page.changes:
        found = heads[record_type].get(record_id)
        if found is None:  # not the caller's
            continue
        head, head_size = found[0], found[1]
        tail = tails[record_type].get(record_id, _COMPLETE_TAIL) if tails[record_type] else _COMPLETE_TAIL
        size += head_size + (complete_size if tail is _COMPLETE_TAIL else len(tail))
        if parts and size > budget:
            # The rest comes on the next page: every later change's last entry is at or after
            # this one, and what lies before it was sent or is not the caller's.
            after = (txid, entry_id - 1)
            has_more = True
            break
        parts += (head, tail, b", ")
    cursor_text = format_cursor(after)
    count = len(parts) // 3
    if parts:
        parts[-1] = b""
    end = '], "cursor": "' + cursor_text + ('", "has_more": true}' if has_more else '", "has_more": false}')
    body = b"".join((b'{"changes": [', *parts, end.encode()))
    return PulledPage(body=body, cursor=cursor_text, has_more=has_more, count=count)


def pull(
    *, request: Request, cursor: Position, limit: int, types: list[str], case_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The page as JSON values (for callers that read it; the view sends `pull_page`'s body)."""
    return json.loads(pull_page(request=request, cursor=cursor, limit=limit, types=types, case_id=case_id).body)
