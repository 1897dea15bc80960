"""The map layers (OGC API collections and vector tile layers) and the SQL that reads them.

Every layer starts from its record type's selector (`RECORD_TYPES[name].visible_to(user=…)`),
so a map shows exactly what REST shows the same user; the views never filter permissions. The
bounding box goes into the selector's query, so the spatial index leads and visibility is
checked on the candidate rows only.
Features are built in PostGIS (ST_AsGeoJSON / json_build_object, ST_AsMVT): one query per
page or tile, never one Python object per feature.
"""

import datetime as dt
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connection, transaction
from django.db.models import BinaryField, BooleanField
from django.db.models.expressions import RawSQL
from psycopg.adapt import Loader

from backend.layers import changes
from backend.layers.definitions import LAYER_DEFINITIONS, LayerDefinition
from backend.layers.low_zoom import PRECOMPUTED_LAYERS, cell_scope
from backend.layers.timestamps import iso8601_sql
from backend.records.registry import RECORD_TYPES

# Tile envelopes in Web Mercator reach ±85.0511°.
WORLD_BOUNDS = [-180.0, -85.0511287798066, 180.0, 85.0511287798066]
MAX_ZOOM = 22
MVT_EXTENT = 4096
MVT_BUFFER = 64
# At and below this zoom a point layer's tile holds one feature per grid cell (its members'
# mean position and `count`), not the points: a z10 tile over a dense layer holds ~100k of them
# (15 MB, 0.7 s even as raw PostGIS). The sites layer too, its red lines counted at their
# ST_PointOnSurface (at z10 a red line is a few pixels). Layers in
# backend.layers.low_zoom.PRECOMPUTED_LAYERS read the cells precomputed per scope key
# (gis_layers migration 0003, kept by triggers), the others count live over the user's scoped
# rows; either way a cell never counts a record their REST view would not list.
AGGREGATE_MAX_ZOOM = 10
# Cells per tile side (64 extent units each): about a symbol's size at 256-512 px per tile.
# Migration 0003 precomputes the same grid (its CELLS and MAX_ZOOM).
AGGREGATE_CELLS = 64
# A collection's extent is computed exactly over the user's own rows when they see at most this
# many of the layer's records (one bounded read); beyond, from the table's planner statistics.
EXTENT_EXACT_MAX_ROWS = 10_000
# numberMatched of an items page is counted up to this many rows; beyond, it is left out (it is
# optional in OGC API – Features, and counting a million visible rows per page costs more than the page).
NUMBER_MATCHED_MAX = 10_000


@dataclass(frozen=True)
class Crs:
    """A coordinate reference system the OGC layers answer in (OGC API – Features Part 2)."""

    uri: str
    srid: int
    # Axis order of the CRS as its authority defines it: EPSG:4490 (CGCS2000) is latitude,
    # longitude, so its coordinates (and a `bbox` in it) come latitude first; CRS84 and
    # EPSG:3857 are x (longitude / easting) first.
    lat_lon: bool
    # Decimals of the published coordinates: 1e-7° is about a centimetre, as is 1e-2 m.
    precision: int
    # The valid (x, y) range in PostGIS order (longitude first), for bbox values.
    bounds: tuple[float, float, float, float]

    def published(self, geometry_sql: str) -> str:
        """`geometry_sql` (WGS84, lon/lat) as coordinates in this CRS and its axis order."""
        if self.srid == 4326:
            return geometry_sql
        sql = f"ST_Transform({geometry_sql}, {self.srid:d})"
        return f"ST_FlipCoordinates({sql})" if self.lat_lon else sql

    def envelope_sql(self) -> str:
        """A WGS84 envelope from four placeholders (minx, miny, maxx, maxy) in this CRS, x first."""
        envelope = f"ST_MakeEnvelope(%s, %s, %s, %s, {self.srid:d})"
        # A rectangle of lines of equal latitude and longitude stays one through these transforms.
        return envelope if self.srid == 4326 else f"ST_Transform({envelope}, 4326)"


MERCATOR_LIMIT = 20037508.342789244
CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326, False, 7, (-180.0, -90.0, 180.0, 90.0))
CGCS2000 = Crs("http://www.opengis.net/def/crs/EPSG/0/4490", 4490, True, 7, (-180.0, -90.0, 180.0, 90.0))
WEB_MERCATOR = Crs(
    "http://www.opengis.net/def/crs/EPSG/0/3857",
    3857,
    False,
    2,
    (-MERCATOR_LIMIT, -MERCATOR_LIMIT, MERCATOR_LIMIT, MERCATOR_LIMIT),
)
CRSS: dict[str, Crs] = {crs.uri: crs for crs in (CRS84, CGCS2000, WEB_MERCATOR)}
# Records are stored in WGS84 longitude/latitude (SRID 4326), i.e. CRS84.
STORAGE_CRS = CRS84


