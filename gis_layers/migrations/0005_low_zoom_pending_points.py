import importlib

from django.db import migrations

# 0004's definitions (the grid, the layers, the keys and the families are unchanged; 0003 and
# 0004 are frozen).
previous = importlib.import_module("gis_layers.migrations.0004_low_zoom_region_cells")
CELLS, MAX_ZOOM, MERCATOR_LIMIT = previous.CELLS, previous.MAX_ZOOM, previous.MERCATOR_LIMIT
LAYERS, KEYS, KEY_TYPES, NONE = previous.LAYERS, previous.KEYS, previous.KEY_TYPES, previous.NONE
ROW_KEY = previous.ROW_KEY
FAMILIES = f"{previous.KEYED}, {previous.TOTAL}, {previous.REGION}"
# A pending point's columns: its layer, its scope keys, its region, its Web Mercator position
# (x, y) and that position as fractions of the world from the west and the north (fx, fy: the
# grid's coordinates, 0003), and +1 (counted) or -1 (no longer counted there).
POINT = ("layer", *KEYS, "region", "x", "y", "fx", "fy", "sign")


def _points_sql(layer: str, source: str) -> str:
    """Append `source` (0004's rows: the keys, region, g (WGS84 point), sign) as one pending point
    each; the position is computed as 0004's _add_sql computes it, so a point lands in the cells
    a rebuild puts it in. Points outside the grid (beyond Web Mercator's latitudes) are not counted."""
    world = 2 * MERCATOR_LIMIT
    keys = ", ".join(KEYS)
    return (
        f"INSERT INTO gis_layers_cell_point ({', '.join(POINT)}) "
        f"SELECT '{layer}', {keys}, region, x, y, fx, fy, sign FROM ("
        f"SELECT d.*, ST_X(d.m) AS x, ST_Y(d.m) AS y, (ST_X(d.m) + {MERCATOR_LIMIT!r}) / {world!r} AS fx, "
        f"({MERCATOR_LIMIT!r} - ST_Y(d.m)) / {world!r} AS fy FROM ("
        f"SELECT {keys}, region, sign, ST_Transform(g, 3857) AS m FROM ({source}) s WHERE g IS NOT NULL "
        # OFFSET 0 keeps d a subquery: flattened, ST_Transform ran once per use of m (8 a row).
        "OFFSET 0) d) p WHERE p.fx >= 0 AND p.fx < 1 AND p.fy >= 0 AND p.fy < 1"
    )


def _expanded_sql(points: str) -> str:
    """The cell rows (ROW_KEY, n, sx, sy) of `points` (rows of POINT): each point in its cell at
    every zoom, once per family (0004's: its keys', the total's, its region's when it has one),
    grouped by key. The arithmetic is 0004's, so the cells are those its _add_sql writes."""
    keys = ", ".join(KEYS)
    scoped_keys = ", ".join(f"CASE WHEN t.total THEN {NONE[KEY_TYPES[key]]} ELSE q.{key} END AS {key}" for key in KEYS)
    return (
        f"SELECT layer, z, gx / {CELLS} AS tx, gy / {CELLS} AS ty, total, region, {keys}, "
        f"((gy % {CELLS}) * {CELLS} + gx % {CELLS})::smallint AS cell, sum(sign)::int AS n, "
        "sum(sign * x) AS sx, sum(sign * y) AS sy FROM ("
        f"SELECT q.layer, q.z, q.gx, q.gy, q.sign, q.x, q.y, t.total, "
        f"CASE WHEN t.by_region THEN q.region ELSE '' END AS region, {scoped_keys} FROM ("
        f"SELECT p.*, z, floor(p.fx * {CELLS} * 2 ^ z)::int AS gx, floor(p.fy * {CELLS} * 2 ^ z)::int AS gy "
        f"FROM ({points}) p CROSS JOIN generate_series(0, {MAX_ZOOM}) z) q "
        f"CROSS JOIN (VALUES {FAMILIES}) t (total, by_region) WHERE NOT t.by_region OR q.region <> '') a "
        f"GROUP BY {', '.join(str(i) for i in range(1, len(ROW_KEY) + 1))} HAVING sum(sign) <> 0 OR sum(sign * x) <> 0 OR sum(sign * y) <> 0"
    )


