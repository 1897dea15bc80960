"""Many new rows of one model in one INSERT whose parameters are one array per column.

`bulk_create` compiles one placeholder per value (13 columns x 500 rows = 6,500) and psycopg then
splits the statement and quotes each value; a sync push chunk writes its new records, its audit
entries and its receipts that way, and building that SQL was the largest part of its time. Here
the statement is built once per model,

    INSERT INTO t (c1, c2 …) SELECT c1, c2 … FROM unnest(%s::type1[], %s::type2[] …)

and each column travels as one array. The rows stored are bulk_create's: the same values (each
field's `pre_save(add=True)` and `get_db_prep_save`), the same columns left to the database
(an unset auto primary key, a field left at its `db_default`), the same errors from the
database. Records, audit and sync all write this way, so it lives in common.
"""

import datetime as dt
import decimal
import json
import uuid
from typing import Any

from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, connections, models
from django.db.models.expressions import DatabaseDefault
from psycopg.types.json import Jsonb


class _ManyRowInsert:
    """The statement of one model and one set of columns (those its instances set)."""

    def __init__(self, model: type[models.Model], fields: list[models.Field], returning: list[models.Field]) -> None:
        quote = connection.ops.quote_name
        self.fields = fields
        self.returning = returning
        names = [f"c{index}" for index in range(len(fields))]
        columns = ", ".join(quote(field.column) for field in fields)
        arrays = ", ".join(f"%s::{_array_type(field)}[]" for field in fields)
        values = ", ".join(
            f"{name}::{field.cast_db_type(connection)}" if isinstance(field, GeometryField) else name
            for name, field in zip(names, fields, strict=True)
        )
        self.sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
            f"SELECT {values} FROM unnest({arrays}) AS rows({', '.join(names)})"
        )
        if returning:
            self.sql += f" RETURNING {', '.join(quote(field.column) for field in returning)}"

    def execute(self, instances: list[models.Model]) -> None:
        db = connections[connection.alias]  # the connection itself, not its per-access proxy
        columns = [_column(field, instances, db) for field in self.fields]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, columns)
            if self.returning:
                # Rows come back in the order unnest produced them (bulk_create relies on it too).
                for instance, row in zip(instances, cursor.fetchall(), strict=True):
                    for field, value in zip(self.returning, row, strict=True):
                        setattr(instance, field.attname, value)
        for instance in instances:
            instance._state.adding = False
            instance._state.db = connection.alias


def _array_type(field: models.Field) -> str:
    """Each array's type. Text without its length (an explicit cast to varchar(n) would cut an
    over-long value; the INSERT's own assignment refuses it, as bulk_create's does). A geometry
    array's literal separates its items with ":", not ","; geometries travel as hex EWKB text,
    each cast to the column's type (which checks its kind and SRID)."""
    if isinstance(field, GeometryField | models.CharField):
        return "text"
    return field.cast_db_type(connection)


class _NotPlain(Exception):
    """A value bulk_create would send through SQL of its own (a geometry in another SRID, which
    its placeholder wraps in ST_Transform): the rows go bulk_create's way."""


def _column(field: models.Field, instances: list[models.Model], db: Any) -> Any:
    """The column's values, as the text of one array literal where every value's type is known
    (else the list, which psycopg dumps: its array dumper escapes item by item with regular
    expressions, the larger part of the cost this way avoids)."""
    if isinstance(field, GeometryField):
        if field.geography:
            raise _NotPlain
        return _geometry_column(field, instances, db)
    plain = _plain_types(field)
    if plain is None:
        values = [field.get_db_prep_save(field.pre_save(instance, True), db) for instance in instances]
    else:
        attname = field.attname
        values = []
        for instance in instances:
            value = getattr(instance, attname)  # what the field's pre_save returns
            kind = type(value)
            if kind not in plain or (kind is dt.datetime and value.utcoffset() is None):
                value = field.get_db_prep_save(value, db)  # anything else: the field's own way
            values.append(value)
    try:
        return "{" + ",".join([_array_item(value) for value in values]) + "}"
    except _NotPlain:
        return values


def _geometry_column(field: GeometryField, instances: list[models.Model], db: Any) -> str:
    """A geometry column's array literal of hex EWKB. A geometry in the field's SRID is written as
    its own EWKB: what get_db_prep_save's adapter would hold (get_prep_value leaves such a
    geometry as it is), without building the adapter. Anything else goes the field's own way; a
    geometry in another SRID raises _NotPlain (bulk_create's placeholder transforms it)."""
    srid = field.srid
    items = []
    for instance in instances:
        value = field.pre_save(instance, True)
        if value is None:
            items.append("NULL")
            continue
        if not (isinstance(value, GEOSGeometry) and value.srid == srid):
            value = field.get_db_prep_save(value, db)
            if value.srid not in (None, srid):
                raise _NotPlain
        items.append('"' + value.ewkb.hex() + '"')
    return "{" + ",".join(items) + "}"


# Field classes (exactly these, not subclasses) and the value types their get_db_prep_save
# returns unchanged on PostgreSQL (to_python / get_prep_value / adapt_*_value of such a value
# is the value itself). None is not among them: a non-null BooleanField refuses it.
_UNCHANGED: dict[type, frozenset[type]] = {
    models.CharField: frozenset({str}),
    models.TextField: frozenset({str}),
    models.UUIDField: frozenset({uuid.UUID}),
    models.BooleanField: frozenset({bool}),
    models.IntegerField: frozenset({int}),
    models.PositiveIntegerField: frozenset({int}),
    models.PositiveSmallIntegerField: frozenset({int}),
    models.SmallIntegerField: frozenset({int}),
    models.BigIntegerField: frozenset({int}),
    models.DateField: frozenset({dt.date}),
    models.DateTimeField: frozenset({dt.datetime}),  # aware ones only (a naive one is warned about and made aware)
}
_PLAIN_TYPES: dict[models.Field, frozenset[type] | None] = {}


