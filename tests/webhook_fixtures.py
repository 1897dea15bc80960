"""A real receiver process and a real procrastinate worker for the webhook tests.

Import the fixtures into a test module (`from tests.webhook_fixtures import receiver, worker`).
The tests that use them are transactional: the worker is another process and sees only what
the test committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.s3_plugin import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition, *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}")


class Receiver:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "received.jsonl"
        self.control = folder / "control.json"
        self.process: subprocess.Popen | None = None
        self.answer(status=200)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, **control) -> None:
        # Written aside and renamed, so the receiver never reads a half-written control file.
        draft = self.control.with_suffix(".draft")
        draft.write_text(json.dumps(control), encoding="utf-8")
        os.replace(draft, self.control)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "webhook_receiver.py"),
                str(self.port),
                str(self.log),
                str(self.control),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def entries(self, path: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [row for row in rows if path is None or row["path"] == path]


@pytest.fixture
def receiver(tmp_path, settings) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    receiving = Receiver(tmp_path)
    receiving.start()
    yield receiving
    receiving.stop()


WORKER_ENV = {
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_RETRY_FACTOR": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
}


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker", "--concurrency", "4", "-p", "0.2"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        """kill -9: no shutdown, no cleanup, connections dropped by the server."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgis://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db) -> Iterator[Worker]:
    """A procrastinate worker on the test database (started by the test, stopped after it)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_DEVELOPMENT": "1", **WORKER_ENV}
    env.pop("TEST_DATABASE_NAME", None)
    working = Worker(env)
    working.start()
    yield working
    working.kill()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")


@pytest.fixture
def seeded_rows(transactional_db):
    """The rows migrations seed, which an earlier transactional test's flush removed."""
    import importlib

    from django.apps import apps

    from backend.acceptance.models import CatalogueItem

    if not CatalogueItem.objects.exists():
        importlib.import_module("backend.acceptance.migrations.0002_seed_acceptance_catalogue").seed(apps, None)
