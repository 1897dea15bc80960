import importlib

from django.db import migrations

# 0003's definitions (the cells' grid, layers and keys are unchanged; 0003 is frozen).
previous = importlib.import_module("gis_layers.migrations.0003_low_zoom_cells")
CELLS, MAX_ZOOM, MERCATOR_LIMIT = previous.CELLS, previous.MAX_ZOOM, previous.MERCATOR_LIMIT
LAYERS, KEYS, KEY_TYPES, NONE = previous.LAYERS, previous.KEYS, previous.KEY_TYPES, previous.NONE
# Every column that tells one cell row's key from another's (region after total: the index's order).
ROW_KEY = ("layer", "z", "tx", "ty", "total", "region", *KEYS, "cell")

# The families of rows a source row is counted in: its scope keys' (not total, region ''), the
# layer's total (total, region '') and its case's project's region (total, the region code; only
# for records with a case whose project has a region code).
KEYED = "(false, false)"
TOTAL = "(true, false)"
REGION = "(true, true)"


def _rows(layer_keys: dict[str, str], point: str, alias: str, sign: int, where: str = "") -> str:
    """Source rows (keys, region, g, sign) of `alias`'s live records; `region` is the current
    region code of the record's case's project ('' without a case)."""
    columns = []
    for key in KEYS:
        kind = KEY_TYPES[key]
        if key in layer_keys:
            columns.append(f"COALESCE({layer_keys[key].replace('r.', alias + '.')}::{kind}, {NONE[kind]}) AS {key}")
        else:
            columns.append(f"{NONE[kind]} AS {key}")
    return (
        f"SELECT {', '.join(columns)}, COALESCE(pr.region_code, '') AS region, "
        f"{point.replace('r.', alias + '.')} AS g, {sign} AS sign "
        f"FROM {where or alias} LEFT JOIN cases_approvalcase ac ON ac.id = {alias}.case_id "
        f"LEFT JOIN cases_project pr ON pr.id = ac.project_id WHERE {alias}.deleted_at IS NULL"
    )


def _add_sql(layer: str, source: str, *, pending: bool, families: str = f"{KEYED}, {TOTAL}, {REGION}") -> str:
    """Append `source` (rows: the keys, region, g (WGS84 point), sign) to the layer's cells at every
    zoom, once per family, grouped by cell (0003's grid: a point is in one cell per zoom)."""
    world = 2 * MERCATOR_LIMIT
    keys = ", ".join(KEYS)
    scoped_keys = ", ".join(f"CASE WHEN t.total THEN {NONE[KEY_TYPES[key]]} ELSE q.{key} END AS {key}" for key in KEYS)
    return (
        f"INSERT INTO gis_layers_cell (layer, z, tx, ty, total, region, {keys}, cell, n, sx, sy, pending) "
        f"SELECT '{layer}', z, gx / {CELLS}, gy / {CELLS}, total, region, {keys}, "
        f"((gy % {CELLS}) * {CELLS} + gx % {CELLS})::smallint, sum(sign)::int, sum(sign * x), sum(sign * y), "
        f"{'true' if pending else 'false'} FROM ("
        f"SELECT q.z, q.gx, q.gy, q.sign, q.x, q.y, t.total, "
        f"CASE WHEN t.by_region THEN q.region ELSE '' END AS region, {scoped_keys} FROM ("
        f"SELECT p.*, z, floor(p.fx * {CELLS} * 2 ^ z)::int AS gx, floor(p.fy * {CELLS} * 2 ^ z)::int AS gy FROM ("
        f"SELECT d.*, ST_X(d.m) AS x, ST_Y(d.m) AS y, (ST_X(d.m) + {MERCATOR_LIMIT!r}) / {world!r} AS fx, "
        f"({MERCATOR_LIMIT!r} - ST_Y(d.m)) / {world!r} AS fy FROM ("
        f"SELECT {keys}, region, sign, ST_Transform(g, 3857) AS m FROM ({source}) s WHERE g IS NOT NULL) d) p "
        f"CROSS JOIN generate_series(0, {MAX_ZOOM}) z "
        "WHERE p.fx >= 0 AND p.fx < 1 AND p.fy >= 0 AND p.fy < 1) q "
        f"CROSS JOIN (VALUES {families}) t (total, by_region) WHERE NOT t.by_region OR q.region <> '') a "
        "GROUP BY 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 "
        "HAVING sum(sign) <> 0 OR sum(sign * x) <> 0 OR sum(sign * y) <> 0"
    )


