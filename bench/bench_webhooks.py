"""Outbox cost on a sync push, and webhook delivery throughput to a local receiver.

    .venv/bin/python bench/bench_webhooks.py [--ops 1000] [--events 1000] [--rounds 3] [--keep]

Push: `--ops` operations (surveys and findings: every finding writes `finding.created`, fanned
out to one subscription) through POST /api/v1/sync/push, against the same push with
`event_record` replaced by a no-op; rounds alternate, medians compared (target: <= 10 % more).
Delivery: `--events` pending deliveries sent by `deliveries_deliver_due` (one process, one
connection at a time) to a threaded http.server on loopback (target: >= 200 events/s).

Uses its own database (BENCH_DATABASE_NAME, default bench_webhooks; dropped and migrated unless --keep).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_DATABASE_NAME", "bench_webhooks")

from bench.bench_sync import operations, recreate_database, setup  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    recreate_database(args.keep)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args)


def _push(client, ops) -> float:
    started = time.perf_counter()
    for start in range(0, len(ops), 500):
        response = client.post(
            "/api/v1/sync/push", {"device_id": "bench", "operations": ops[start : start + 500]}, format="json"
        )
        assert response.status_code == 200, response.content[:300]
        assert {receipt["status"] for receipt in response.json()["receipts"]} == {"applied"}
    return time.perf_counter() - started


def run(args) -> None:
    from rest_framework.test import APIClient

    from backend.accounts.models import Organization, OrganizationKind, Role, User
    from backend.events import services
    from backend.events.delivery import deliveries_deliver_due
    from backend.events.models import DeliveryStatus, WebhookDelivery
    from backend.events.tests.receiver import start_receiver

    receiver, server = start_receiver()
    system = Organization.objects.create(name="工改系统(bench)", kind=OrganizationKind.EXTERNAL_SYSTEM)
    system_user = User.objects.create(username="bench-system", organization=system, roles=[Role.INTEGRATION])
    services.webhook_subscription_create(by=system_user, url=receiver.url, events=["finding.created"])
    user, case, department = setup()
    client = APIClient()
    client.force_authenticate(user)
    real_event_record = services.event_record

    with_events, without_events = [], []
    for _round in range(args.rounds):
        services.event_record = lambda **kwargs: None
        without_events.append(_push(client, operations(case=case, department=department, count=args.ops)))
        services.event_record = real_event_record
        with_events.append(_push(client, operations(case=case, department=department, count=args.ops)))
    services.event_record = real_event_record
    base, outbox = statistics.median(without_events), statistics.median(with_events)
    print(f"{'sync push of ' + str(args.ops) + ' ops':<40} {'seconds (median)':>18}")
    print(f"{'  without events':<40} {base:>18.3f}")
    print(f"{'  with outbox + 1 subscription':<40} {outbox:>18.3f}")
    print(f"{'  overhead':<40} {100 * (outbox / base - 1):>17.1f}%")

    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).delete()
    while WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() < args.events:
        _push(client, operations(case=case, department=department, count=500))
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
    received_before = len(receiver.received)
    started = time.perf_counter()
    attempted = deliveries_deliver_due(limit=pending)
    seconds = time.perf_counter() - started
    assert len(receiver.received) - received_before == attempted == pending
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() >= pending
    print(f"\n{'deliveries to a loopback receiver':<40} {pending:>18}")
    print(f"{'  seconds':<40} {seconds:>18.3f}")
    print(f"{'  events/s':<40} {pending / seconds:>18.0f}")
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
