"""Sync pull built in PostgreSQL beside COPY TO of the same rows, in the same run.

    .venv/bin/python -m bench.bench_pull [--changes 100000] [--page 1000] [--keep]

Loads `--changes` records (surveys with a location point and findings on them, half each) into
its own database (BENCH_DATABASE_NAME, default bench_pull; dropped, migrated and loaded unless
--keep) by COPY, each with its hash-chained audit entry, so the feed carries them. Then
`measure_pull`: walks the whole feed in pages of `--page` through `mobile_api.sync.pull.pull_page`
(the function the view calls; its bytes are the response body), times one page through GET /api/v1/sync/pull (test client, no
network), and `COPY (SELECT t.* FROM <table> t JOIN <the pulled ids>) TO STDOUT` of the same rows.
Prints changes per second, the ratio COPY / pull, the target (pull >= 20,000 changes/s), and the
walk's CPU seconds (this process and its PostgreSQL backend, read from /proc): on a loaded
machine the wall time is mostly waiting for a core, the CPU figure is what the walk costs.

`measure_pull(user=…, page=…)` needs only a loaded database and a user who sees the records, so
bench_sync can call it over its own feed.
"""

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.copying import copy_audit_entries, copy_in, copy_out, copy_rows, crew_case  # noqa: E402
from bench.harness import recreate_database, setup_django, use_database  # noqa: E402

TARGET = 20_000


