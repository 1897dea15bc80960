"""What every benchmark needs: its own database, Django set up on it, and the figures' arithmetic.

A benchmark calls `use_database("bench_x")` before importing Django code (it points DATABASE_URL
at BENCH_DATABASE_SERVER/BENCH_DATABASE_NAME and sets the development settings a bench runs
with), then `recreate_database(keep)` and `setup_django()`; `median`, `p95` and `rss_mib` keep
the printed figures computed the same way everywhere.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class BenchDatabase:
    def __init__(self, name: str, server: str) -> None:
        self.name = name
        self.server = server

    @property
    def url(self) -> str:
        return f"{self.server}/{self.name}"

    @property
    def dsn(self) -> str:
        """For psycopg2 / libpq (the raw baselines)."""
        return self.url.replace("postgis://", "postgresql://")


def use_database(default_name: str) -> BenchDatabase:
    """Point this process (and the servers it starts) at the bench's own database."""
    database = BenchDatabase(
        os.environ.get("BENCH_DATABASE_NAME", default_name),
        os.environ.get("BENCH_DATABASE_SERVER", "postgis://postgres@127.0.0.1:5432"),
    )
    os.environ["DATABASE_URL"] = database.url
    os.environ.setdefault("DJANGO_DEVELOPMENT", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("API_THROTTLE_RATE", "100000000/min")
    return database


def recreate_database(database: BenchDatabase, *, keep: bool) -> bool:
    """Drop and create it unless `keep` and it exists; True when it is new (to be migrated and loaded)."""
    import psycopg2

    server = psycopg2.connect(f"{database.server}/postgres".replace("postgis://", "postgresql://"))
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database.name])
        exists = cursor.fetchone() is not None
        if exists and not keep:
            cursor.execute(f'DROP DATABASE "{database.name}" WITH (FORCE)')
            exists = False
        if not exists:
            cursor.execute(f'CREATE DATABASE "{database.name}"')
    server.close()
    return not exists


def setup_django(*, migrate: bool = True) -> None:
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def rss_mib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_reference_ms() -> float:
    """Milliseconds a fixed pure-Python workload takes on one core (best of three).

    Absolute figures (ops/s, ms) move with the machine's speed; printing this beside them lets
    figures from two machines be compared (the ratios against raw PostgreSQL in the same run do not
    need it). The workload is the interpreter's everyday work: calls, dicts, strings and JSON.
    """
    import json
    import time

    def workload() -> None:
        for i in range(20_000):
            row = {"id": i, "name": f"point {i}", "kind": ("water", "power")[i % 2], "x": i * 0.5}
            json.loads(json.dumps(row))

    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        workload()
        best = min(best, time.perf_counter() - start)
    return best * 1000


# Where a profiled run's time goes, by what the code is: (label, path fragments of its files).
# The first group whose fragment is in a function's file takes its own time; a C function's own
# time (a builtin, a driver method) goes to the groups of the Python functions that called it, in
# proportion to what each call cost, so "waiting for PostgreSQL" lands where psycopg waits.
PROFILE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("psycopg: sending SQL and waiting for PostgreSQL", ("/psycopg/", "/psycopg_pool/")),
    (
        "geometry (GEOS, GDAL, shapely, the project's geometry code)",
        ("/django/contrib/gis/", "/shapely/", "backend/common/geometry.py"),
    ),
    ("DRF fields and serializers, the fast parser", ("/rest_framework/", "mobile_api/sync/fastparse.py")),
    ("Django ORM: models, queries, SQL compiling", ("/django/db/",)),
    ("JSON encode and decode", ("/json/",)),
    (
        "record kernel and audit (backend.records, backend.audit, backend.common.rows)",
        ("backend/records/", "backend/audit/", "backend/common/rows.py"),
    ),
    ("sync domain (backend.sync: receipts, merge, chunks)", ("backend/sync/",)),
    ("record types' services and selectors (surveys, cases, ...)", ("/backend/",)),
    ("HTTP: Django handlers, middleware, the sync view (mobile_api)", ("/django/", "/mobile_api/")),
)


def profile_shares(profiler: Any) -> list[tuple[str, float]]:
    """A cProfile.Profile's own times summed per PROFILE_GROUPS label (plus "other"), largest first."""
    import pstats

    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, callers)

    def group(function: tuple[str, int, str]) -> str | None:
        filename = function[0]
        if filename == "~" or filename.startswith("<"):
            return None  # a C function or generated code: its callers decide
        for label, fragments in PROFILE_GROUPS:
            if any(fragment in filename for fragment in fragments):
                return label
        return "other (the standard library, the bench itself)"

    def owner(function: tuple[str, int, str], seen: frozenset = frozenset()) -> dict[str, float]:
        """The shares (summing to 1) of the groups a C function's time belongs to."""
        label = group(function)
        if label is not None:
            return {label: 1.0}
        callers = stats.get(function, (0, 0, 0.0, 0.0, {}))[4]
        total = sum(entry[2] for entry in callers.values())
        if not callers or total <= 0 or function in seen:
            return {"other (the standard library, the bench itself)": 1.0}
        shares: dict[str, float] = {}
        for caller, entry in callers.items():
            for caller_label, share in owner(caller, seen | {function}).items():
                shares[caller_label] = shares.get(caller_label, 0.0) + share * entry[2] / total
        return shares

    totals: dict[str, float] = {}
    for function, (_cc, _nc, tottime, _cumtime, _callers) in stats.items():
        for label, share in owner(function).items():
            totals[label] = totals.get(label, 0.0) + tottime * share
    return sorted(totals.items(), key=lambda item: -item[1])
