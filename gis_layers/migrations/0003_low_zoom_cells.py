from django.db import migrations

# Cells per tile side (gis_layers.layers.AGGREGATE_CELLS) and the zooms precomputed (0 to
# gis_layers.layers.AGGREGATE_MAX_ZOOM). Changing either needs a new migration that rebuilds.
CELLS = 64
MAX_ZOOM = 10
MERCATOR_LIMIT = 20037508.342789244
# A scope key a layer does not have (the columns are NOT NULL, so that equality finds them).
NO_UUID = "00000000-0000-0000-0000-000000000000"

# layer: (table, its point in WGS84 over row alias r, the scope keys over r). A layer's scope
# keys are the row's own columns its selector decides visibility on (backend.layers.low_zoom).
LAYERS = {
    "sites": ("sites_site", "ST_PointOnSurface(r.boundary)", {"case_id": "r.case_id", "project_id": "r.project_id"}),
    "surveys": ("surveys_survey", "r.location", {"case_id": "r.case_id"}),
    "findings": ("surveys_finding", "r.location", {"case_id": "r.case_id"}),
    "utility_points": (
        "utilities_utilitypoint",
        "r.location",
        {"case_id": "r.case_id", "company_id": "r.company_id", "kind": "r.utility_type"},
    ),
}
KEYS = ("case_id", "project_id", "company_id", "kind")
KEY_TYPES = {"case_id": "uuid", "project_id": "uuid", "company_id": "uuid", "kind": "text"}
NONE = {"uuid": f"'{NO_UUID}'::uuid", "text": "''"}
# Every column that tells one cell row's key from another's.
ROW_KEY = ("layer", "z", "tx", "ty", "total", *KEYS, "cell")


def _keys_of(keys: dict[str, str], alias: str) -> str:
    columns = []
    for key in KEYS:
        kind = KEY_TYPES[key]
        if key in keys:
            columns.append(f"COALESCE({keys[key].replace('r.', alias + '.')}::{kind}, {NONE[kind]}) AS {key}")
        else:
            columns.append(f"{NONE[kind]} AS {key}")
    return ", ".join(columns)


def _add_sql(layer: str, source: str, *, pending: bool) -> str:
    """Append `source` (rows: case_id, project_id, company_id, kind, g (WGS84 point), sign) to the
    layer's cells at every zoom, once per scope key and once in the layer's total (total = true,
    keys NONE), grouped by cell. A cell is one of CELLS x CELLS per tile at zoom z: global column
    gx = floor(fx * CELLS * 2^z) of the point's Web Mercator position as a fraction fx of the
    world from the west (fy from the north), so a point is in exactly one cell per zoom."""
    world = 2 * MERCATOR_LIMIT
    keys = ", ".join(KEYS)
    scoped_keys = ", ".join(
        f"CASE WHEN t.total THEN {NONE[KEY_TYPES[key]]} ELSE q.{key} END AS {key}" for key in KEYS
    )
    return (
        f"INSERT INTO gis_layers_cell (layer, z, tx, ty, total, {keys}, cell, n, sx, sy, pending) "
        f"SELECT '{layer}', z, gx / {CELLS}, gy / {CELLS}, total, {keys}, "
        f"((gy % {CELLS}) * {CELLS} + gx % {CELLS})::smallint, sum(sign)::int, sum(sign * x), sum(sign * y), "
        f"{'true' if pending else 'false'} FROM ("
        f"SELECT q.z, q.gx, q.gy, q.sign, q.x, q.y, t.total, {scoped_keys} FROM ("
        f"SELECT p.*, z, floor(p.fx * {CELLS} * 2 ^ z)::int AS gx, floor(p.fy * {CELLS} * 2 ^ z)::int AS gy FROM ("
        f"SELECT d.*, ST_X(d.m) AS x, ST_Y(d.m) AS y, (ST_X(d.m) + {MERCATOR_LIMIT!r}) / {world!r} AS fx, "
        f"({MERCATOR_LIMIT!r} - ST_Y(d.m)) / {world!r} AS fy FROM ("
        f"SELECT {keys}, sign, ST_Transform(g, 3857) AS m FROM ({source}) s WHERE g IS NOT NULL) d) p "
        f"CROSS JOIN generate_series(0, {MAX_ZOOM}) z "
        "WHERE p.fx >= 0 AND p.fx < 1 AND p.fy >= 0 AND p.fy < 1) q "
        "CROSS JOIN (VALUES (false), (true)) t (total)) a "
        "GROUP BY 2, 3, 4, 5, 6, 7, 8, 9, 10 HAVING sum(sign) <> 0 OR sum(sign * x) <> 0 OR sum(sign * y) <> 0"
    )