def load(*, user: Any, case: Any, department: Any, count: int) -> None:
    """`count` surveys and findings by COPY, with one audit entry each (a new record's chain)."""
    from django.db import connection, transaction

    from backend.surveys.models import Finding, Survey

    now = dt.datetime.now(dt.UTC)
    base = {
        "case_id": case.pk,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by_id": user.pk,
        "updated_by_id": user.pk,
        "device_id": "bench",
        "is_locked": False,
        "field_versions": {},
        "client_digest": "",
    }
    surveys, findings, feed = [], [], []
    survey_id = None
    for n in range(count):
        if n % 2 == 0:
            survey_id = uuid.uuid4()
            row = {
                **base,
                "id": survey_id,
                "scheduled_at": now + dt.timedelta(days=n % 30, microseconds=n % 7),
                "status": "scheduled",
                "summary": f"联合踏勘第{n}次：道路、管线、红线核对",
                "conclusion": "",
                "conditions": "",
                "minutes": "",
                "cancel_reason": "",
                "location": f"SRID=4326;POINT({120.17 + (n % 997) * 1e-5} {35.96 + (n % 991) * 1e-5})",
            }
            surveys.append(row)
            feed.append(("survey", row))
        else:
            row = {
                **base,
                "id": uuid.uuid4(),
                "survey_id": survey_id,
                "description": f"问题{n}：雨水管线与规划道路冲突",
                "responsible_department_id": department.pk,
                "due_date": "2026-04-01",
                "status": "open",
                "resolution": "",
                "meeting_ref": "",
                "location": "SRID=4326;POINT(120.171 35.961)",
            }
            findings.append(row)
            feed.append(("finding", row))
    with transaction.atomic():
        copy_rows(Survey, surveys)
        copy_rows(Finding, findings)
        copy_audit_entries(feed, user=user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _pull_request(user: Any, params: dict[str, str]) -> Any:
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    request = Request(APIRequestFactory().get("/api/v1/sync/pull", params))
    request.user = user
    return request


def _backend_cpu_seconds() -> float:
    """CPU seconds of this connection's PostgreSQL backend so far (same machine: /proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # another machine: not measured
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_pull(*, user: Any, page: int = 1000, types: list[str] | None = None) -> dict[str, Any]:
    """Walk the feed `user` sees from the start in pages of `page` through the view's `pull`,
    then one page through HTTP, then COPY TO of the same rows; the figures as a dict."""
    from django.db import connection
    from rest_framework.test import APIClient

    from mobile_api.sync.pull import parse_cursor, pull_page
    from mobile_api.sync.registry import sync_types

    available = sync_types()
    types = sorted(available) if types is None else types
    bodies: list[bytes] = []
    cursor = ""
    started = time.perf_counter()
    cpu_started = time.process_time()
    backend_started = _backend_cpu_seconds()
    while True:
        request = _pull_request(user, {"cursor": cursor, "limit": str(page)})
        pulled_page = pull_page(request=request, cursor=parse_cursor(cursor), limit=page, types=types)
        bodies.append(pulled_page.body)  # the response's bytes, as the view sends them
        cursor = pulled_page.cursor
        if not pulled_page.has_more:
            break
    pull_seconds = time.perf_counter() - started
    pull_cpu = time.process_time() - cpu_started
    backend_cpu = _backend_cpu_seconds() - backend_started
    pages = len(bodies)
    pulled: dict[str, list[str]] = {}
    for body in bodies:  # read after the clock: a device parses its pages, the server does not
        for change in json.loads(body)["changes"]:
            pulled.setdefault(change["type"], []).append(change["id"])
    changes = sum(len(ids) for ids in pulled.values())

    client = APIClient()
    client.force_authenticate(user)
    started = time.perf_counter()
    response = client.get("/api/v1/sync/pull", {"cursor": "", "limit": page})
    http_seconds = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    http_changes = len(response.json()["changes"])

    copied = copied_bytes = 0
    with connection.cursor() as db:
        for name, ids in pulled.items():
            table = available[name].model._meta.db_table if name in available else None
            if table is None:
                continue
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS bench_ids_{table} (id uuid)")
            db.execute(f"TRUNCATE bench_ids_{table}")
            copy_in(f"COPY bench_ids_{table} FROM STDIN", [f"{i}\n" for i in ids])
        started = time.perf_counter()
        for name in pulled:
            if name not in available:
                continue
            table = available[name].model._meta.db_table
            rows, size = copy_out(f"COPY (SELECT t.* FROM {table} t JOIN bench_ids_{table} USING (id)) TO STDOUT")
            copied += rows
            copied_bytes += size
        copy_seconds = time.perf_counter() - started
    pull_rate = changes / pull_seconds if pull_seconds else 0.0
    copy_rate = copied / copy_seconds if copy_seconds else 0.0
    return {
        "changes": changes,
        "pages": pages,
        "pull_seconds": pull_seconds,
        "pull_cpu_seconds": pull_cpu,
        "backend_cpu_seconds": backend_cpu,
        # Changes per second of CPU (Python + PostgreSQL): what the walk needs, whatever the load.
        "cpu_rate": changes / (pull_cpu + backend_cpu) if pull_cpu + backend_cpu else 0.0,
        "pull_rate": pull_rate,
        "http_page_changes": http_changes,
        "http_page_seconds": http_seconds,
        "http_rate": http_changes / http_seconds if http_seconds else 0.0,
        "copy_rows": copied,
        "copy_bytes": copied_bytes,
        "copy_seconds": copy_seconds,
        "copy_rate": copy_rate,
        "ratio": copy_rate / pull_rate if pull_rate else float("inf"),
        "target_met": pull_rate >= TARGET,
    }


def report(figures: dict[str, Any]) -> None:
    load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"pull bench: {figures['changes']} changes in {figures['pages']} pages (load average {load_average})")
    print(f"{'':<28}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'COPY/pull':>12}")
    print(
        f"{'pull() (view function)':<28}{figures['changes']:>10}{figures['pull_seconds']:>10.2f}"
        f"{figures['pull_rate']:>12.0f}{figures['ratio']:>12.1f}"
    )
    print(
        f"{'GET sync/pull (1 page)':<28}{figures['http_page_changes']:>10}{figures['http_page_seconds']:>10.3f}"
        f"{figures['http_rate']:>12.0f}"
    )
    print(
        f"{'COPY TO (same rows)':<28}{figures['copy_rows']:>10}{figures['copy_seconds']:>10.2f}"
        f"{figures['copy_rate']:>12.0f}"
    )
    print(
        f"CPU of the walk: Python {figures['pull_cpu_seconds']:.2f} s + PostgreSQL backend "
        f"{figures['backend_cpu_seconds']:.2f} s = {figures['cpu_rate']:.0f} changes per CPU second "
        "(the rest of the wall time is waiting for a core)"
    )
    rate = figures["pull_rate"]
    verdict = "met" if rate >= TARGET else f"missed: {rate / TARGET:.3f}x"
    print(f"pull >= {TARGET} changes/s ({verdict})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="reuse the bench database as it is")
    args = parser.parse_args(argv if argv is not None else [])

    database = use_database("bench_pull")
    new = recreate_database(database, keep=args.keep)
    setup_django(migrate=new)
    from backend.accounts.models import User

    if new:
        user, case, department = crew_case()
        started = time.perf_counter()
        load(user=user, case=case, department=department, count=args.changes)
        print(f"loaded {args.changes} changes in {time.perf_counter() - started:.1f} s")
    else:
        user = User.objects.filter(username__startswith="bench").order_by("-date_joined").first()
    report(measure_pull(user=user, page=args.page))


if __name__ == "__main__":
    main(sys.argv[1:])