def _plain_types(field: models.Field) -> frozenset[type] | None:
    """The value types a field stores as they are, when its pre_save is reading the attribute
    (no auto_now); None: every value goes through pre_save and get_db_prep_save."""
    if field in _PLAIN_TYPES:
        return _PLAIN_TYPES[field]
    kind = type(field)
    target = field.target_field if kind is models.ForeignKey else field
    found = _UNCHANGED.get(type(target))
    if kind is models.ForeignKey and type(target).get_db_prep_save is not models.Field.get_db_prep_save:
        found = None
    if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):
        found = None
    elif kind.pre_save not in (models.Field.pre_save, models.DateField.pre_save, models.DateTimeField.pre_save):
        found = None
    if kind.get_db_prep_save not in (models.Field.get_db_prep_save, models.ForeignKey.get_db_prep_save):
        found = None
    _PLAIN_TYPES[field] = found
    return found


def _as_text(value: Any) -> str:
    """A value's text as PostgreSQL reads it back (what psycopg's text dumpers send)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "t" if value else "f"
    if kind in (int, uuid.UUID, decimal.Decimal):
        return str(value)
    if kind is float:
        return repr(value)
    if kind in (dt.datetime, dt.date, dt.time):
        return value.isoformat()
    if kind is Jsonb:
        return (value.dumps or json.dumps)(value.obj)
    raise _NotPlain


def _array_item(value: Any) -> str:
    kind = type(value)
    if kind is uuid.UUID or kind is int:
        # Their text (hex digits and dashes; digits and a sign) has no quote or backslash to escape.
        return '"' + str(value) + '"'
    if kind is dt.datetime or kind is dt.date:
        return '"' + value.isoformat() + '"'  # digits, -, :, ., +, T and space: nothing to escape
    if value is None:
        return "NULL"
    return '"' + _as_text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _left_to_database(field: models.Field, instance: models.Model) -> bool:
    """Whether bulk_create would leave this column out: an unset auto primary key, a value left
    at the field's database default."""
    value = getattr(instance, field.attname)
    return isinstance(value, DatabaseDefault) or (value is None and field.primary_key and field.db_returning)


_STATEMENTS: dict[tuple, _ManyRowInsert] = {}
_FIELDS: dict[type, list[models.Field] | None] = {}


def _insertable_fields(model: type[models.Model]) -> list[models.Field] | None:
    """The columns an INSERT of the model writes, or None for a model with an array column
    (unnest() of an array of arrays yields their items, not rows: it goes bulk_create's way)."""
    if model not in _FIELDS:
        fields = [field for field in model._meta.concrete_fields if not field.generated]
        nested = any(field.db_type(connection).endswith("]") for field in fields)
        _FIELDS[model] = None if nested else fields
    return _FIELDS[model]


def rows_insert(model: type[models.Model], instances: list[models.Model]) -> None:
    """Insert `instances` (new rows of `model`) in one statement, as bulk_create would store them;
    what the database assigns (an auto primary key, a `db_default`) is set on each instance."""
    if not instances:
        return
    fields = _insertable_fields(model)
    if fields is None:
        model._base_manager.bulk_create(instances)
        return
    optional = [field for field in fields if field.has_db_default() or (field.primary_key and field.db_returning)]
    left = tuple(field.attname for field in optional if _left_to_database(field, instances[0]))
    if any(tuple(f.attname for f in optional if _left_to_database(f, instance)) != left for instance in instances):
        model._base_manager.bulk_create(instances)  # instances differ in what they set: Django's way
        return
    key = (model, left)
    statement = _STATEMENTS.get(key)
    if statement is None:
        returning = [field for field in optional if field.attname in left and field.db_returning]
        statement = _STATEMENTS[key] = _ManyRowInsert(
            model, [field for field in fields if field.attname not in left], returning
        )
    try:
        statement.execute(instances)
    except _NotPlain:
        model._base_manager.bulk_create(instances)


_PLAIN_STATEMENTS: dict[tuple, tuple[str, list[models.Field]]] = {}


def rows_insert_plain(model: type[models.Model], columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows given as plain values, no model instances: `columns` are attnames, each row a
    tuple of the values the fields' `get_db_prep_save` would send (str, int, bool, UUID,
    datetime, None), a JSON column's value its JSON text (None: SQL NULL). Columns not named
    get the database's default (an auto primary key, a `db_default`); nothing is read back.

    For rows whose instances nobody needs (a push chunk's audit entries and receipts): the same
    INSERT ... SELECT FROM unnest as `rows_insert`, without building and reading instances.
    """
    if not rows:
        return
    key = (model, columns)
    found = _PLAIN_STATEMENTS.get(key)
    if found is None:
        fields = [model._meta.get_field(name) for name in columns]
        for field in fields:
            if isinstance(field, GeometryField) or field.db_type(connection).endswith("]"):
                raise ValueError(f"rows_insert_plain: {field.name} is not a plain column")
            if isinstance(field, models.JSONField) and field.encoder is not None:
                raise ValueError(f"rows_insert_plain: {field.name} has an encoder of its own")
        statement = _ManyRowInsert(model, fields, [])
        found = _PLAIN_STATEMENTS[key] = (statement.sql, fields)
    sql, _fields = found
    try:
        arrays = ["{" + ",".join([_array_item(value) for value in column]) + "}" for column in zip(*rows, strict=True)]
    except _NotPlain:
        raise TypeError("rows_insert_plain: a value of a type it does not write") from None
    if len(arrays) != len(columns):
        raise ValueError("rows_insert_plain: rows and columns differ in length")
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