def _rows(keys: dict[str, str], point: str, alias: str, sign: int, where: str = "") -> str:
    return (
        f"SELECT {_keys_of(keys, alias)}, {point.replace('r.', alias + '.')} AS g, {sign} AS sign "
        f"FROM {where or alias} WHERE {alias}.deleted_at IS NULL"
    )


def _function_sql(layer: str, point: str, keys: dict[str, str]) -> str:
    counted = f"{point}, {', '.join(keys.values())}, r.deleted_at IS NULL"
    changed = (
        f"({counted.replace('r.', 'o.')}) IS DISTINCT FROM ({counted.replace('r.', 'n.')})".replace(
            "ST_PointOnSurface(o.boundary)", "o.boundary"
        ).replace("ST_PointOnSurface(n.boundary)", "n.boundary")
    )
    moved = f"old_rows o JOIN new_rows n ON n.id = o.id AND {changed}"
    update = f"{_rows(keys, point, 'o', -1, moved)} UNION ALL {_rows(keys, point, 'n', 1, moved)}"
    return (
        f"CREATE FUNCTION gis_layers_cells_{layer}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {_add_sql(layer, _rows(keys, point, 'new_rows', 1), pending=True)}; "
        f"ELSIF TG_OP = 'DELETE' THEN {_add_sql(layer, _rows(keys, point, 'old_rows', -1), pending=True)}; "
        f"ELSIF TG_OP = 'UPDATE' THEN {_add_sql(layer, update, pending=True)}; "
        f"ELSE DELETE FROM gis_layers_cell WHERE layer = '{layer}'; END IF; RETURN NULL; END $$"
    )


def _compact_sql() -> str:
    """Merge the pending rows into one row per key (with the merged rows of the same keys), in
    one statement under a transaction-level advisory lock (one compaction at a time; another
    caller returns -1 at once). Rows written meanwhile are not in its snapshot and stay pending.
    """
    key = ", ".join(ROW_KEY)
    same = " AND ".join(f"c.{column} = k.{column}" for column in ROW_KEY)
    columns = f"{key}, n, sx, sy"
    return (
        "CREATE FUNCTION gis_layers_cells_compact() RETURNS integer LANGUAGE plpgsql AS $$ "
        "DECLARE merged integer; BEGIN "
        "IF NOT pg_try_advisory_xact_lock(hashtext('gis_layers_cells_compact')) THEN RETURN -1; END IF; "
        f"WITH p AS (DELETE FROM gis_layers_cell WHERE pending RETURNING {columns}), "
        f"k AS (SELECT DISTINCT {key} FROM p), "
        f"b AS (DELETE FROM gis_layers_cell c USING k WHERE NOT c.pending AND {same} "
        f"RETURNING {', '.join('c.' + column for column in (*ROW_KEY, 'n', 'sx', 'sy'))}) "
        f"INSERT INTO gis_layers_cell ({columns}, pending) SELECT {key}, sum(n), sum(sx), sum(sy), false "
        f"FROM (SELECT * FROM p UNION ALL SELECT * FROM b) a GROUP BY {key} HAVING sum(n) <> 0; "
        "GET DIAGNOSTICS merged = ROW_COUNT; RETURN merged; END $$"
    )