def _function_sql(layer: str, point: str, keys: dict[str, str]) -> str:
    """0004's trigger function, appending one pending point per changed row instead of its cells."""
    moved = previous._changed_rows(point, keys)
    rows = previous._rows
    update = f"{rows(keys, point, 'o', -1, moved)} UNION ALL {rows(keys, point, 'n', 1, moved)}"
    return (
        f"CREATE OR REPLACE FUNCTION gis_layers_cells_{layer}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {_points_sql(layer, rows(keys, point, 'new_rows', 1))}; "
        f"ELSIF TG_OP = 'DELETE' THEN {_points_sql(layer, rows(keys, point, 'old_rows', -1))}; "
        f"ELSIF TG_OP = 'UPDATE' THEN {_points_sql(layer, update)}; "
        f"ELSE DELETE FROM gis_layers_cell WHERE layer = '{layer}'; "
        f"DELETE FROM gis_layers_cell_point WHERE layer = '{layer}'; END IF; RETURN NULL; END $$"
    )


def _moved_region_sql(layer: str, table: str, point: str, keys: dict[str, str], cases: str) -> str:
    """0004's region move as pending points. A moved record's keys and position are the same at
    its old region (-1) and its new one (+1), so its keyed and total cells cancel out and only
    its region cells move."""
    return _points_sql(layer, previous._moved_region_rows(table, point, keys, cases))


def _region_trigger_functions() -> list[str]:
    """0004's region triggers (the same cases, whose records' region moves) as pending points."""
    return previous._region_trigger_functions(_moved_region_sql, create="CREATE OR REPLACE")


def _compact_sql() -> str:
    """Expand the pending points into cells and merge them, with any pending cell rows (written
    before this migration), into the merged rows of the same keys: one statement, so readers see
    the points or their cells, never both or neither. Under 0003's transaction-level advisory
    lock (one compaction at a time; another caller returns -1 at once). The points and rows it
    merges are the ones its DELETE ... RETURNING took: those committed meanwhile stay pending."""
    key = ", ".join(ROW_KEY)
    same = " AND ".join(f"c.{column} = k.{column}" for column in ROW_KEY)
    columns = f"{key}, n, sx, sy"
    return (
        "CREATE OR REPLACE FUNCTION gis_layers_cells_compact() RETURNS integer LANGUAGE plpgsql AS $$ "
        "DECLARE merged integer; BEGIN "
        "IF NOT pg_try_advisory_xact_lock(hashtext('gis_layers_cells_compact')) THEN RETURN -1; END IF; "
        f"WITH points AS (DELETE FROM gis_layers_cell_point RETURNING {', '.join(POINT)}), "
        f"pending AS (DELETE FROM gis_layers_cell WHERE pending RETURNING {columns}), "
        f"p AS ({_expanded_sql('SELECT * FROM points')} UNION ALL SELECT * FROM pending), "
        f"k AS (SELECT DISTINCT {key} FROM p), "
        f"b AS (DELETE FROM gis_layers_cell c USING k WHERE NOT c.pending AND {same} "
        f"RETURNING {', '.join('c.' + column for column in (*ROW_KEY, 'n', 'sx', 'sy'))}) "
        f"INSERT INTO gis_layers_cell ({columns}, pending) SELECT {key}, sum(n), sum(sx), sum(sy), false "
        f"FROM (SELECT * FROM p UNION ALL SELECT * FROM b) a GROUP BY {key} HAVING sum(n) <> 0; "
        "GET DIAGNOSTICS merged = ROW_COUNT; RETURN merged; END $$"
    )