@dataclass(frozen=True)
class Layer(LayerDefinition):
    """A layer definition with the SQL that serves it."""

    def candidates(self, box_sql: str, box_params: list[Any], *, exact: bool) -> RawSQL:
        """A filter for the selector's queryset: rows whose geometry_sql intersects the box
        (`exact`), or whose bounding box meets it (tiles clip with ST_AsMVTGeom anyway).

        Written on the stored columns so the GiST index answers it. A layer placed by its site
        has two arms, both index-led: its own location, or, without one, a point on the red
        line of a site the sites' GiST index finds in the box (that point lies in the red line,
        so the red line meets the box whenever the point does).
        """
        table = connection.ops.quote_name(self.model._meta.db_table)

        def meets(geometry: str) -> str:
            return f"ST_Intersects({geometry}, {box_sql})" if exact else f"{geometry} && {box_sql}"

        if not self.join_site:
            sql = meets(f"{table}.{connection.ops.quote_name(self.geometry_column)}")
            return RawSQL(sql, box_params, output_field=BooleanField())
        # A UNION rather than an OR: the planner estimates each arm (an OR with the sites' ids
        # would look like half the table to it, and it would scan the table).
        site_table = connection.ops.quote_name(RECORD_TYPES["site"].model._meta.db_table)
        sql = (
            f'{table}."id" IN (SELECT "id" FROM {table} WHERE {meets("location")} UNION ALL '
            f"SELECT i.id FROM {table} i JOIN {site_table} s ON s.id = i.site_id "
            f"WHERE i.location IS NULL AND s.boundary && {box_sql} AND {meets('ST_PointOnSurface(s.boundary)')})"
        )
        return RawSQL(sql, box_params * 3, output_field=BooleanField())

    @property
    def published_geometry_sql(self) -> str:
        """The geometry as features carry it (filters test the stored `geometry_column`)."""
        return f"ST_Multi({self.geometry_sql})" if self.is_multi else self.geometry_sql

    @property
    def queryables(self) -> dict[str, "Queryable"]:
        """The published properties a client may filter on with `?name=value` (equality):
        references, code lists and flags. Free text, numbers and timestamps are not (time has
        `datetime`)."""
        found = {}
        for name in self.properties:
            field = next(f for f in self.model._meta.concrete_fields if f.attname == name)
            kind = field.get_internal_type()
            if field.is_relation or kind == "UUIDField":
                schema: dict[str, Any] = {"type": "string", "format": "uuid"}
            elif field.choices:
                values = [value for value, _label in field.flatchoices]
                is_integer = all(isinstance(value, int) for value in values)
                schema = {"type": "integer" if is_integer else "string", "enum": values}
            elif kind == "BooleanField":
                schema = {"type": "boolean"}
            elif name == "record_type":
                schema = {"type": "string", "enum": sorted(RECORD_TYPES)}
            else:
                continue
            found[name] = Queryable(name=name, title=str(field.verbose_name), schema=schema)
        return found


@dataclass(frozen=True)
class Queryable:
    """A property filter `?name=value` (OGC API – Features Part 3, queryables as query parameters)."""

    name: str
    title: str
    # Its JSON Schema (type, format, enum), as the queryables document publishes it.
    schema: dict[str, Any]

    def parse(self, raw: str) -> Any:
        """The value to compare the column with; ValueError when `raw` is not one."""
        if self.schema.get("format") == "uuid":
            return uuid.UUID(raw)
        if self.schema["type"] == "boolean":
            # 1 and 0 too: GDAL types a boolean property as an integer and sends `is_locked=1`.
            if raw not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw in ("true", "1")
        if self.schema["type"] == "integer":
            if not raw.isascii() or not raw.isdigit():
                raise ValueError(raw)
            value: Any = int(raw)
        else:
            value = raw
        if value not in self.schema["enum"]:
            raise ValueError(raw)
        return value


LAYERS: dict[str, Layer] = {
    name: Layer(**{field.name: getattr(definition, field.name) for field in fields(definition)})
    for name, definition in LAYER_DEFINITIONS.items()
}