def _forward() -> list[str]:
    keys = ", ".join(f"{key} {KEY_TYPES[key]} NOT NULL" for key in KEYS)
    sql = [
        "CREATE TABLE gis_layers_cell (layer text NOT NULL, z smallint NOT NULL, tx integer NOT NULL, "
        f"ty integer NOT NULL, total boolean NOT NULL, {keys}, cell smallint NOT NULL, "
        "n integer NOT NULL, sx double precision NOT NULL, sy double precision NOT NULL, "
        "pending boolean NOT NULL)",
        # A tile reads one (layer, z, tx, ty, total) range: the total's cells, or the scope keys' cells.
        f"CREATE INDEX gis_layers_cell_key ON gis_layers_cell ({', '.join(ROW_KEY)})",
        "CREATE INDEX gis_layers_cell_pending ON gis_layers_cell (layer) WHERE pending",
        "ALTER TABLE gis_layers_cell SET (autovacuum_vacuum_scale_factor = 0.02)",
        _compact_sql(),
    ]
    for layer, (table, point, layer_keys) in LAYERS.items():
        sql.append(_function_sql(layer, point, layer_keys))
        # Rows written by others meanwhile are not in this snapshot: their pending rows stay.
        sql.append(
            f"CREATE FUNCTION gis_layers_cells_rebuild_{layer}() RETURNS void LANGUAGE sql AS $$ "
            f"DELETE FROM gis_layers_cell WHERE layer = '{layer}'; "
            f"{_add_sql(layer, _rows(layer_keys, point, 'r', 1, f'{table} r'), pending=False)}; $$"
        )
        for event, referencing in [
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ]:
            sql.append(
                f"CREATE TRIGGER gis_layers_cells_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION gis_layers_cells_{layer}()"
            )
        sql.append(
            f"CREATE TRIGGER gis_layers_cells_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION gis_layers_cells_{layer}()"
        )
        sql.append(f"SELECT gis_layers_cells_rebuild_{layer}()")
    return sql


def _backward() -> list[str]:
    sql = []
    for layer, (table, _point, _keys) in LAYERS.items():
        for event in ("insert", "update", "delete", "truncate"):
            sql.append(f"DROP TRIGGER gis_layers_cells_{event} ON {table}")
        sql.append(f"DROP FUNCTION gis_layers_cells_{layer}()")
        sql.append(f"DROP FUNCTION gis_layers_cells_rebuild_{layer}()")
    return [*sql, "DROP FUNCTION gis_layers_cells_compact()", "DROP TABLE gis_layers_cell"]


class Migration(migrations.Migration):
    """Point counts per low-zoom tile cell, precomputed and kept exact by triggers.

    For every zoom 0-10, every tile's CELLS x CELLS grid cell holds, per layer, the count of the
    layer's live records in it and the sums of their Web Mercator x and y (the tile draws one
    `count` feature at their mean). Each cell has rows per scope key (the record's own columns
    its layer's visibility depends on: the case, and for utility points the company and the
    type; for sites also the project; NO_UUID / '' where a layer has no such key) and rows of
    the total (every record; what an administrator sees). A user's tile sums the rows of the
    keys they may see (gis_layers.layers), so it never counts a record their REST view would not.

    Writers only append: a statement-level trigger (transition tables) inserts the statement's
    rows grouped by key and cell as `pending` deltas, so concurrent writers never wait on each
    other's cells (an upsert would lock the shared low-zoom rows for the rest of each writing
    transaction: one writer at a time per layer, and deadlocks between transactions that write
    two layers in opposite orders). Readers sum whatever rows a key has; gis_layers_cells_compact()
    merges the pending rows (a minute task, gis_layers.tasks). Sites count at their red line's
    ST_PointOnSurface. Inspections and photos are not here: their visibility depends on other
    tables' rows (inspection items, the photo's record), so they are counted live.
    """

    dependencies = [
        ("gis_layers", "0002_sharded_change_counter"),
        ("sites", "0003_records_skip_tombstones_by_default"),
        ("surveys", "0004_finding_taken_up_by_meeting"),
        ("utilities", "0003_records_skip_tombstones_by_default"),
    ]

    operations = [migrations.RunSQL(sql=_forward(), reverse_sql=_backward())]
