"""Map layers against raw PostGIS over the same rows, through gunicorn on loopback, in one run.

    .venv/bin/python -m bench.bench_gis [--points 1000000] [--sites 20000] [--rounds 30]
        [--clients 50] [--seconds 20] [--workers 2] [--threads 8] [--port 8101] [--keep]
        [--only items,page,z14,z12,z10,z8,nearby,concurrent] [--user admin|official]

Loads `--points` utility points (uniform over a 1° x 1° square round 120.5 E 36.0 N, so a z14
tile holds ~400 and a z10 tile ~100k) and `--sites` red-line polygons into its own database
(BENCH_DATABASE_NAME, default bench_gis; dropped, migrated and loaded unless --keep) with
generate_series, the table's indexes built after the load. Starts `gunicorn -w WORKERS
--threads THREADS` on 127.0.0.1:PORT and, as an administrator (the same scope as the issue's
table), times each request through HTTP beside the SQL a hand-written PostGIS query needs for
the same answer (psycopg2, no Django), interleaved so drift hits both alike.

Like for like: each raw query builds the answer the server sends, not just its rows: the OGC
features with the layer's eleven properties (timestamps as the REST API spells them, uuids as
text), the same feature ids and 7 decimals; the tiles with the layer's tile properties
(utility_type, company_id, name, status, case_id, created_at) and the same extent and buffer;
nearby with every field of the server's row, the company's name and the count; z10 and z8 with
the server's `count` cells (counted live over the points: the server reads precomputed cells). Each row prints
both byte sizes (`bytes`, `raw bytes`), which agree within a few % (the items lack the links and
timeStamp; nearby's raw JSON carries PostgreSQL's ` : ` spacing, ~10 % more than the server's
compact JSON). The raw side is the plainest fast SQL for that answer: index-led, features built
after the LIMIT when an OFFSET skips rows, in the ordered query (parallel workers) otherwise.

Each compared request is timed twice: as sent (its row has no target: a server-side answer
cache may serve it) and `cold:` with `Cache-Control: no-cache` (the server builds the answer
again; without an answer cache the header changes nothing). The targets are judged on the cold
rows. The client is http.client over one keep-alive connection per client (see Client:
requests' own CPU would weigh on the server's two cores). The compared requests send `Accept-Encoding: identity`, as the raw side neither compresses nor inflates;
one more row times the items request with gzip (the server compresses, the client inflates):

- OGC items, bbox holding ~10k points, limit 10000;
- OGC page, limit 1000 (no bbox);
- MVT tiles z14, z12, z10;
- nearby 300 m / 20 (HTTP p95);
- `--clients` concurrent clients for `--seconds`, mixed tiles, item pages and nearby: p95, req/s, errors.

Also MVT z8 (a tile over the whole square, the precomputed cells of gis_layers migration 0003
as z10). `--only` runs some of them (names above); `--keep` reuses the loaded database (migrated
to the current code, not reloaded), so a second run measures without the load. `--user official`
measures as a department official (half the cases, by region): their low-zoom tile sums
the region's cells (gis_layers migration 0004) and the key cells of their other cases; the raw side stays the administrator's SQL. The
machine's load average is printed before and after the measurements.

Prints median and p95 per request, the ratios and both answers' sizes, with each cold row's
target met or MISSED; then, per row, where the server's time goes, from the Server-Timing header
the bench's server sends (SERVER_TIMING=1, mobile_api.middleware.ServerTimingMiddleware): HTTP and
gunicorn (what the client waited beyond the Django request), Python (the request beyond its SQL)
and SQL (statements sent and waited for), beside the raw SQL's time; and the CPU reference
(bench.harness.cpu_reference_ms), which compares absolute figures across machines.
"""

import argparse
import gzip
import http.client
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import ROOT, cpu_reference_ms, p95, recreate_database, setup_django, use_database  # noqa: E402

DATABASE = use_database("bench_gis")

PASSWORD = "bench-gis-2026-desktop"
CENTER = (120.5, 36.0)
HALF = 0.5  # degrees either side of the centre
CASES = 200
TABLE = "utilities_utilitypoint"
REQUESTS = ("items", "page", "z14", "z12", "z10", "z8", "nearby", "concurrent")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


# --- loading ---------------------------------------------------------------------------------