@dataclass(frozen=True)
class Query:
    """A layer's features visible to a user, narrowed by bbox and time."""

    layer: Layer
    user: Any
    bbox: tuple[float, float, float, float] | None = None
    # (start, end), either may be None (open); equal for an instant.
    interval: tuple[dt.datetime | None, dt.datetime | None] | None = None
    feature_id: uuid.UUID | None = None
    # The CRS `bbox` is given in (x first, as PostGIS orders it) and the CRS features answer in.
    bbox_crs: Crs = CRS84
    crs: Crs = CRS84
    # Property filters (attname, value), each an equality on the record's column.
    filters: tuple[tuple[str, Any], ...] = ()

    def features_cte(
        self,
        columns: str,
        *,
        column_params: tuple[Any, ...] = (),
        envelope_sql: str | None = None,
        envelope_params: tuple[Any, ...] = (),
    ) -> tuple[str, list[Any]]:
        """`SELECT <columns> FROM <table> t … WHERE <scoped and filtered>` and its params.

        `columns` holds placeholders for `column_params` only (the select list comes first in
        every form of the statement); `envelope_sql`, with `envelope_params`, is a WGS84 box the
        features' bounding boxes must meet (a tile's, with its buffer).

        The scope is applied to the candidate rows: the selector's own query gets the bounding
        box (and id) conditions, so the planner starts from the geometry's GiST index and checks
        visibility on the few rows it finds, instead of reading every visible row of the table
        (an `id IN (selector)` over the whole table) before the box applies.
        """
        layer = self.layer
        scoped = self.scoped(envelope_sql=envelope_sql, envelope_params=envelope_params)
        where: list[str] = []
        params: list[Any] = list(column_params)
        try:
            scoped_sql, scoped_params = scoped.values("pk").query.sql_with_params()
        except EmptyResultSet:
            # A selector that knows the user sees nothing (`.none()`, or a filter on an empty
            # queryset) compiles to no SQL at all: the layer is empty for them, not an error.
            sql = f"SELECT {columns} FROM {self._from_sql()}"
            where.append("FALSE")
        else:
            direct = self._direct_sql(scoped, scoped_sql, columns)
            if direct is not None:
                sql, where = direct, ["TRUE"] if self.interval is not None else []
            else:
                # Joined, not `t.id IN (…)`: the planner cannot start a semi-join from a subquery
                # that holds the scope's own semi-joins, and would scan the table instead.
                sql = f"SELECT {columns} FROM ({scoped_sql}) visible (id) JOIN {self._from_sql('visible')}"
            params.extend(scoped_params)
        conditions, condition_params = self._interval_conditions(layer.time_sql)
        if where == ["TRUE"]:  # the direct form: its WHERE is the selector's, the record is not `t`
            table = connection.ops.quote_name(layer.model._meta.db_table)
            conditions = [re.sub(r"\bt\.", f"{table}.", condition) for condition in conditions]
            return sql + "".join(f" AND {condition}" for condition in conditions), [*params, *condition_params]
        where.extend(conditions)
        params.extend(condition_params)
        return sql + (" WHERE " + " AND ".join(where) if where else ""), params

    def _direct_sql(self, scoped, scoped_sql: str, columns: str) -> str | None:
        """The selector's own statement with `columns` as its select list, when its FROM is the
        record table alone (no join, no DISTINCT) and it has a WHERE: the rows it finds are
        the features, without joining the table back on id (a probe of the primary key per
        feature, a third of a z14 tile's time). The columns' `t.` become the table's name.
        None otherwise (the caller joins back)."""
        query = scoped.query
        table = self.layer.model._meta.db_table
        used = [alias for alias in query.alias_map if query.alias_refcount.get(alias)]
        quoted = connection.ops.quote_name(table)
        prefix = f'SELECT {quoted}."id" AS "pk" FROM {quoted} WHERE '
        if used != [table] or query.distinct or not scoped_sql.startswith(prefix) or self.layer.join_site:
            return None
        columns = re.sub(r"\bt\.", f"{quoted}.", columns)
        return f"SELECT {columns} FROM {quoted} WHERE " + scoped_sql[len(prefix) :]

    def _interval_conditions(self, time_sql: str) -> tuple[list[str], list[Any]]:
        if self.interval is None:
            return [], []
        start, end = self.interval
        if start is not None and start == end:
            return [f"{time_sql} = %s"], [start]
        conditions, params = [], []
        if start is not None:
            conditions.append(f"{time_sql} >= %s")
            params.append(start)
        if end is not None:
            conditions.append(f"{time_sql} <= %s")
            params.append(end)
        return conditions, params

    def _scoped_in_time(self):
        """`scoped()` with the interval too, on the record table itself (no join back)."""
        scoped = self.scoped()
        table = connection.ops.quote_name(self.layer.model._meta.db_table)
        # The layer's time expressions read only the record's own columns (`t.`).
        conditions, params = self._interval_conditions(re.sub(r"\bt\.", f"{table}.", self.layer.time_sql))
        if conditions:
            scoped = scoped.filter(RawSQL(" AND ".join(conditions), params, output_field=BooleanField()))
        return scoped

    def scoped(self, *, envelope_sql: str | None = None, envelope_params: tuple[Any, ...] = ()):
        """The selector's queryset for the user with the id, bbox and envelope conditions."""
        layer = self.layer
        scoped = RECORD_TYPES[layer.record_type].visible_to(user=self.user).order_by()
        if self.feature_id is not None:
            scoped = scoped.filter(pk=self.feature_id)
        if self.filters:
            # On the selector's own query, like the box: the spatial index still leads and the
            # filter is checked on its candidates (or, without a box, the planner picks).
            scoped = scoped.filter(**dict(self.filters))
        if self.bbox is not None:
            box = (self.bbox_crs.envelope_sql(), list(self.bbox))
            scoped = scoped.filter(layer.candidates(*box, exact=True))
        if envelope_sql is not None:
            scoped = scoped.filter(layer.candidates(envelope_sql, list(envelope_params), exact=False))
        return scoped

    def _from_sql(self, ids: str | None = None) -> str:
        """The record table as `t` (joined on `<ids>.id` when given) and, for layers placed by
        their site, the site as `s`."""
        sql = f"{connection.ops.quote_name(self.layer.model._meta.db_table)} t"
        if ids is not None:
            sql += f" ON t.id = {ids}.id"
        if self.layer.join_site:
            site_table = connection.ops.quote_name(RECORD_TYPES["site"].model._meta.db_table)
            sql += f" LEFT JOIN {site_table} s ON s.id = t.site_id"
        return sql

    def _properties_sql(self) -> str:
        pairs = ", ".join(
            f"'{name}', {property_sql(self.layer, name, as_text=False)}" for name in self.layer.properties
        )
        return f"json_build_object({pairs})"

    def page(self, *, limit: int, offset: int, after: tuple[dt.datetime, uuid.UUID] | None = None) -> "Page":
        """A page of features (JSON array text) and what paging needs, in one query.

        `after` (the keyset of the previous page's last feature) starts the page right after
        it, where the index walk finds it, instead of walking `offset` rows again."""
        sql, params = self.page_sql(limit=limit, offset=offset, after=after)
        with connection.cursor() as cursor:
            # The features as the UTF-8 bytes PostgreSQL sent: the response is those bytes, so
            # a 5 MB page is neither decoded to str nor encoded back.
            cursor.cursor.adapters.register_loader("text", _Utf8Bytes)
            cursor.execute(sql, params)
            counted, rows, features, last_created_at, last_id = cursor.fetchone()
        returned = min(rows, limit)
        if after is None and rows <= limit and (rows > 0 or offset == 0):
            matched = offset + rows  # the last page: everything before it, and it
        elif counted is not None and counted <= NUMBER_MATCHED_MAX:
            matched = counted
        else:
            matched = None
        last = (last_created_at, last_id) if last_id is not None else None
        return Page(matched=matched, returned=returned, more=rows > limit, features=features, last=last)

    def _feature_text_sql(self) -> str:
        """A feature as text, byte for byte what json_build_object('type', 'Feature', 'id', …,
        'geometry', ST_AsGeoJSON(…)::json, 'properties', …)::text prints, concatenated: the
        geometry's GeoJSON is not parsed into json only to be printed back, and no outer object
        is built (a tenth of a 10k page's time). A missing geometry is `null`, as there."""
        geometry = self.crs.published(self.layer.published_geometry_sql)
        return (
            '(\'{"type" : "Feature", "id" : "\' || t.id::text || \'", "geometry" : \' || '
            f"COALESCE(ST_AsGeoJSON({geometry}, {self.crs.precision:d}), 'null') || "
            f"', \"properties\" : ' || {self._properties_sql()}::text || '}}')"
        )

    def _geometry_json_sql(self) -> str:
        geometry = self.crs.published(self.layer.published_geometry_sql)
        return f"ST_AsGeoJSON({geometry}, {self.crs.precision:d})::json"

    def page_sql(
        self, *, limit: int, offset: int, after: tuple[dt.datetime, uuid.UUID] | None = None
    ) -> tuple[str, list[Any]]:
        """The page in (created_at, id) order, one row past it to tell whether another follows.

        Ordered and limited in the selector's own query, so the planner can walk the record
        table's created_at index (or its GiST index, with a box), check the scope on each row it
        meets and stop after the page, instead of reading, sorting and counting every visible
        row (a join back to the table would have to hash all of them first). numberMatched is
        optional in OGC API – Features: it is counted, bounded by NUMBER_MATCHED_MAX, only when
        the page is full or past the end (on the last page it is offset + rows).
        """
        feature = (
            "json_build_object('type', 'Feature', 'id', t.id::text, "
            f"'geometry', {self._geometry_json_sql()}, "
            f"'properties', {self._properties_sql()})"
        )
        scoped = self._scoped_in_time()
        walked = scoped
        if after is not None:
            # (created_at, id) > after, spelt so the created_at index bounds the walk.
            walked = scoped.filter(created_at__gte=after[0]).exclude(created_at=after[0], pk__lte=after[1])
            offset = 0
        try:
            counted = scoped.values("pk")[: NUMBER_MATCHED_MAX + 1]
            count_sql, count_params = counted.query.sql_with_params()
            direct = self._direct_page_sql(walked, self._feature_text_sql(), limit=limit, offset=offset)
            if direct is not None:
                return self._page_from_features_sql(
                    direct, count_sql, count_params, limit=limit, offset=offset, after=after
                )
            ordered = walked.order_by("created_at", "pk").values("pk", "created_at")[offset : offset + limit + 1]
            page_sql, page_params = ordered.query.sql_with_params()
        except EmptyResultSet:
            page_sql, page_params = "SELECT NULL::uuid, NULL::timestamptz WHERE FALSE", []
            count_sql, count_params = "SELECT NULL WHERE FALSE", []
        sql = (
            f"WITH p AS MATERIALIZED (SELECT * FROM ({page_sql}) o (id, created_at)), "
            f"j AS (SELECT p.id, p.created_at, {feature} AS feature "
            f"FROM (SELECT * FROM p ORDER BY created_at, id LIMIT %s) p JOIN {self._from_sql()} ON t.id = p.id) "
            "SELECT CASE WHEN ((SELECT count(*) FROM p) > %s OR NOT EXISTS (SELECT FROM p) AND %s > 0 OR %s) "
            f"AND %s + (SELECT count(*) FROM p) <= {NUMBER_MATCHED_MAX:d} "
            f"THEN (SELECT count(*) FROM ({count_sql}) c) END, "
            "(SELECT count(*) FROM p), "
            # j is read once, so it is inlined, not materialised (10k features spilt to disk), and
            # aggregated in the order of its sorted page (the join keeps it: no sort of the
            # features themselves); the last row comes from the page of ids.
            "(SELECT COALESCE(json_agg(feature), '[]'::json)::text FROM (SELECT feature FROM j ORDER BY created_at, id) o), "
            "l.created_at, l.id FROM (SELECT NULL) one LEFT JOIN (SELECT created_at, id FROM "
            "(SELECT * FROM p ORDER BY created_at, id LIMIT %s) q ORDER BY created_at DESC, id DESC LIMIT 1) l ON TRUE"
        )
        return sql, [*page_params, limit, limit, offset, after is not None, offset, *count_params, limit]

    def _direct_page_sql(self, walked, feature: str, *, limit: int, offset: int) -> tuple[str, list[Any]] | None:
        """The page as the selector's own ordered, limited query, its rows' features built over
        it: `SELECT t.id AS pk, t.created_at, <feature> AS feature FROM (<the page's rows>) t`,
        one row past the page.

        The rows the index walk finds are the features: no second pass joining the table back
        on id (10k primary key probes for a 10k page, a third of its time), and the features
        are built after the LIMIT, so the rows an OFFSET skips are not. None when the selector's
        query cannot give the rows as `t`: a layer placed by its site (the feature reads the
        site `s`), a DISTINCT selector, or a column named apart from its field."""
        concrete = self.layer.model._meta.concrete_fields
        if self.layer.join_site or walked.query.distinct or any(f.attname != f.column for f in concrete):
            return None
        ordered = walked.order_by("created_at", "pk")
        if offset == 0:
            # The feature in the ordered query's own select list: with nothing to skip, every
            # row it yields is a feature, and PostgreSQL may build them in its parallel workers
            # below the Gather Merge (a 10k bbox page: the features were two thirds of its time,
            # built one by one in the leader after the LIMIT). The columns are the table's.
            table = connection.ops.quote_name(self.layer.model._meta.db_table)
            built = RawSQL(re.sub(r"\bt\.", f"{table}.", feature), [], output_field=BinaryField())
            rows = ordered.annotate(_feature=built).values("pk", "created_at", "_feature")[: limit + 1]
            rows_sql, rows_params = rows.query.sql_with_params()
            return f"SELECT t.pk, t.created_at, t.feature FROM ({rows_sql}) t (pk, created_at, feature)", rows_params
        rows = ordered.values(*[f.attname for f in concrete])[offset : offset + limit + 1]
        rows_sql, rows_params = rows.query.sql_with_params()
        return f"SELECT t.id AS pk, t.created_at, {feature} AS feature FROM ({rows_sql}) t", rows_params

    @staticmethod
    def _page_from_features_sql(
        page: tuple[str, list[Any]],
        count_sql: str,
        count_params: list[Any],
        *,
        limit: int,
        offset: int,
        after: tuple[dt.datetime, uuid.UUID] | None,
    ) -> tuple[str, list[Any]]:
        """page_sql's answer (counted, rows, features, last created_at, last id) in one pass over
        `page` (rows pk, created_at, feature in page order, one past the page).

        The rows are numbered as they come and aggregated in that order, without a sort (an
        ORDER BY inside an aggregate could make the planner sort its input by that key); the
        last feature's keys are the array elements at min(rows, limit). numberMatched is
        counted only when it could be NUMBER_MATCHED_MAX or fewer: with `offset` + rows past
        it, the count would be cut off and left out anyway."""
        page_sql, page_params = page
        sql = (
            "SELECT CASE WHEN (a.rows > %s OR a.rows = 0 AND %s > 0 OR %s) "
            f"AND %s + a.rows <= {NUMBER_MATCHED_MAX:d} THEN (SELECT count(*) FROM ({count_sql}) c) END, "
            "a.rows, a.features, a.created_ats[LEAST(a.rows, %s)], a.ids[LEAST(a.rows, %s)] FROM ("
            "SELECT count(*) AS rows, "
            # The features are JSON texts: joined as json_agg would print them.
            "COALESCE('[' || string_agg(o.feature, ', ') FILTER (WHERE o.n <= %s) || ']', '[]') AS features, "
            "array_agg(o.created_at) FILTER (WHERE o.n <= %s) AS created_ats, "
            "array_agg(o.pk) FILTER (WHERE o.n <= %s) AS ids "
            f"FROM (SELECT row_number() OVER () AS n, w.* FROM ({page_sql}) w) o) a"
        )
        # `offset` is 0 after a keyset (`after`): the page starts there.
        case_params = [limit, offset, after is not None, offset, *count_params]
        return sql, [*case_params, limit, limit, limit, limit, limit, *page_params]

    def one(self) -> str | None:
        feature = (
            "json_build_object('type', 'Feature', 'id', t.id::text, "
            f"'geometry', {self._geometry_json_sql()}, "
            f"'properties', {self._properties_sql()})::text"
        )
        sql, params = self.features_cte(feature)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return row[0] if row else None

    def extent(self) -> list[float] | None:
        """The bounding box (CRS84) of the user's features, as `extents()` finds it."""
        return self.extents().bbox

    def extents(self) -> "Extent":
        """The spatial and temporal extent of the user's features, at a bounded cost.

        Exact over the user's own scoped rows when they see at most EXTENT_EXACT_MAX_ROWS of the
        layer (one read of at most that many rows, LIMIT-bounded). Beyond, the bounding box is
        the table's estimated extent (ST_EstimatedExtent: planner statistics, no row read) and
        the interval is open: a user who sees that many records learns from it only the area
        where the service holds data of the layer, never a record, a count or an attribute.
        A user who sees nothing gets no extent at all.
        """
        layer = self.layer
        inner, params = self.features_cte(f"{layer.geometry_sql} AS geom, {layer.time_sql} AS at")
        sql = (
            "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), first, last FROM ("
            "SELECT count(*) AS n, ST_Extent(geom)::geometry AS e, min(at) AS first, max(at) AS last "
            f"FROM ({inner} LIMIT %s) f) x"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, EXTENT_EXACT_MAX_ROWS + 1])
            count, *box, first, last = cursor.fetchone()
        if count == 0:
            return Extent(bbox=None, interval=None, exact=True)
        if count <= EXTENT_EXACT_MAX_ROWS:
            bbox = [round(v, 7) for v in box] if box[0] is not None else None
            return Extent(bbox=bbox, interval=(first, last), exact=True)
        return Extent(bbox=self._estimated_bbox(), interval=(None, None), exact=False)

    def _estimated_bbox(self) -> list[float] | None:
        columns = [(self.layer.model._meta.db_table, self.layer.geometry_column)]
        if self.layer.join_site:
            columns.append((RECORD_TYPES["site"].model._meta.db_table, "boundary"))
        boxes = []
        for table, column in columns:
            try:
                # A savepoint: a table without statistics yet raises, and must not end the request's transaction.
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM ST_EstimatedExtent(%s, %s) b",
                        [table, column],
                    )
                    row = cursor.fetchone()
            except DatabaseError:
                row = None
            if row is not None and row[0] is not None:
                boxes.append(row)
        if not boxes:
            return None
        return [
            round(max(min(b[0] for b in boxes), -180.0), 7),
            round(max(min(b[1] for b in boxes), -90.0), 7),
            round(min(max(b[2] for b in boxes), 180.0), 7),
            round(min(max(b[3] for b in boxes), 90.0), 7),
        ]

    def tile(self, *, z: int, x: int, y: int, version: int | None = None) -> bytes:
        """The layer's Mapbox vector tile z/x/y (empty bytes when nothing is there).

        With `version` (the layers' change counter the caller read, backend.layers.changes), a
        tile of features reuses the statement compiled for this user, layer and version
        (see FEATURE_TILE_STATEMENTS); the low zooms compile theirs each time."""
        if version is not None and z > AGGREGATE_MAX_ZOOM and self._cacheable():
            sql, params = FEATURE_TILE_STATEMENTS.get(self, version).bind(z=z, x=x, y=y)
        else:
            sql, params = self.tile_sql(z=z, x=x, y=y)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def tile_and_version(self, *, z: int, x: int, y: int) -> tuple[tuple[int, dt.datetime, dt.datetime], bytes | None]:
        """(the change counter as changes.current() reads it, the tile) in one round trip when
        the statement last compiled for this user and layer is of the current counter (one
        statement: the counter and the tile see the same snapshot); the tile is None when the
        counter moved (or nothing is compiled yet, or the tile is not one of features): the
        caller reads it with `tile(version=…)`. Saves the counter's own round trip per tile."""
        latest = FEATURE_TILE_STATEMENTS.latest(self) if z > AGGREGATE_MAX_ZOOM and self._cacheable() else None
        if latest is None:
            return changes.current(), None
        version, statement = latest
        sql, params = statement.bind(z=z, x=x, y=y)
        # The tile's subquery is an InitPlan, run only when the CASE takes its branch.
        combined = f"SELECT c.version, c.changed_at, c.now, CASE WHEN c.version = %s THEN ({sql}) END FROM ({changes.CURRENT_SQL}) c (version, changed_at, now)"
        with connection.cursor() as cursor:
            cursor.execute(combined, [version, *params])
            current, changed_at, now, body = cursor.fetchone()
        if current != version:
            return (current, changed_at, now), None
        return (current, changed_at, now), bytes(body) if body is not None else b""

    def tile_sql(self, *, z: int, x: int, y: int) -> tuple[str, list[Any]]:
        if z <= AGGREGATE_MAX_ZOOM and self.layer.name in PRECOMPUTED_LAYERS:
            return self.precomputed_tile_sql(z=z, x=x, y=y)
        if z <= AGGREGATE_MAX_ZOOM and self.layer.geometry_type == "Point":
            return self.aggregate_tile_sql(z=z, x=x, y=y)
        return self.feature_tile_statement().bind(z=z, x=x, y=y)

    def feature_tile_statement(self) -> "TileStatement":
        """The tile of features (z above AGGREGATE_MAX_ZOOM) for any z/x/y: the statement with
        the tile's z, x and y as parameters, compiled once (the selector's query is most of a
        tile request's Python time) and bound per tile."""
        columns = ", ".join(
            f"{property_sql(self.layer, name, as_text=True)} AS {connection.ops.quote_name(name)}"
            for name in self.layer.tiled_properties
        )
        # The tile's envelope (with the buffer) in WGS84, for the spatial index.
        envelope = f"ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => {MVT_BUFFER / MVT_EXTENT}), 4326)"
        inner, params = self.features_cte(
            f"t.id::text AS id, ST_AsMVTGeom(ST_Transform({self.layer.published_geometry_sql}, 3857), "
            f"ST_TileEnvelope(%s, %s, %s), {MVT_EXTENT}, {MVT_BUFFER}, true) AS geom, {columns}",
            column_params=TILE_ZXY,
            envelope_sql=envelope,
            envelope_params=TILE_ZXY,
        )
        sql = f"SELECT ST_AsMVT(m.*, %s, {MVT_EXTENT}, 'geom') FROM ({inner}) m WHERE m.geom IS NOT NULL"
        return TileStatement(sql=sql, params=(self.layer.name, *params))

    def _cacheable(self) -> bool:
        """Whether the tile statement depends on nothing but the layer, the user and the data
        (the change counter): no bbox, time, id or filters of a request (tiles have none)."""
        return (
            self.bbox is None
            and self.interval is None
            and self.feature_id is None
            and not self.filters
            and getattr(self.user, "pk", None) is not None
        )

    def precomputed_tile_sql(self, *, z: int, x: int, y: int) -> tuple[str, list[Any]]:
        """The tile's `count` features from the precomputed cells (migrations 0003, 0004) and the
        pending points not yet in them (0005): the sum, per cell, of the cell rows and the points
        the user may count (backend.layers.low_zoom): the layer's total for a user who sees every
        record; a regional official's region and the keys of their other cases; the keys of the
        visible cases otherwise. One index range read of (layer, z, x, y, family) per arm over
        the cells, and of the tile's band of fx over the points (few: the compaction empties
        them), each point in the cell the compaction puts it in (0005's arithmetic)."""
        tile = f"ST_TileEnvelope({z:d}, {x:d}, {y:d})"
        scope = cell_scope(layer=self.layer.name, user=self.user)
        if scope is None:
            return "SELECT NULL::bytea", []
        # A point's global grid column and row at z (0003: floor(fx * CELLS * 2^z)); it is in the
        # tile exactly when fx * 2^z is in [x, x + 1) (scaling by a power of two is exact).
        gx, gy = (f"floor(c.{f} * {AGGREGATE_CELLS} * 2 ^ {z:d})::int" for f in ("fx", "fy"))
        point_cell = f"((({gy}) %% {AGGREGATE_CELLS}) * {AGGREGATE_CELLS} + ({gx}) %% {AGGREGATE_CELLS})::smallint"
        band = [x / 2**z, (x + 1) / 2**z, y / 2**z, (y + 1) / 2**z]
        arms, params = [], [self.layer.name]
        for arm in scope.arms:
            arms.append(
                "SELECT c.cell, c.n, c.sx, c.sy FROM gis_layers_cell c "
                f"WHERE c.layer = %s AND c.z = %s AND c.tx = %s AND c.ty = %s AND {arm.cells}"
            )
            params += [self.layer.name, z, x, y, *arm.params]
            arms.append(
                f"SELECT {point_cell} AS cell, c.sign::int AS n, c.sign * c.x AS sx, c.sign * c.y AS sy "
                "FROM gis_layers_cell_point c WHERE c.layer = %s AND c.fx >= %s AND c.fx < %s "
                f"AND c.fy >= %s AND c.fy < %s AND {arm.keys}"
            )
            params += [self.layer.name, *band, *arm.params]
        sql = (
            f"SELECT ST_AsMVT(m.*, %s, {MVT_EXTENT}, 'geom') FROM ("
            f"SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(sum(c.sx) / sum(c.n), sum(c.sy) / sum(c.n)), 3857), "
            f"{tile}, {MVT_EXTENT}, 0, false) AS geom, sum(c.n)::int AS count FROM ({' UNION ALL '.join(arms)}) c "
            "GROUP BY c.cell HAVING sum(c.n) > 0) m WHERE m.geom IS NOT NULL"
        )
        return sql, params

    def aggregate_tile_sql(self, *, z: int, x: int, y: int) -> tuple[str, list[Any]]:
        """A tile of `count` features, one per occupied cell of an AGGREGATE_CELLS grid over
        the tile, at the mean position of the cell's points.

        Cells split the tile exactly and a point belongs to the tile its Web Mercator position
        falls in, half-open at the right and top edges, so adjacent tiles never count a point
        twice and the counts over a zoom level add up to the layer's size for the user.
        """
        tile = f"ST_TileEnvelope({z:d}, {x:d}, {y:d})"
        envelope = f"ST_Transform({tile}, 4326)"
        if self.layer.join_site or self.interval is not None:
            inner, params = self.features_cte(
                f"ST_Transform({self.layer.geometry_sql}, 3857) AS g", envelope_sql=envelope
            )
        else:
            # The geometry straight from the scoped query: no join back to the table per point.
            table = connection.ops.quote_name(self.layer.model._meta.db_table)
            column = f"{table}.{connection.ops.quote_name(self.layer.geometry_column)}"
            scoped = self.scoped(envelope_sql=envelope).annotate(
                g=RawSQL(f"ST_Transform({column}, 3857)", [], output_field=BinaryField())
            )
            try:
                inner, params = scoped.values("g").query.sql_with_params()
            except EmptyResultSet:
                inner, params = "SELECT NULL::geometry AS g WHERE FALSE", []
        cell = f"((ST_XMax({tile}) - ST_XMin({tile})) / {AGGREGATE_CELLS})"
        sql = (
            f"SELECT ST_AsMVT(m.*, %s, {MVT_EXTENT}, 'geom') FROM ("
            f"SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(avg(ST_X(g)), avg(ST_Y(g))), 3857), {tile}, "
            f"{MVT_EXTENT}, 0, false) AS geom, count(*)::int AS count FROM ({inner}) f "
            f"WHERE ST_X(g) >= ST_XMin({tile}) AND ST_X(g) < ST_XMax({tile}) "
            f"AND ST_Y(g) > ST_YMin({tile}) AND ST_Y(g) <= ST_YMax({tile}) "
            f"GROUP BY floor((ST_X(g) - ST_XMin({tile})) / {cell}), floor((ST_YMax({tile}) - ST_Y(g)) / {cell})"
            ") m WHERE m.geom IS NOT NULL"
        )
        return sql, [self.layer.name, *params]


