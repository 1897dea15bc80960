"""The daily deadline run (`deadline_notices_run`) over many open approval items, in one process.

    .venv/bin/python -m bench.bench_deadlines [--items 100000] [--cases 2000] [--departments 20] [--keep [--reset]]

Loads `--items` open (accepted, not finished) items into its own database (BENCH_DATABASE_NAME,
default bench_deadlines; dropped, migrated and loaded unless --keep; --reset with it clears what
earlier runs wrote, so the first run is a first run again without reloading) with generate_series: each
with a handler, its acceptance status event, 5 % paused by a correction (6), accepted over the 60
days before the run day with limits of 10–59 working days, so every level occurs (many overdue:
the worst case, since overdue and supervise3 are told every day). Every department has a head;
there are city and province supervisors.

Times, on Monday 2026-11-16 (a working day of the seeded calendar):
- the first run (records every item's due date and first overdue day, opens supervisions, sends
  every notice of the day);
- the same run again that day (sends nothing new);
- the next working day (the daily notices again).
Prints seconds (and the process's CPU seconds: the rest is PostgreSQL and waiting for a core),
items per second, notices, and the process's resident memory growth
(current VmRSS and peak), each against the target (<= 60 s per run; memory bounded: the run
streams items in chunks, so the growth must not scale with the items).
"""

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import recreate_database, setup_django, use_database  # noqa: E402

DATABASE = use_database("bench_deadlines")
# The bench's users have no e-mail address: the run e-mails one digest per person at its end
# (backend.notifications.services.notifications_email_digests), which the bench does not measure;
# it grows with the people told, not with the items.
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"

AS_OF = dt.date(2026, 11, 16)
NEXT_DAY = dt.date(2026, 11, 17)
TARGET_SECONDS = 60.0


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def load(items: int, cases: int, departments: int) -> None:
    """Organisations, users and projects by the ORM; cases, items and events by generate_series."""
    from django.db import connection

    from backend.accounts.models import Organization, OrganizationKind, Role, User

    builder = Organization.objects.create(name="建设单位", kind=OrganizationKind.BUILDER, region="370211")
    city = Organization.objects.create(name="青岛市督查室", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="3702")
    User.objects.create(username="supervisor-city", organization=city, roles=[Role.SUPERVISOR])
    User.objects.create(username="supervisor-all", roles=[Role.SUPERVISOR])
    for n in range(departments):
        department = Organization.objects.create(
            name=f"审批部门{n}", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"
        )
        User.objects.create(username=f"head-{n}", organization=department, roles=[Role.DEPARTMENT_HEAD])
        for h in range(5):
            User.objects.create(username=f"handler-{n}-{h}", organization=department, roles=[Role.OFFICIAL])
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            "INSERT INTO cases_project (id, created_at, updated_at, code, name, builder_id, investment_type, category, "
            "is_simple_low_risk, priority, region_code) "
            "SELECT gen_random_uuid(), now(), now(), '2404-370211-04-01-' || lpad(g::text, 6, '0'), '项目' || g, "
            "%s, 'private', 'social_investment', false, 'none', '370211' FROM generate_series(0, %s - 1) g",
            [str(builder.pk), cases],
        )
        cursor.execute(
            "INSERT INTO cases_approvalcase (id, created_at, updated_at, external_no, project_id, stage, is_parallel, "
            "status, opened_at) SELECT gen_random_uuid(), now(), now(), 'BENCH-' || substr(p.code, 19), p.id, "
            "'engineering_planning', false, 3, timestamptz '2026-09-01 09:00+08' FROM cases_project p"
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_case AS SELECT row_number() OVER (ORDER BY external_no) - 1 AS n, id "
            "FROM cases_approvalcase"
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_handler AS SELECT row_number() OVER (ORDER BY username) - 1 AS n, u.id, "
            "u.organization_id FROM accounts_user u WHERE username LIKE 'handler-%%'"
        )
        cursor.execute(
            "INSERT INTO cases_approvalitem (id, created_at, updated_at, case_id, name, department_id, handler_id, "
            "statutory_days, promised_days, accepted_at, status, modes, external_id) "
            "SELECT gen_random_uuid(), now(), now(), c.id, '审批事项' || g, h.organization_id, h.id, "
            "10 + g %% 50, 10 + g %% 50, "
            "(%s::date - (g %% 60)) + time '09:30' AT TIME ZONE 'Asia/Shanghai', "
            "CASE WHEN g %% 20 = 0 THEN 6 ELSE 3 END, '{}', 'X' || g "
            "FROM generate_series(0, %s - 1) g "
            "JOIN bench_case c ON c.n = g %% %s JOIN bench_handler h ON h.n = g %% %s",
            [AS_OF, items, cases, departments * 5],
        )
        cursor.execute(
            "INSERT INTO cases_itemstatusevent (item_id, status, occurred_at) "
            "SELECT id, 3, accepted_at FROM cases_approvalitem"
        )
        # The paused ones: a correction started three days after acceptance.
        cursor.execute(
            "INSERT INTO cases_itemstatusevent (item_id, status, occurred_at) "
            "SELECT id, 6, accepted_at + interval '3 days' FROM cases_approvalitem WHERE status = 6"
        )
        for table in ("cases_approvalitem", "cases_itemstatusevent", "cases_approvalcase", "cases_project"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"loaded {items:,} open items in {cases:,} cases in {time.perf_counter() - started:.1f} s", flush=True)