def _changed_rows(point: str, keys: dict[str, str]) -> str:
    """An UPDATE's rows whose position, keys or deletion changed: old_rows o joined to new_rows n."""
    counted = f"{point}, {', '.join(keys.values())}, r.deleted_at IS NULL"
    changed = f"({counted.replace('r.', 'o.')}) IS DISTINCT FROM ({counted.replace('r.', 'n.')})".replace(
        "ST_PointOnSurface(o.boundary)", "o.boundary"
    ).replace("ST_PointOnSurface(n.boundary)", "n.boundary")
    return f"old_rows o JOIN new_rows n ON n.id = o.id AND {changed}"


def _function_sql(layer: str, point: str, keys: dict[str, str]) -> str:
    moved = _changed_rows(point, keys)
    update = f"{_rows(keys, point, 'o', -1, moved)} UNION ALL {_rows(keys, point, 'n', 1, moved)}"
    return (
        f"CREATE OR REPLACE FUNCTION gis_layers_cells_{layer}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {_add_sql(layer, _rows(keys, point, 'new_rows', 1), pending=True)}; "
        f"ELSIF TG_OP = 'DELETE' THEN {_add_sql(layer, _rows(keys, point, 'old_rows', -1), pending=True)}; "
        f"ELSIF TG_OP = 'UPDATE' THEN {_add_sql(layer, update, pending=True)}; "
        f"ELSE DELETE FROM gis_layers_cell WHERE layer = '{layer}'; END IF; RETURN NULL; END $$"
    )


def _moved_region_sql(layer: str, table: str, point: str, keys: dict[str, str], cases: str) -> str:
    """Move the region rows of the layer's records whose case's project region changed: `cases`
    yields (case id, old region, new region); the other families do not depend on the region."""
    return _add_sql(layer, _moved_region_rows(table, point, keys, cases), pending=True, families=REGION)


def _moved_region_rows(table: str, point: str, keys: dict[str, str], cases: str) -> str:
    """The moved records of `cases` as rows (keys, region, g, sign): each once at its old region
    (-1) and once at its new one (+1)."""
    rows = []
    for sign, region in ((-1, "m.old_region"), (1, "m.new_region")):
        columns = ", ".join(
            f"COALESCE({keys[key]}::{KEY_TYPES[key]}, {NONE[KEY_TYPES[key]]}) AS {key}"
            if key in keys
            else f"{NONE[KEY_TYPES[key]]} AS {key}"
            for key in KEYS
        )
        rows.append(
            f"SELECT {columns}, COALESCE({region}, '') AS region, {point} AS g, {sign} AS sign "
            f"FROM {table} r JOIN ({cases}) m ON m.case_id = r.case_id WHERE r.deleted_at IS NULL"
        )
    return " UNION ALL ".join(rows)


def _region_trigger_functions(moved_sql=_moved_region_sql, create: str = "CREATE") -> list[str]:
    """A project's region code or a case's project changing moves its records' region rows.
    `moved_sql` writes one layer's move (0005 passes its own, which appends pending points)."""
    projects = (
        "SELECT ac.id AS case_id, o.region_code AS old_region, n.region_code AS new_region FROM old_rows o "
        "JOIN new_rows n ON n.id = o.id AND n.region_code IS DISTINCT FROM o.region_code "
        "JOIN cases_approvalcase ac ON ac.project_id = n.id"
    )
    cases = (
        "SELECT n.id AS case_id, op.region_code AS old_region, np.region_code AS new_region FROM old_rows o "
        "JOIN new_rows n ON n.id = o.id AND n.project_id IS DISTINCT FROM o.project_id "
        "JOIN cases_project op ON op.id = o.project_id JOIN cases_project np ON np.id = n.project_id "
        "WHERE op.region_code IS DISTINCT FROM np.region_code"
    )
    sql = []
    for name, source in (("projects", projects), ("cases", cases)):
        body = "; ".join(moved_sql(layer, table, point, keys, source) for layer, (table, point, keys) in LAYERS.items())
        sql.append(
            f"{create} FUNCTION gis_layers_cells_region_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"{body}; RETURN NULL; END $$"
        )
    return sql