class _Utf8Bytes(Loader):
    """A text column as the bytes PostgreSQL sent (UTF-8, the connection's encoding), not decoded."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


@dataclass(frozen=True)
class Page:
    # numberMatched; None when not counted (more than NUMBER_MATCHED_MAX).
    matched: int | None
    returned: int
    # Whether a next page holds more.
    more: bool
    # The page's features, a JSON array as UTF-8 text (bytes, as PostgreSQL sent it).
    features: bytes
    # (created_at, id) of its last feature: where the next page starts (`after`).
    last: tuple[dt.datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class Extent:
    # [minx, miny, maxx, maxy] in CRS84; None when the user sees nothing.
    bbox: list[float] | None
    # (first, last) of the layer's time; (None, None) when not computed (open).
    interval: tuple[dt.datetime | None, dt.datetime | None] | None
    # Computed over the user's own rows (else estimated from the table's statistics).
    exact: bool


class _TileParameter:
    """A stand-in for a tile's z, x or y among a compiled statement's parameters."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<tile {self.name}>"


TILE_Z, TILE_X, TILE_Y = _TileParameter("z"), _TileParameter("x"), _TileParameter("y")
TILE_ZXY = (TILE_Z, TILE_X, TILE_Y)


@dataclass(frozen=True)
class TileStatement:
    """A tile's SQL with TILE_Z, TILE_X and TILE_Y among its parameters."""

    sql: str
    params: tuple[Any, ...]

    def bind(self, *, z: int, x: int, y: int) -> tuple[str, list[Any]]:
        values = {TILE_Z: int(z), TILE_X: int(x), TILE_Y: int(y)}
        return self.sql, [values[param] if isinstance(param, _TileParameter) else param for param in self.params]