def _rebuild_sql(layer: str, table: str, point: str, keys: dict[str, str]) -> str:
    """0004's rebuild, which also drops the layer's pending points (the table's rows hold them),
    under the compaction's lock (waiting for it): a compaction running meanwhile would merge
    points the rebuild counts again."""
    rows = previous._rows(keys, point, "r", 1, f"{table} r")
    return (
        f"CREATE OR REPLACE FUNCTION gis_layers_cells_rebuild_{layer}() RETURNS void LANGUAGE sql AS $$ "
        "SELECT pg_advisory_xact_lock(hashtext('gis_layers_cells_compact')); "
        f"DELETE FROM gis_layers_cell_point WHERE layer = '{layer}'; "
        f"DELETE FROM gis_layers_cell WHERE layer = '{layer}'; "
        f"{previous._add_sql(layer, rows, pending=False)}; $$"
    )


def _forward() -> list[str]:
    keys = ", ".join(f"{key} {KEY_TYPES[key]} NOT NULL" for key in KEYS)
    sql = [
        f'CREATE TABLE gis_layers_cell_point (layer text NOT NULL, {keys}, region text COLLATE "C" NOT NULL, '
        "x double precision NOT NULL, y double precision NOT NULL, fx double precision NOT NULL, "
        "fy double precision NOT NULL, sign smallint NOT NULL)",
        # A tile reads its layer's points in one band of fx (its column of tiles at its zoom).
        "CREATE INDEX gis_layers_cell_point_tile ON gis_layers_cell_point (layer, fx, fy)",
        # Emptied by every compaction: vacuumed often so its pages are reused.
        "ALTER TABLE gis_layers_cell_point SET (autovacuum_vacuum_scale_factor = 0, "
        "autovacuum_vacuum_threshold = 10000)",
        _compact_sql(),
        *_region_trigger_functions(),
    ]
    for layer, (table, point, layer_keys) in LAYERS.items():
        sql.append(_function_sql(layer, point, layer_keys))
        sql.append(_rebuild_sql(layer, table, point, layer_keys))
    return sql


def _backward() -> list[str]:
    keys = ", ".join(KEYS)
    # The pending points back as 0004's pending cell rows, then 0004's functions.
    sql = [
        "WITH points AS (DELETE FROM gis_layers_cell_point RETURNING *) "
        f"INSERT INTO gis_layers_cell (layer, z, tx, ty, total, region, {keys}, cell, n, sx, sy, pending) "
        f"SELECT *, true FROM ({_expanded_sql('SELECT * FROM points')}) e",
        previous._compact_sql(),
        *[previous._replacing(function) for function in previous._region_trigger_functions()],
    ]
    for layer, (table, point, layer_keys) in LAYERS.items():
        sql.append(previous._function_sql(layer, point, layer_keys))
        sql.append(
            f"CREATE OR REPLACE FUNCTION gis_layers_cells_rebuild_{layer}() RETURNS void LANGUAGE sql AS $$ "
            f"DELETE FROM gis_layers_cell WHERE layer = '{layer}'; "
            f"{previous._add_sql(layer, previous._rows(layer_keys, point, 'r', 1, f'{table} r'), pending=False)}; $$"
        )
    return [*sql, "DROP TABLE gis_layers_cell_point"]


class Migration(migrations.Migration):
    """The layers' triggers append one pending point per changed row, not its ~33 cell rows.

    0003/0004's triggers expanded every changed row into a pending cell row per zoom (0-10) and
    family (its keys', the total's, its region's) in the writing statement: ~0.1 ms of every sync
    operation, 7x the row's own insert. Now a changed row is one row of gis_layers_cell_point
    (its layer, scope keys, region, Web Mercator position and sign), a small table the minute
    compaction (gis_layers_cells_compact) empties: it expands the points into cells and merges
    them in one statement. A low-zoom tile sums the cells and the pending points in the tile
    under the same scope (backend.layers.low_zoom, gis_layers.layers), so it stays exact and
    shows a record the moment its transaction commits. Region moves (0004) are pending points
    too: -1 at the old region and +1 at the new one, whose keyed and total counts cancel.
    """

    dependencies = [("gis_layers", "0004_low_zoom_region_cells")]

    operations = [migrations.RunSQL(sql=_forward(), reverse_sql=_backward())]
