"""Sync throughput beside raw PostgreSQL COPY of the same rows into the same tables.

    .venv/bin/python bench/bench_sync.py [--ops 10000] [--pull 100000] [--batch 500] [--keep]
        [--concurrent-ops 2000] [--big-ops 10000]

Push: `--ops` operations (surveys with a location point, and findings on them) through
POST /api/v1/sync/push in batches, in process (no network), every rule, receipt and audit
entry included, after one small warm-up push (a running server has imported what it needs);
then COPY of the same number of rows of the same shape into the same tables. When the push
misses its target, a cProfile of 1,000 more operations says where the time goes, summed by what
the code is (bench.harness.PROFILE_GROUPS: waiting for PostgreSQL, geometry, DRF, the ORM, ...).
Pull: grows the feed to `--pull` changes (COPY of rows plus their hash-chained audit entries),
then `bench.bench_pull.measure_pull`: pages through the view's pull with limit 1000, then
COPY (SELECT …) TO STDOUT of the same rows. Prints a table with rows per second and the ratio
COPY / sync, and whether the targets
(push >= 2000 ops/s, pull >= 20000 changes/s) are met. Then two pushers (processes, each its own
user and case) against one (target >= 1.6x), and the RSS growth of one push of `--big-ops`
operations in a single request.

The pushes run in this process through the Django test client, with the application loaded as
gunicorn loads it (`backend.wsgi`: what loading made is frozen out of the cyclic collector).

Uses its own database (BENCH_DATABASE_NAME, default bench_sync; dropped and migrated unless --keep).
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.copying import copy_audit_entries, copy_rows, crew_case  # noqa: E402
from bench.harness import (  # noqa: E402
    cpu_reference_ms,
    profile_shares,
    recreate_database,
    rss_mib,
    setup_django,
    use_database,
)

DATABASE = use_database("bench_sync")


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.bench_sync [--ops N ...]` passes options; the bench runner passes none."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--pull", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrent-ops", type=int, default=2000, help="operations per pusher, one and two pushers")
    parser.add_argument("--big-ops", type=int, default=10_000, help="operations of the one-request memory push")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database as it is")
    parser.add_argument("--push-only", action="store_true", help="only the push figures (and queries per operation)")
    parser.add_argument("--profile", type=int, default=0, help="with --push-only: print a cProfile top-N of the push")
    parser.add_argument(
        "--profile-only",
        default="",
        help="with --profile: a regular expression; print the cumulative time of the matching functions only",
    )
    parser.add_argument("--profile-dump", default="", help="with --profile: also write the pstats file here")
    parser.add_argument(
        "--rss", action="store_true", help="with --push-only: also the RSS growth of one --big-ops push"
    )
    args = parser.parse_args(argv if argv is not None else [])

    recreate_database(DATABASE, keep=args.keep)
    setup_django()
    import backend.wsgi  # noqa: F401 - the server's application as gunicorn loads it (its loaded objects frozen)

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print(f"CPU reference: {cpu_reference_ms():.0f} ms (bench.harness.cpu_reference_ms; compares machines)")
    if args.push_only:
        push_only(args)
    else:
        run(args)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


# --- fixtures ----------------------------------------------------------------------------


def operations(*, case, department, count: int):
    """Pairs: a survey with a location, then a finding on it."""
    ops = []
    for n in range(count):
        if n % 2 == 0:
            survey_id = str(uuid.uuid4())
            ops.append(
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "survey",
                    "action": "upsert",
                    "id": survey_id,
                    "base_version": None,
                    "data": {
                        "case": str(case.pk),
                        "scheduled_at": "2026-03-10T09:00:00+08:00",
                        "summary": f"联合踏勘第{n}次：道路、管线、红线核对",
                        "location": {
                            "type": "Point",
                            "coordinates": [120.17 + (n % 997) * 1e-5, 35.96 + (n % 991) * 1e-5],
                        },
                    },
                }
            )
        else:
            ops.append(
                {
                    "op_id": str(uuid.uuid4()),
                    "type": "finding",
                    "action": "upsert",
                    "id": str(uuid.uuid4()),
                    "base_version": None,
                    "data": {
                        "case": str(case.pk),
                        "survey": survey_id,
                        "description": f"问题{n}：雨水管线与规划道路冲突",
                        "responsible_department": str(department.pk),
                        "due_date": "2026-04-01",
                        "location": {"type": "Point", "coordinates": [120.171, 35.961]},
                    },
                }
            )
    return ops


# --- raw COPY ----------------------------------------------------------------------------


def raw_rows(*, case, department, user, count: int):
    import datetime as dt

    now = dt.datetime.now(dt.UTC).isoformat()
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
    surveys, findings = [], []
    for n in range(count):
        if n % 2 == 0:
            survey_id = uuid.uuid4()
            surveys.append(
                {
                    **base,
                    "id": survey_id,
                    "scheduled_at": "2026-03-10T09:00:00+08:00",
                    "status": "scheduled",
                    "summary": f"联合踏勘第{n}次：道路、管线、红线核对",
                    "conclusion": "",
                    "conditions": "",
                    "minutes": "",
                    "cancel_reason": "",
                    "location": f"SRID=4326;POINT({120.17 + (n % 997) * 1e-5} {35.96 + (n % 991) * 1e-5})",
                }
            )
        else:
            findings.append(
                {
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
            )
    return surveys, findings


def warm_up(batch: int) -> None:
    """One small push on a case of its own before anything is timed, as a running server has done
    long before: the first request imports and compiles what it needs (0.2-0.3 s on this machine)."""
    from rest_framework.test import APIClient

    user, case, department = crew_case()
    client = APIClient()
    client.force_authenticate(user)
    ops = operations(case=case, department=department, count=min(batch, 50))
    response = client.post("/api/v1/sync/push", {"device_id": "bench", "operations": ops}, format="json")
    assert response.status_code == 200, response.content[:500]


def push_only(args) -> None:
    """Only the push: wall and CPU per operation, queries (and savepoints) per operation, and with
    --profile a cProfile of the push's requests (cumulative time, top N)."""
    import cProfile
    import pstats

    from django.db import connection
    from rest_framework.test import APIClient

    user, case, department = crew_case()
    client = APIClient()
    client.force_authenticate(user)
    ops = operations(case=case, department=department, count=args.ops)
    counts = {"queries": 0, "savepoints": 0}

    def counting(execute, sql, params, many, context):
        counts["queries"] += 1
        head = sql.lstrip()[:80].upper()
        if head.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            # Savepoints taken (a push releases one with the next one's SAVEPOINT, one statement).
            counts["savepoints"] += (
                head.count("SAVEPOINT ") - head.count("RELEASE SAVEPOINT ") - head.count("TO SAVEPOINT ")
            )
        return execute(sql, params, many, context)

    warm_up(args.batch)
    profiler = cProfile.Profile() if args.profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    statuses: dict[str, int] = {}
    with connection.execute_wrapper(counting):
        for start in range(0, len(ops), args.batch):
            if profiler:
                profiler.enable()
            response = client.post(
                "/api/v1/sync/push",
                {"device_id": "bench", "operations": ops[start : start + args.batch]},
                format="json",
            )
            if profiler:
                profiler.disable()
            assert response.status_code == 200, response.content[:500]
            for receipt in response.json()["receipts"]:
                statuses[receipt["status"]] = statuses.get(receipt["status"], 0) + 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert statuses == {"applied": args.ops}, statuses
    print(
        f"sync push: {args.ops} operations in {seconds:.2f} s = {args.ops / seconds:.0f} ops/s; "
        f"CPU {cpu / args.ops * 1000:.2f} ms/op (this process); {counts['queries'] / args.ops:.2f} queries/op "
        f"({counts['savepoints'] / args.ops:.2f} savepoints/op); load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if profiler:
        shares = profile_shares(profiler)
        total = sum(seconds for _label, seconds in shares)
        for label, seconds in shares:
            print(f"  {seconds / total:>6.1%}  {seconds * 1000 / args.ops:>6.3f} ms/op  {label}")
    if profiler and args.profile_dump:
        profiler.dump_stats(args.profile_dump)
    if profiler and args.profile_only:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile_only, args.profile)
    elif profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    if args.rss:
        _wall, [(seconds, rss_before, rss_after, peak)] = _run_pushers(1, args.big_ops, args.batch, big=True)
        print(
            f"one push of {args.big_ops} operations in one request: {seconds:.1f} s, RSS {rss_before // 1024} MiB "
            f"before, {rss_after // 1024} MiB after (growth {(rss_after - rss_before) // 1024} MiB, peak {peak // 1024} MiB)"
        )