class TileStatements:
    """Compiled tile statements per (layer, user), each of the change counter it was compiled
    at (one per user and layer: the latest).

    A layer's statement is a function of the user's scope, which lives in the tables the change
    counter watches (records, cases, assignments, organisations, the user's roles: every write
    bumps it, backend.layers.changes), so it is reused only for the same counter value and user; a
    new value compiles afresh. The counter is read per request anyway (the ETag), so this costs
    no query. Bounded (least recently used goes), and locked for gunicorn's threads."""

    def __init__(self, size: int = 512):
        self.size = size
        self._statements: OrderedDict[tuple[Any, ...], tuple[int, TileStatement]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(query: "Query") -> tuple[Any, ...]:
        return (query.layer.name, query.user.pk, getattr(query.user, "is_active", None))

    def latest(self, query: "Query") -> tuple[int, TileStatement] | None:
        """(counter, statement) last compiled for the query's user and layer, if any."""
        with self._lock:
            return self._statements.get(self._key(query))

    def get(self, query: "Query", version: int) -> TileStatement:
        """The statement for the user and layer at `version`, compiled unless it is the latest's."""
        key = self._key(query)
        with self._lock:
            found = self._statements.get(key)
            if found is not None and found[0] == version:
                self._statements.move_to_end(key)
                return found[1]
        statement = query.feature_tile_statement()
        with self._lock:
            self._statements[key] = (version, statement)
            while len(self._statements) > self.size:
                self._statements.popitem(last=False)
        return statement

    def clear(self) -> None:
        with self._lock:
            self._statements.clear()


FEATURE_TILE_STATEMENTS = TileStatements()


def property_sql(layer: Layer, name: str, *, as_text: bool) -> str:
    """A published property of row `t`: date-times as REST renders them (ISO 8601 in the
    server's time zone, with its offset); with `as_text`, also uuids, foreign keys and dates as
    text, because ST_AsMVT takes only numbers, text and booleans."""
    field = next(f for f in layer.model._meta.concrete_fields if f.attname == name)
    column = f"t.{connection.ops.quote_name(field.column)}"
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return iso8601_sql(column)
    if as_text and (field.is_relation or kind in {"UUIDField", "DateField"}):
        return f"{column}::text"
    return column
