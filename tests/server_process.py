"""A real server process for scenario tests and benchmarks: gunicorn on the current database,
which a test can kill -9 and start again (an in-process live server cannot be killed)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """gunicorn serving backend.wsgi against the database the tests use (same NAME)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        workers: int = 1,
        threads: int = 4,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.port = port or free_port()
        self.extra_env = env or {}
        self.workers = workers
        self.threads = threads
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        db = connection.settings_dict
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_DEVELOPMENT": "1",
                "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
                "DATABASE_CONN_MAX_AGE": "0",
                "BLOB_ROOT": str(settings.BLOB_ROOT),
                "UPLOAD_ROOT": str(settings.UPLOAD_ROOT),
                "LOG_LEVEL": "WARNING",
                "API_THROTTLE_RATE": "1000000/min",
            }
        )
        env.update(self.extra_env)
        env.pop("TEST_DATABASE_NAME", None)
        if db.get("PASSWORD"):
            env["PGPASSWORD"] = db["PASSWORD"]
        return env

    def start(self, timeout: float = 60) -> "ServerProcess":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "backend.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--timeout",
            "120",
        ]
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # A session of its own: kill() takes the master and its workers down together.
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.environment(), stdout=self._log, stderr=self._log, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError("the server did not come up")

    def kill(self) -> None:
        """SIGKILL, no shutdown: requests in flight die mid-way."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.process = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    stop = kill