def run(args) -> None:
    from django.db import connection
    from rest_framework.test import APIClient

    from backend.surveys.models import Finding, Survey
    from bench.bench_pull import _backend_cpu_seconds, measure_pull

    user, case, department = crew_case()
    client = APIClient()
    client.force_authenticate(user)
    ops = operations(case=case, department=department, count=args.ops)

    warm_up(args.batch)
    backend_started = _backend_cpu_seconds()
    started, cpu_started = time.perf_counter(), time.process_time()
    statuses: dict[str, int] = {}
    for start in range(0, len(ops), args.batch):
        response = client.post(
            "/api/v1/sync/push", {"device_id": "bench", "operations": ops[start : start + args.batch]}, format="json"
        )
        assert response.status_code == 200, response.content[:500]
        for receipt in response.json()["receipts"]:
            statuses[receipt["status"]] = statuses.get(receipt["status"], 0) + 1
            if receipt["status"] != "applied":
                print("not applied:", receipt, file=sys.stderr)
    push_seconds, push_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    push_backend_cpu = _backend_cpu_seconds() - backend_started
    assert statuses == {"applied": args.ops}, statuses

    surveys, findings = raw_rows(case=case, department=department, user=user, count=args.ops)
    started = time.perf_counter()
    copy_rows(Survey, surveys)
    copy_rows(Finding, findings)
    copy_seconds = time.perf_counter() - started

    # Grow the feed to --pull changes: rows by COPY with their audit entries.
    extra = max(0, args.pull - args.ops)
    more_surveys, more_findings = raw_rows(case=case, department=department, user=user, count=extra)
    copy_rows(Survey, more_surveys)
    copy_rows(Finding, more_findings)
    copy_audit_entries(
        [("survey", row) for row in more_surveys] + [("finding", row) for row in more_findings], user=user
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    pull = measure_pull(user=user, page=1000)
    pulled, pull_seconds, pages = pull["changes"], pull["pull_seconds"], pull["pages"]
    copied, copy_out_seconds = pull["copy_rows"], pull["copy_seconds"]
    print()
    print(f"sync bench: {args.ops} pushed operations (surveys with points + findings), {pulled} pulled changes")
    print(f"{'':<24}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'COPY/sync':>12}")
    push_rate, copy_rate = args.ops / push_seconds, args.ops / copy_seconds
    print(f"{'sync push':<24}{args.ops:>10}{push_seconds:>10.2f}{push_rate:>12.0f}")
    print(
        f"{'COPY FROM (same rows)':<24}{args.ops:>10}{copy_seconds:>10.2f}{copy_rate:>12.0f}{copy_rate / push_rate:>12.1f}"
    )
    pull_rate, out_rate = pulled / pull_seconds, copied / copy_out_seconds
    print(f"{'sync pull (1000/page)':<24}{pulled:>10}{pull_seconds:>10.2f}{pull_rate:>12.0f}")
    print(
        f"{'COPY TO (same rows)':<24}{copied:>10}{copy_out_seconds:>10.2f}{out_rate:>12.0f}{out_rate / pull_rate:>12.1f}"
    )
    print(
        f"(push: Python {push_cpu:.2f} s + PostgreSQL backend {push_backend_cpu:.2f} s of CPU, "
        f"{args.ops / push_cpu:.0f} ops per Python CPU second; pull pages: {pages})"
    )
    print(
        f"(pull: Python {pull['pull_cpu_seconds']:.2f} s + PostgreSQL backend {pull['backend_cpu_seconds']:.2f} s "
        f"of CPU, {pull['cpu_rate']:.0f} changes per CPU second)"
    )
    print(
        f"targets: push >= 2000 ops/s ({'met' if push_rate >= 2000 else f'missed: {push_rate / 2000:.3f}x'}), "
        f"pull >= 20000 changes/s ({'met' if pull_rate >= 20000 else f'missed: {pull_rate / 20000:.3f}x'})"
    )
    if push_rate < 2000:
        push_profile(min(args.ops, 1000), args.batch)
    concurrency(args)


def push_profile(count: int, batch: int) -> None:
    """Why the push misses its target: a cProfile of `count` more operations (another case, the
    same shape), its own time summed by what the code is (bench.harness.PROFILE_GROUPS). cProfile
    slows Python down more than it slows waiting, so the shares are a guide, not a measurement."""
    import cProfile

    from rest_framework.test import APIClient

    user, case, department = crew_case()
    client = APIClient()
    client.force_authenticate(user)
    ops = operations(case=case, department=department, count=count)
    profiler = cProfile.Profile()
    for start in range(0, len(ops), batch):
        profiler.enable()
        response = client.post(
            "/api/v1/sync/push", {"device_id": "bench", "operations": ops[start : start + batch]}, format="json"
        )
        profiler.disable()
        assert response.status_code == 200, response.content[:500]
    shares = profile_shares(profiler)
    total = sum(seconds for _label, seconds in shares)
    print(f"where the push's time goes (cProfile of {count} more operations, {total:.2f} s profiled):")
    for label, seconds in shares:
        print(f"  {seconds / total:>6.1%}  {seconds * 1000 / count:>6.3f} ms/op  {label}")


# --- two pushers on different cases, and the memory of one big push ----------------------


def _rss_kib() -> int:
    return int(rss_mib() * 1024)


def _pusher(ops_count: int, batch: int, barrier, results, big: bool) -> None:
    """One process: its own user and case; waits for the others, then pushes."""
    from django.db import connections
    from django.test import override_settings
    from rest_framework.test import APIClient

    connections.close_all()
    user, case, department = crew_case()
    client = APIClient()
    client.force_authenticate(user)
    ops = operations(case=case, department=department, count=ops_count)
    barrier.wait()
    rss_before = _rss_kib()
    started = time.perf_counter()
    if big:
        # The whole lot in one request: what one push costs in memory.
        with override_settings(SYNC_MAX_OPERATIONS=len(ops), SYNC_MAX_BODY_BYTES=512 * 1024 * 1024):
            response = client.post("/api/v1/sync/push", {"device_id": "bench", "operations": ops}, format="json")
        assert response.status_code == 200, response.content[:500]
        del response
    else:
        for start in range(0, len(ops), batch):
            response = client.post(
                "/api/v1/sync/push", {"device_id": "bench", "operations": ops[start : start + batch]}, format="json"
            )
            assert response.status_code == 200, response.content[:500]
    seconds = time.perf_counter() - started
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((seconds, rss_before, _rss_kib(), peak))
    connections.close_all()


def _run_pushers(count: int, ops_count: int, batch: int, big: bool = False):
    import multiprocessing

    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(count + 1), context.Queue()
    processes = [context.Process(target=_pusher, args=(ops_count, batch, barrier, results, big)) for _ in range(count)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    out = [results.get() for _ in processes]
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
    return wall, out


def concurrency(args) -> None:
    one_wall, _ = _run_pushers(1, args.concurrent_ops, args.batch)
    two_wall, _ = _run_pushers(2, args.concurrent_ops, args.batch)
    one_rate, two_rate = args.concurrent_ops / one_wall, 2 * args.concurrent_ops / two_wall
    print(
        f"two pushers on different cases: {two_rate:.0f} ops/s against one pusher's {one_rate:.0f} ops/s: "
        f"{two_rate / one_rate:.2f}x (target >= 1.6x, {'met' if two_rate / one_rate >= 1.6 else 'missed'})"
    )
    _wall, [(seconds, rss_before, rss_after, peak)] = _run_pushers(1, args.big_ops, args.batch, big=True)
    print(
        f"one push of {args.big_ops} operations in one request: {seconds:.1f} s, RSS {rss_before // 1024} MiB before, "
        f"{rss_after // 1024} MiB after (growth {(rss_after - rss_before) // 1024} MiB, peak {peak // 1024} MiB)"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