def load(points: int, sites: int) -> None:
    """Organisations, users and CASES cases by the ORM; sites and points by generate_series."""
    from django.db import connection

    from backend.accounts.models import Organization, OrganizationKind, Role, User, UtilityType
    from backend.cases.models import ApprovalCase, Project

    builder = Organization.objects.create(name="建设单位", kind=OrganizationKind.BUILDER)
    department = Organization.objects.create(
        name="规划部门", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"
    )
    water = Organization.objects.create(
        name="水务公司", kind=OrganizationKind.UTILITY_COMPANY, utility_types=[UtilityType.WATER]
    )
    power = Organization.objects.create(
        name="供电公司", kind=OrganizationKind.UTILITY_COMPANY, utility_types=[UtilityType.POWER]
    )
    for username, organization, roles in [
        ("bench-admin", None, [Role.ADMINISTRATOR]),
        ("bench-official", department, [Role.OFFICIAL]),
    ]:
        user = User(username=username, organization=organization, roles=roles)
        user.set_password(PASSWORD)
        user.save()
    projects = Project.objects.bulk_create(
        Project(
            code=f"2404-3702{11 + n % 2:02d}-04-01-{n:06d}",
            name=f"重点工业项目{n}",
            builder=builder,
            investment_type="private",
            category="social_investment",
            # Half the cases in the department's region, half outside it.
            region_code="370211" if n % 2 == 0 else "370212",
        )
        for n in range(CASES)
    )
    ApprovalCase.objects.bulk_create(
        ApprovalCase(
            external_no=f"BENCH-{n}",
            project=project,
            stage="engineering_planning",
            status=3,
            opened_at="2026-03-02T09:00:00+08:00",
        )
        for n, project in enumerate(projects)
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            "CREATE TEMP TABLE bench_case AS SELECT row_number() OVER (ORDER BY external_no) - 1 AS n, "
            "id, project_id FROM cases_approvalcase"
        )
        # Indexes are built once after the load (a GiST built by sorting, not row by row).
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN (%s, 'sites_site') "
            "AND indexname NOT LIKE '%%_pkey'",
            [TABLE],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            "INSERT INTO sites_site (id, version, created_at, updated_at, device_id, is_locked, field_versions, "
            "client_digest, name, address, boundary, area_m2, case_id, project_id) "
            "SELECT gen_random_uuid(), 1, ts, ts, '', false, '{}', '', '地块' || g, '青岛西海岸新区', "
            "ST_Multi(ST_MakeEnvelope(x, y, x + 0.002, y + 0.0015, 4326)), 30000, c.id, c.project_id "
            "FROM (SELECT g, timestamptz '2026-01-01' + g * interval '1 minute' AS ts, "
            "%s + random() * %s AS x, %s + random() * %s AS y FROM generate_series(0, %s - 1) g) s "
            "JOIN bench_case c ON c.n = s.g %% %s",
            [CENTER[0] - HALF, 2 * HALF - 0.002, CENTER[1] - HALF, 2 * HALF - 0.0015, sites, CASES],
        )
        print(f"loaded {sites:,} sites in {time.perf_counter() - started:.1f} s (their low-zoom cells included)")
        started_points = time.perf_counter()
        cursor.execute(
            f"INSERT INTO {TABLE} (id, version, created_at, updated_at, device_id, is_locked, field_versions, "
            "client_digest, utility_type, name, location, status, attributes, note, case_id, company_id) "
            "SELECT gen_random_uuid(), 1, ts, ts, '', false, '{}', '', "
            "CASE WHEN g %% 2 = 0 THEN 'water' ELSE 'power' END, '接入点' || g, "
            "ST_SetSRID(ST_MakePoint(%s + random() * %s, %s + random() * %s), 4326), 'proposed', '{}', '', "
            "c.id, CASE WHEN g %% 2 = 0 THEN %s::uuid ELSE %s::uuid END "
            "FROM (SELECT g, timestamptz '2026-01-01' + g * interval '1 second' AS ts "
            "FROM generate_series(0, %s - 1) g) s JOIN bench_case c ON c.n = (s.g / 7) %% %s",
            [CENTER[0] - HALF, 2 * HALF, CENTER[1] - HALF, 2 * HALF, str(water.pk), str(power.pk), points, CASES],
        )
        # The statement's low-zoom cells (gis_layers migration 0003) are added by its trigger, in the statement.
        print(f"inserted {points:,} points in {time.perf_counter() - started_points:.1f} s (their cells included)")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
        cursor.execute("ANALYZE sites_site")
        # Every table the scopes join (as autovacuum would have, long before a real server's
        # first tile): with the ORM-loaded case tables unanalysed, the planner guessed 23 of an
        # official's 100 cases and probed the points' case index once per case (34 ms a z14 tile,
        # 4.9 ms once analysed).
        for table in (
            "cases_project",
            "cases_approvalcase",
            "cases_approvalcase_assigned_organizations",
            "cases_approvalitem",
            "accounts_organization",
        ):
            cursor.execute(f"ANALYZE {table}")
        # The load's pending points expanded into cells, as the worker's compaction would have.
        cursor.execute("SELECT gis_layers_cells_compact()")
        cursor.execute("VACUUM ANALYZE gis_layers_cell")
        cursor.execute("VACUUM ANALYZE gis_layers_cell_point")
        cursor.execute(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('gis_layers_cell')) FROM gis_layers_cell"
        )
        rows, size = cursor.fetchone()
        print(f"low-zoom cells: {rows:,} rows, {size}")
    print(f"loaded {points:,} points and {sites:,} sites in {time.perf_counter() - started:.1f} s", flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def tokens() -> dict[str, str]:
    from backend.accounts.services import device_token_login

    return {
        who: device_token_login(username=f"bench-{who}", password=PASSWORD, device_id=None)[0]
        for who in ("admin", "official")
    }


# --- the HTTP client ---------------------------------------------------------------------------


class Client:
    """One persistent HTTP/1.1 connection (keep-alive; gunicorn's gthread workers keep it open)
    sending GETs with fixed headers, as a map client does.

    http.client, not requests: requests spends ~2 ms of client CPU per request on this
    machine, on the same two cores as the server, which the server's figure (and the 50-client
    one) would carry. A connection the server closed while idle (its keep-alive timeout, or
    `Connection: close`) is opened again before the next request, as urllib3's pool does; an
    error on a fresh connection is the request's."""

    def __init__(self, port: int, headers: dict[str, str], timeout: float = 120):
        self.port = port
        self.headers = headers
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None
        # The last answer's Server-Timing (the bench's server runs with SERVER_TIMING=1):
        # {"db": ms in SQL, "statements": n, "app": ms in Django}, or {} without the header.
        self.timing: dict[str, float] = {}

    def get(self, path: str) -> tuple[int, bytes]:
        """(status, body): the body as sent, inflated when the server gzipped it."""
        reused = self.connection is not None
        try:
            return self._get(path)
        except (http.client.HTTPException, ConnectionError):
            self.close()
            if not reused:
                raise
        return self._get(path)

    def _get(self, path: str) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        self.timing = server_timing(response.getheader("Server-Timing") or "")
        if response.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if response.will_close:
            self.close()
        return response.status, body

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def server_timing(header: str) -> dict[str, float]:
    """`db;dur=1.2;desc="3 statements", app;dur=4.5` (mobile_api.middleware.ServerTimingMiddleware)."""
    timing: dict[str, float] = {}
    for metric in header.split(","):
        name, *parts = (part.strip() for part in metric.split(";"))
        for part in parts:
            if part.startswith("dur="):
                timing[name] = float(part[4:])
            elif part.startswith('desc="') and part.endswith(' statements"'):
                timing["statements"] = float(part[6:].split()[0])
    return timing


# --- the server --------------------------------------------------------------------------------


def start_server(args) -> subprocess.Popen:
    # SERVER_TIMING: each answer says its SQL and Django time, so the bench can say where the
    # server's time goes beyond raw PostGIS (network and gunicorn, Python, SQL).
    env = dict(os.environ, DATABASE_URL=DATABASE.url, SERVER_TIMING="1")
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "backend.wsgi:application",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--timeout",
        "120",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        probe = Client(args.port, {}, timeout=2)
        try:
            if probe.get("/ogc/conformance")[0] == 200:
                return server
        except OSError:  # ConnectionRefusedError and the like, until gunicorn listens
            time.sleep(0.5)
        finally:
            probe.close()
    server.terminate()
    raise RuntimeError(f"gunicorn did not answer on port {args.port}: {server.stderr.read()[:2000]!r}")


# --- the requests ------------------------------------------------------------------------------

# The server's answers, spelt by hand. Timestamps as the REST API renders them (ISO 8601 in
# the server's zone, Asia/Shanghai: +08:00 all year, microseconds only when non-zero), uuids as
# text, coordinates to 7 decimals: the same bytes per feature as the server's (the bench's rows
# all carry whole seconds and no request).
ZONE = "Asia/Shanghai"


def iso(column: str) -> str:
    return (
        f"replace(to_char({column} AT TIME ZONE '{ZONE}', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+08:00'"
    )


# The OGC feature's properties: the layer's `properties` (backend.layers.definitions), in order.
OGC_PROPS = (
    "'utility_type', utility_type, 'company_id', company_id, 'request_id', request_id, 'name', name, "
    "'status', status, 'note', note, 'case_id', case_id, 'version', version, "
    f"'created_at', {iso('created_at')}, 'updated_at', {iso('updated_at')}, 'is_locked', is_locked"
)
# The tile's properties: the layer's `tile_properties`, as text where MVT takes no other type.
TILE_COLUMNS = (
    f"utility_type, company_id::text AS company_id, name, status, case_id::text AS case_id, "
    f"{iso('created_at')} AS created_at"
)


def raw_items(bbox: tuple[float, float, float, float] | None, limit: int, offset: int = 0) -> tuple[str, list]:
    """The FeatureCollection the server sends (its features; numberReturned; no links or
    timeStamp, a few hundred bytes): json_agg over the ordered, limited rows. Without an offset
    the features are built in the ordered query (PostgreSQL may build them in parallel workers
    below its Gather Merge); with one, after the LIMIT, so the rows the OFFSET skips are not
    built (at offset 7000 that is 8x fewer features)."""
    where, params = ("WHERE location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", list(bbox)) if bbox else ("", [])
    feature = (
        "json_build_object('type', 'Feature', 'id', id::text, 'geometry', ST_AsGeoJSON(location, 7)::json, "
        f"'properties', json_build_object({OGC_PROPS}))"
    )
    if offset:
        rows = f"SELECT {feature} f FROM (SELECT * FROM {TABLE} {where} ORDER BY created_at, id LIMIT %s OFFSET %s) r"
        params = [*params, limit, offset]
    else:
        rows = f"SELECT {feature} f FROM {TABLE} {where} ORDER BY created_at, id LIMIT %s"
        params = [*params, limit]
    sql = (
        "SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(f), '[]'), "
        f"'numberReturned', count(*))::text FROM ({rows}) x"
    )
    return sql, params


def raw_tile(z: int, x: int, y: int) -> tuple[str, list]:
    envelope = f"ST_TileEnvelope({z}, {x}, {y})"
    sql = (
        "SELECT ST_AsMVT(m.*, 'utility_points', 4096, 'geom') FROM (SELECT id::text AS id, "
        f"ST_AsMVTGeom(ST_Transform(location, 3857), {envelope}, 4096, 64, true) AS geom, {TILE_COLUMNS} "
        f"FROM {TABLE} WHERE location && ST_Transform(ST_TileEnvelope({z}, {x}, {y}, margin => {64 / 4096}), 4326)) m "
        "WHERE m.geom IS NOT NULL"
    )
    return sql, []


def raw_cells(z: int, x: int, y: int) -> tuple[str, list]:
    """A low-zoom tile as the server answers it (z <= 10, gis_layers.layers.AGGREGATE_MAX_ZOOM):
    one `count` feature per cell of a 64 x 64 grid at its points' mean position, counted live
    over the points in the tile (the server reads precomputed cells)."""
    tile = f"ST_TileEnvelope({z}, {x}, {y})"
    cell = f"((ST_XMax({tile}) - ST_XMin({tile})) / 64)"
    sql = (
        "SELECT ST_AsMVT(m.*, 'utility_points', 4096, 'geom') FROM ("
        f"SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(avg(ST_X(g)), avg(ST_Y(g))), 3857), {tile}, 4096, 0, false) "
        f"AS geom, count(*)::int AS count FROM (SELECT ST_Transform(location, 3857) AS g FROM {TABLE} "
        f"WHERE location && ST_Transform({tile}, 4326)) f "
        f"WHERE ST_X(g) >= ST_XMin({tile}) AND ST_X(g) < ST_XMax({tile}) AND ST_Y(g) > ST_YMin({tile}) "
        f"AND ST_Y(g) <= ST_YMax({tile}) "
        f"GROUP BY floor((ST_X(g) - ST_XMin({tile})) / {cell}), floor((ST_YMax({tile}) - ST_Y(g)) / {cell})"
        ") m WHERE m.geom IS NOT NULL"
    )
    return sql, []


# A nearby row as the server's NearbyUtilityPointSerializer renders it.
NEARBY_ROW = (
    f"json_build_object('id', t.id, 'version', t.version, 'created_at', {iso('t.created_at')}, "
    f"'updated_at', {iso('t.updated_at')}, 'created_by', t.created_by_id, 'device_id', t.device_id, "
    "'is_locked', t.is_locked, 'case', t.case_id, 'utility_type', t.utility_type, 'company', t.company_id, "
    "'company_name', c.name, 'request', t.request_id, 'name', t.name, 'location', json_build_object('type', 'Point', "
    "'coordinates', json_build_array(ST_X(t.location), ST_Y(t.location))), 'status', t.status, "
    "'attributes', t.attributes, 'note', t.note, 'distance_m', t.distance_m)"
)


def raw_nearby(lon: float, lat: float, radius: float, limit: int) -> tuple[str, list]:
    """The server's page (count, results; next/previous are a few hundred bytes more): the
    nearest `limit` by the KNN index within the radius, and the radius counted."""
    point = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"
    within = f"ST_DWithin(location::geography, {point}, %s)"
    sql = (
        f"SELECT json_build_object('count', (SELECT count(*) FROM {TABLE} WHERE {within}), "
        f"'results', COALESCE(json_agg({NEARBY_ROW} ORDER BY t.distance_m, t.id), '[]'))::text FROM ("
        f"SELECT u.*, ST_Distance(location::geography, {point}) AS distance_m FROM {TABLE} u "
        f"WHERE {within} ORDER BY location::geography <-> {point} LIMIT %s) t "
        "JOIN accounts_organization c ON c.id = t.company_id"
    )
    return sql, [lon, lat, radius, lon, lat, lon, lat, radius, lon, lat, limit]


class Requests:
    """Server paths and raw SQL for the same rows, a few places each (cycled)."""

    def __init__(self, seed: int = 7):
        rng = random.Random(seed)
        self.places = [(CENTER[0] + rng.uniform(-0.3, 0.3), CENTER[1] + rng.uniform(-0.3, 0.3)) for _ in range(8)]

    def items_bbox(self, i: int):
        lon, lat = self.places[i % len(self.places)]
        # 0.1° x 0.1° of a 1° x 1° square: ~1 % of the points.
        bbox = (lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05)
        path = "/ogc/collections/utility_points/items?" + urllib.parse.urlencode(
            {"bbox": ",".join(f"{v:.6f}" for v in bbox), "limit": 10000}
        )
        return path, raw_items(bbox, 10000)

    def items_page(self, i: int):
        offset = (i % 8) * 1000
        return f"/ogc/collections/utility_points/items?limit=1000&offset={offset}", raw_items(None, 1000, offset)

    def tile(self, z: int, i: int):
        x, y = tile_of(*self.places[i % len(self.places)], z)
        return f"/tiles/utility_points/{z}/{x}/{y}.mvt", (raw_cells if z <= 10 else raw_tile)(z, x, y)

    def nearby(self, i: int):
        lon, lat = self.places[i % len(self.places)]
        path = "/api/v1/utility-points/nearby/?" + urllib.parse.urlencode(
            {"lon": lon, "lat": lat, "radius_m": 300, "limit": 20}
        )
        return path, raw_nearby(lon, lat, 300, 20)


def body_size(value) -> int:
    """Bytes of the raw side's answer (a bytea tile or JSON text)."""
    if value is None:
        return 0
    return len(value.encode()) if isinstance(value, str) else len(bytes(value))


def measure(args, token: str) -> list[tuple]:
    import psycopg2

    # Like for like: the raw side neither compresses nor decompresses its answer, so the
    # compared requests ask for none either (~35 ms to compress and ~16 ms to inflate a 5 MB
    # page on this machine). The "gzip" row times it apart.
    auth = {"Authorization": f"Token {token}", "Accept-Encoding": "identity"}
    clients = {
        "warm": Client(args.port, auth),
        # `Cache-Control: no-cache`: the server builds the answer again (its answer cache, if
        # any, is bypassed), as for the first client to ask; the targets are judged on these.
        "cold": Client(args.port, auth | {"Cache-Control": "no-cache"}),
        "gzip": Client(args.port, auth | {"Accept-Encoding": "gzip", "Cache-Control": "no-cache"}),
    }
    raw = psycopg2.connect(DATABASE.dsn)
    raw.autocommit = True
    cursor = raw.cursor()
    cursor.execute("SET jit = off")
    reqs = Requests()
    compared = [
        ("items", "OGC items bbox ~10k, limit 10000", reqs.items_bbox, ("ratio", 1.5)),
        ("page", "OGC page, limit 1000", reqs.items_page, ("ratio", 2.0)),
        ("z14", "MVT z14", lambda i: reqs.tile(14, i), ("ratio", 1.3)),
        ("z12", "MVT z12", lambda i: reqs.tile(12, i), ("ratio", 1.5)),
        ("z10", "MVT z10", lambda i: reqs.tile(10, i), ("ms", 100.0)),
        ("z8", "MVT z8", lambda i: reqs.tile(8, i), ("ms", 100.0)),
        ("nearby", "nearby 300 m / 20", reqs.nearby, ("p95 ms", 20.0)),
    ]
    cases = []
    for name, label, make, target in compared:
        # Each request twice: as sent (an answer cache may serve it) with no target, then cold.
        cases.append((name, f"{label}", make, "warm", ("info", "as sent: no target (cached?)")))
        cases.append((name, f"  cold: {label}", make, "cold", target))
        if name == "items":
            cases.append((name, "  cold, gzip (client inflates)", make, "gzip", ("info", "no target: what gzip costs")))
    rows = []
    for name, label, make, via, target in cases:
        if name not in args.only:
            continue
        server_times, raw_times, size, raw_size = [], [], 0, 0
        timings: list[dict[str, float]] = []
        kind, bound = target
        for i in range(args.rounds + 2):
            path, (sql, params) = make(i)
            started = time.perf_counter()
            status, body = clients[via].get(path)
            elapsed = time.perf_counter() - started
            if status not in (200, 204):
                raise RuntimeError(f"{path} answered {status}: {body[:300].decode(errors='replace')}")
            started = time.perf_counter()
            cursor.execute(sql, params)
            answer = cursor.fetchone()[0]
            raw_elapsed = time.perf_counter() - started
            if i >= 2:  # two warm-up rounds
                server_times.append(elapsed)
                raw_times.append(raw_elapsed)
                timings.append(clients[via].timing)
                size = max(size, len(body))
                raw_size = max(raw_size, body_size(answer))
        server_median, raw_median = statistics.median(server_times), statistics.median(raw_times)
        server_p95, raw_p95 = p95(server_times), p95(raw_times)
        if kind == "info":
            met, goal = None, bound
        elif kind == "ratio":
            met = server_median / raw_median <= bound
            goal = f"<= {bound}x raw"
        elif kind == "ms":
            met = server_median * 1000 <= bound
            goal = f"<= {bound:.0f} ms"
        else:
            met = server_p95 * 1000 <= bound
            goal = f"p95 <= {bound:.0f} ms"
        split = {
            key: statistics.median(timing.get(key, math.nan) for timing in timings)
            for key in ("app", "db", "statements")
        }
        rows.append((label, server_median, server_p95, raw_median, raw_p95, size, raw_size, goal, met, split))
    raw.close()
    for client in clients.values():
        client.close()
    return rows


def concurrent(args, token: str) -> tuple[int, int, float, float, float]:
    """`args.clients` threads, each with its own keep-alive connection, for `args.seconds`."""
    reqs = Requests(seed=11)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds

    def client(n: int) -> None:
        rng = random.Random(n)
        # The default Accept-Encoding of a browser or GDAL: the server gzips what is big enough.
        session = Client(args.port, {"Authorization": f"Token {token}", "Accept-Encoding": "gzip, deflate"}, timeout=60)
        while time.monotonic() < stop:
            i = rng.randrange(1000)
            kind = rng.choice(["z14", "z14", "z12", "z10", "page", "nearby", "nearby"])
            if kind == "page":
                lon, lat = reqs.places[i % len(reqs.places)]
                path = (
                    "/ogc/collections/utility_points/items?limit=100&bbox="
                    f"{lon - 0.01:.5f},{lat - 0.01:.5f},{lon + 0.01:.5f},{lat + 0.01:.5f}"
                )
            elif kind == "nearby":
                path = reqs.nearby(i)[0]
            else:
                z = int(kind[1:])
                lon = CENTER[0] + rng.uniform(-0.45, 0.45)
                lat = CENTER[1] + rng.uniform(-0.45, 0.45)
                x, y = tile_of(lon, lat, z)
                path = f"/tiles/utility_points/{z}/{x}/{y}.mvt"
            started = time.perf_counter()
            try:
                ok = session.get(path)[0] in (200, 204)
            except (OSError, http.client.HTTPException):
                ok = False
                session.close()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors[0] += 1
        session.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    return len(latencies), errors[0], statistics.median(latencies), p95(latencies), len(latencies) / wall


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.bench_gis [--points N ...]`; the bench runner passes none (the defaults)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 8)))
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database (migrated, not reloaded)")
    parser.add_argument(
        "--only",
        default=",".join(REQUESTS),
        help=f"comma-separated requests to run, of {','.join(REQUESTS)} (default: all)",
    )
    parser.add_argument("--user", choices=("admin", "official"), default="admin", help="whose scope the server serves")
    args = parser.parse_args(argv if argv is not None else [])
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    if args.only - set(REQUESTS):
        parser.error(f"--only: unknown {', '.join(sorted(args.only - set(REQUESTS)))}; known: {', '.join(REQUESTS)}")

    fresh = recreate_database(DATABASE, keep=args.keep)
    # A kept database is migrated too (it may predate a migration of the code measured).
    setup_django(migrate=True)
    if fresh:
        load(args.points, args.sites)
    token = tokens()[args.user]
    server = start_server(args)
    before = load_average()
    try:
        rows = measure(args, token)
        mixed = concurrent(args, token) if "concurrent" in args.only else None
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"before: {before}; after: {load_average()}")
    print(f"CPU reference: {cpu_reference_ms():.0f} ms (bench.harness.cpu_reference_ms; compares machines)")
    who = "administrator" if args.user == "admin" else "department official (raw: the administrator's rows)"
    print(
        f"gunicorn -w {args.workers} --threads {args.threads}; {who}; {args.rounds} rounds each "
        f"(server through HTTP on loopback, raw = psycopg2 running hand-written PostGIS for the same rows)"
    )
    print(
        f"{'request':<40}{'server med':>11}{'p95':>9}{'raw med':>9}{'p95':>9}{'ratio':>8}"
        f"{'bytes':>11}{'raw bytes':>11}  target"
    )
    for label, s_med, s_p95, r_med, r_p95, size, raw_size, goal, met, _split in rows:
        print(
            f"{label:<40}{s_med * 1000:>9.1f}ms{s_p95 * 1000:>7.1f}ms{r_med * 1000:>7.1f}ms{r_p95 * 1000:>7.1f}ms"
            f"{s_med / r_med:>7.2f}x{size:>11,}{raw_size:>11,}  {goal}"
            + ("" if met is None else f": {'met' if met else 'MISSED'}")
        )
    print()
    print("where the server's time goes (medians; Server-Timing: app = the Django request, db = its SQL):")
    print(
        f"{'request':<40}{'client':>9}{'HTTP+wsgi':>11}{'Python':>9}{'SQL':>9}{'stmts':>7}{'raw SQL':>9}{'SQL/raw':>9}"
    )
    for label, s_med, _s_p95, r_med, _r_p95, _size, _raw_size, _goal, _met, split in rows:
        app, db = split["app"], split["db"]
        print(
            f"{label:<40}{s_med * 1000:>7.1f}ms{s_med * 1000 - app:>9.1f}ms{app - db:>7.1f}ms{db:>7.1f}ms"
            f"{split['statements']:>7.0f}{r_med * 1000:>7.1f}ms{db / (r_med * 1000):>8.2f}x"
        )
    print(
        "(HTTP+wsgi: loopback, gunicorn and the middleware above the timer; Python: DRF, authentication, "
        "the throttle's Redis round trip, building and compressing the answer)"
    )
    if mixed is None:
        return
    count, errors, c_median, c_p95, rate = mixed
    print(
        f"{args.clients} concurrent mixed clients, {args.seconds:.0f} s: {count} requests, {rate:.1f} req/s, "
        f"median {c_median * 1000:.1f} ms, p95 {c_p95 * 1000:.1f} ms, {errors} errors  "
        f"target p95 <= 150 ms and 0 errors: {'met' if c_p95 <= 0.150 and errors == 0 else 'MISSED'}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
