"""What the events outbox costs a sync push, and how fast the worker delivers webhooks.

    .venv/bin/python bench/bench_webhooks.py [--ops 1000] [--rounds 3] [--events 2000] [--cases 40]

Outbox: the same --ops sync push (surveys with points and findings on them, in process, every
rule, receipt and audit entry included) with the outbox's listener on and off, alternating for
--rounds rounds; the overhead is the ratio of the medians (issue 12: <= 10 %).
Delivery: --events committed events over --cases cases, one subscription to a receiver process on
loopback, delivered by a real `procrastinate worker` process (concurrency 8); events per second
from the commit of the events to the last delivery acknowledged (issue 12: >= 200/s).

Uses its own database (BENCH_DATABASE_NAME, default bench_webhooks; dropped and migrated).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import ROOT, recreate_database, setup_django, use_database  # noqa: E402

DATABASE = use_database("bench_webhooks")
# bench_sync (whose fixtures are reused) takes its database from the same variable when imported.
os.environ["BENCH_DATABASE_NAME"] = DATABASE.name
os.environ["WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--skip-outbox", action="store_true", help="only the delivery figure")
    args = parser.parse_args(argv if argv is not None else [])

    from bench import bench_sync

    assert bench_sync.DATABASE.name == DATABASE.name, (bench_sync.DATABASE.name, DATABASE.name)
    recreate_database(DATABASE, keep=False)
    setup_django()
    overhead = None if args.skip_outbox else bench_outbox(args)
    delivery = bench_delivery(args)
    print()
    print(f"webhooks bench: sync push of {args.ops} operations ×{args.rounds} each way; {args.events} deliveries")
    print(f"{'':<34}{'seconds':>10}{'per second':>12}")
    if overhead is not None:
        for label, seconds, count in overhead["rows"]:
            print(f"{label:<34}{seconds:>10.2f}{count / seconds:>12.0f}")
        print(f"{'outbox overhead on sync push':<34}{overhead['ratio'] * 100 - 100:>9.1f} %  (target <= 10 %)")
        print(f"{'events written by the push':<34}{overhead['events']:>10}")
    print(f"{'webhook delivery (worker)':<34}{delivery['seconds']:>10.2f}{delivery['rate']:>12.0f}  (target >= 200/s)")


def _push(client, ops, batch: int = 500) -> float:
    started = time.perf_counter()
    for start in range(0, len(ops), batch):
        response = client.post(
            "/api/v1/sync/push", {"device_id": "bench", "operations": ops[start : start + batch]}, format="json"
        )
        assert response.status_code == 200, response.content[:500]
        assert {r["status"] for r in response.json()["receipts"]} == {"applied"}, response.content[:500]
    return time.perf_counter() - started


def bench_outbox(args) -> dict:
    from rest_framework.test import APIClient

    from backend.events.models import Event
    from backend.events.services import event_record_changed
    from backend.records import registry
    from bench.bench_sync import operations
    from bench.copying import crew_case as setup

    timings: dict[bool, list[float]] = {True: [], False: []}
    # A warm-up push, not counted.
    user, case, department = setup()
    client = APIClient()
    client.force_authenticate(user)
    _push(client, operations(case=case, department=department, count=100))
    events_before = Event.objects.count()
    for _round in range(args.rounds):
        for with_outbox in (True, False):
            if with_outbox:
                registry.register_record_change_listener(event_record_changed)
            else:
                registry.RECORD_CHANGE_LISTENERS.remove(event_record_changed)
            user, case, department = setup()
            client = APIClient()
            client.force_authenticate(user)
            timings[with_outbox].append(_push(client, operations(case=case, department=department, count=args.ops)))
    registry.register_record_change_listener(event_record_changed)
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    return {
        "ratio": on / off,
        "events": (Event.objects.count() - events_before) // args.rounds,
        "rows": [
            ("sync push, outbox on (median)", on, args.ops),
            ("sync push, outbox off (median)", off, args.ops),
        ],
    }


def bench_delivery(args) -> dict:
    import socket

    from django.db import connection, transaction

    from backend.accounts.models import Organization, OrganizationKind
    from backend.cases.models import ApprovalCase
    from backend.events.models import Delivery, DeliveryStatus
    from backend.events.outbound import secret_generate
    from backend.events.services import event_emit, relay_schedule

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert receiver.stdout.readline().strip() == "ready"
    worker = None
    try:
        from backend.events.models import Subscription

        admin_org = Organization.objects.create(
            name=f"审批系统{uuid.uuid4().hex[:6]}", kind=OrganizationKind.EXTERNAL_SYSTEM, region="37"
        )
        Subscription.objects.create(
            organization=admin_org, url=f"http://127.0.0.1:{port}/hook", secret=secret_generate()
        )
        cases = list(ApprovalCase.objects.values_list("pk", flat=True))
        from bench.copying import crew_case as setup

        while len(cases) < args.cases:
            cases.append(setup()[1].pk)
        cases = cases[: args.cases]
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")
        env = {**os.environ, "DJANGO_DEVELOPMENT": "1"}
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker", "--concurrency", "8", "-p", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(5)  # the worker starts and connects
        # All events in one transaction: nothing can be relayed before the clock starts.
        with transaction.atomic():
            for n in range(args.events):
                event_emit(type="case.item.status_changed", case_id=cases[n % len(cases)], data={"n": n})
        started = time.perf_counter()
        relay_schedule()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count()
            if done >= args.events:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        assert done >= args.events, f"only {done} of {args.events} delivered"
        return {"seconds": seconds, "rate": args.events / seconds}
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(10)
        receiver.kill()
        receiver.wait(10)


if __name__ == "__main__":
    main(sys.argv[1:])