def reset() -> None:
    """Forget what earlier runs wrote: notices, supervisions, level events, recorded due dates."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE notifications_notification, notifications_supervision, events_itemlevelseen")
        cursor.execute("DELETE FROM events_event WHERE type = 'deadline.level_changed'")
        cursor.execute("UPDATE cases_approvalitem SET due_date = NULL, first_overdue_on = NULL")
        for table in ("cases_approvalitem", "notifications_notification", "events_event"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print("reset: what earlier runs wrote is cleared", flush=True)


def backend_cpu_seconds() -> float:
    """CPU seconds of this connection's PostgreSQL backend (same machine), from /proc."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(label: str, as_of: dt.date) -> tuple[str, float, float, float, int, int, int, int, float, int]:
    import gc

    from django.db import connection, reset_queries

    from backend.cases.notices import deadline_notices_run

    gc.collect()
    load_before = os.getloadavg()[0]
    database_cpu = backend_cpu_seconds()
    before_rss, before_peak = rss_kib(), peak_kib()
    connection.force_debug_cursor = False
    reset_queries()
    started, cpu = time.perf_counter(), time.process_time()
    result = deadline_notices_run(as_of=as_of, keep_sent=False)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    database_cpu = backend_cpu_seconds() - database_cpu
    gc.collect()
    return (
        label,
        seconds,
        cpu,
        database_cpu,
        result["items"],
        result["sent_count"],
        rss_kib() - before_rss,
        peak_kib() - before_peak,
        max(load_before, os.getloadavg()[0]),
        peak_kib(),
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.bench_deadlines [--items N ...]`; the bench runner passes none (the defaults)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=2_000)
    parser.add_argument("--departments", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded bench database as it is")
    parser.add_argument("--reset", action="store_true", help="with --keep: clear what earlier runs wrote")
    parser.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=AS_OF,
        help="the first run's day (with --keep: a later working day than the runs before)",
    )
    parser.add_argument("--next", type=dt.date.fromisoformat, default=NEXT_DAY, help="the next working day")
    args = parser.parse_args(argv if argv is not None else [])

    fresh = recreate_database(DATABASE, keep=args.keep)
    setup_django(migrate=fresh)
    from django.db.models import Count

    if fresh:
        load(args.items, args.cases, args.departments)
    elif args.reset:
        reset()
    rows = [
        measure("first run of the day", args.as_of),
        measure("same day again", args.as_of),
        measure("next working day", args.next),
    ]
    from backend.cases.models import ApprovalItem
    from backend.notifications.models import Notification, Supervision

    overdue = ApprovalItem.objects.filter(first_overdue_on__isnull=False).count()
    kinds = dict(Notification.objects.values_list("kind").annotate(n=Count("id")).order_by("kind"))
    print(
        f"{args.items:,} open items, {args.departments} departments; {overdue:,} found overdue; "
        f"{Supervision.objects.count():,} supervisions; notices by kind: {kinds}"
    )
    print(f"load average during the run (other work on the machine slows it): {os.getloadavg()[0]:.1f}")
    print(
        f"{'run':<24}{'seconds':>9}{'CPU s':>8}{'DB CPU s':>9}{'items/s':>10}{'notices':>9}{'RSS +MiB':>10}"
        f"{'peak +MiB':>11}{'load':>6}  target"
    )
    for label, seconds, cpu, database_cpu, items, sent, rss_growth, peak_growth, load_average, _ in rows:
        met = seconds <= TARGET_SECONDS
        print(
            f"{label:<24}{seconds:>9.1f}{cpu:>8.1f}{database_cpu:>9.1f}{items / seconds:>10,.0f}{sent:>9,}"
            f"{rss_growth / 1024:>10.1f}"
            f"{peak_growth / 1024:>11.1f}{load_average:>6.1f}  <= {TARGET_SECONDS:.0f} s: {'met' if met else 'MISSED'}"
        )
    print(f"peak resident memory of the process: {rows[-1][-1] / 1024:.0f} MiB")
    print("seconds - (CPU s + DB CPU s) is time spent waiting: for a core (see the load average) or for the disk")


if __name__ == "__main__":
    main(sys.argv[1:])
