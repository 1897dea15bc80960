"""Delivery by the real procrastinate worker process, and no event lost when it is killed -9 mid-call."""

import os
import signal
import subprocess
import sys
import time

import pytest

from backend.events.models import WebhookDelivery
from backend.events.services import webhook_subscription_create
from backend.surveys.services import finding_create
from mobile_api.client.testing import ROOT, ServerProcess

pytestmark = pytest.mark.django_db(transaction=True)


def _environment() -> dict[str, str]:
    return ServerProcess().environment()


def _worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "procrastinate", "worker", "--one-shot"],
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_the_worker_sends_the_committed_event(case, official, approval_system, receiver):
    _subscription, secret = webhook_subscription_create(
        by=approval_system, url=receiver.url, events=["finding.created"]
    )
    receiver.secrets = [secret]
    finding, _ = finding_create(
        by=official, case=case, description="漏水", responsible_department=official.organization
    )

    worker = _worker()
    try:
        assert worker.wait(120) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)
    assert len(receiver.received) == 1
    assert receiver.received[0].verified == {secret: True}
    assert receiver.received[0].envelope["data"]["id"] == str(finding.pk)


def test_a_worker_killed_mid_delivery_loses_nothing(case, official, approval_system, receiver):
    _subscription, secret = webhook_subscription_create(
        by=approval_system, url=receiver.url, events=["finding.created"]
    )
    receiver.secrets = [secret]
    receiver.delays = [30]
    finding_create(by=official, case=case, description="漏水", responsible_department=official.organization)

    worker = _worker()
    try:
        _wait_for(lambda: len(receiver.received) == 1)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    delivery = WebhookDelivery.objects.get()
    # The killed attempt's transaction rolled back: still pending, nothing counted.
    assert (delivery.status, delivery.attempts) == ("pending", 0)

    sweep = subprocess.run(
        [sys.executable, "manage.py", "webhooks_deliver"],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        timeout=120,
    )

    assert sweep.returncode == 0, sweep.stderr
    assert sweep.stdout.decode().strip() == "1 deliveries attempted"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)
    assert [request.headers["webhook-id"] for request in receiver.received] == [delivery.message_id] * 2
    assert all(request.verified == {secret: True} for request in receiver.received)