def _compact_sql() -> str:
    key = ", ".join(ROW_KEY)
    same = " AND ".join(f"c.{column} = k.{column}" for column in ROW_KEY)
    columns = f"{key}, n, sx, sy"
    return (
        "CREATE OR REPLACE FUNCTION gis_layers_cells_compact() RETURNS integer LANGUAGE plpgsql AS $$ "
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


def _replacing(sql: str) -> str:
    # 0003's triggers call its functions by name: they are replaced, not dropped.
    return sql.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _forward() -> list[str]:
    sql = [
        "ALTER TABLE gis_layers_cell ADD COLUMN region text COLLATE \"C\" NOT NULL DEFAULT ''",
        "DROP INDEX gis_layers_cell_key",
        f"CREATE INDEX gis_layers_cell_key ON gis_layers_cell ({', '.join(ROW_KEY)})",
        _compact_sql(),
        *_region_trigger_functions(),
    ]
    for layer, (table, point, layer_keys) in LAYERS.items():
        sql.append(_function_sql(layer, point, layer_keys))
        sql.append(
            f"CREATE OR REPLACE FUNCTION gis_layers_cells_rebuild_{layer}() RETURNS void LANGUAGE sql AS $$ "
            f"DELETE FROM gis_layers_cell WHERE layer = '{layer}'; "
            f"{_add_sql(layer, _rows(layer_keys, point, 'r', 1, f'{table} r'), pending=False)}; $$"
        )
    for name, table in (("projects", "cases_project"), ("cases", "cases_approvalcase")):
        sql.append(
            f"CREATE TRIGGER gis_layers_cells_region AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
            f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gis_layers_cells_region_{name}()"
        )
    sql += [f"SELECT gis_layers_cells_rebuild_{layer}()" for layer in LAYERS]
    return sql


def _backward() -> list[str]:
    sql = [
        "DROP TRIGGER gis_layers_cells_region ON cases_project",
        "DROP TRIGGER gis_layers_cells_region ON cases_approvalcase",
        "DROP FUNCTION gis_layers_cells_region_projects()",
        "DROP FUNCTION gis_layers_cells_region_cases()",
        "DELETE FROM gis_layers_cell WHERE region <> ''",
        "DROP INDEX gis_layers_cell_key",
        "ALTER TABLE gis_layers_cell DROP COLUMN region",
        f"CREATE INDEX gis_layers_cell_key ON gis_layers_cell ({', '.join(previous.ROW_KEY)})",
        _replacing(previous._compact_sql()),
    ]
    for layer, (table, point, layer_keys) in LAYERS.items():
        sql.append(_replacing(previous._function_sql(layer, point, layer_keys)))
        sql.append(
            f"CREATE OR REPLACE FUNCTION gis_layers_cells_rebuild_{layer}() RETURNS void LANGUAGE sql AS $$ "
            f"DELETE FROM gis_layers_cell WHERE layer = '{layer}'; "
            f"{previous._add_sql(layer, previous._rows(layer_keys, point, 'r', 1, f'{table} r'), pending=False)}; $$"
        )
    return sql


class Migration(migrations.Migration):
    """Low-zoom cells per region too, so a regional official's tile reads cells, not cases x cells.

    Besides 0003's families (the scope keys' rows and the layer's total), every record with a case
    is counted in the rows of its case's project's region code (total = true, region = the code;
    the total's rows keep region ''). An approval department or external system with a region
    sees every case of its region plus some others (cases_visible_to): its tile sums the region
    rows of the codes under its prefix and the key rows of its other visible cases only
    (backend.layers.low_zoom), two disjoint sets, so the count stays exact while the read is
    bounded by the regions' cells instead of one row per visible case and cell.

    The region is the case's project's current region code: statement triggers on cases_project
    (its region code) and cases_approvalcase (its project) move the region rows of the records
    concerned (pending deltas, like the layers' own triggers, which read the region through the
    case when a record changes). The rows are rebuilt for every layer.
    """

    dependencies = [
        ("gis_layers", "0003_low_zoom_cells"),
        ("cases", "0001_initial"),
    ]

    operations = [migrations.RunSQL(sql=_forward(), reverse_sql=_backward())]
