"""pytest fixtures: a real S3-compatible server for tests, and private blob/upload directories.

Registered for the whole suite by the root `conftest.py` (`pytest_plugins`), so any test
module anywhere can use them by name:

    def test_something(s3_storage):      # evidence storage is S3 (a fresh bucket) for this test
        ...

- `s3_server` (session): starts moto's standalone server in a subprocess on a free port,
  waits until it answers, yields its connection settings, stops it at the end. One process per
  run, started when a test first needs it: under pytest-xdist the first worker that needs it
  starts it and writes its address next to the workers' temporary directories, the others read
  it, and the controller stops it when the run ends. Tests share it safely: each gets a bucket
  of its own.
- `s3_storage`: switches the evidence storage to S3 for one test: a fresh, empty bucket on
  that server, the S3_* settings overridden and the storage clients reset. Yields a
  `S3TestBucket` with `.client`, `.bucket` and `.keys(prefix="")`.
- `_evidence_dirs` (autouse): BLOB_ROOT and UPLOAD_ROOT point into the test's tmp_path, so no
  test writes into var/ and every test starts with empty stores.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY_ID = "testing-access-key"
SECRET_ACCESS_KEY = "testing-secret-key"  # noqa: S105 - moto accepts any credentials
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not listen on port {port} within {timeout} s")


def moto_server_command(port: int) -> list[str]:
    executable = Path(sys.executable).with_name("moto_server")
    if executable.exists():
        return [str(executable), "-H", "127.0.0.1", "-p", str(port)]
    found = shutil.which("moto_server")
    if found:
        return [found, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


@dataclass
class S3Server:
    endpoint_url: str
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY
    region: str = REGION

    def client(self):
        """A plain boto3 client for assertions and benchmarks (needs no Django settings)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def settings_for(self, bucket: str) -> dict[str, Any]:
        return {
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY_ID": self.access_key_id,
            "S3_SECRET_ACCESS_KEY": self.secret_access_key,
            "S3_REGION": self.region,
        }


class MotoServerProcess:
    """moto's standalone server in a subprocess (also used by the benchmarks)."""

    def __init__(self) -> None:
        self.port = free_port()
        environment = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
        self.process = subprocess.Popen(  # noqa: S603 - fixed command
            moto_server_command(self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        try:
            _wait_for_port(self.port, self.process)
        except Exception:
            self.stop()
            raise
        self.server = S3Server(endpoint_url=f"http://127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class S3TestBucket:
    server: S3Server
    bucket: str
    client: Any

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )

    def multipart_uploads(self) -> list[dict[str, Any]]:
        return self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])


SHARED_SERVER_FILE = "s3-test-server.json"


def _shared_server(directory: Path) -> S3Server:
    """The run's one server for xdist workers: started by the first that asks, left running
    for the controller to stop (pytest_unconfigure below)."""
    with open(directory / (SHARED_SERVER_FILE + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = directory / SHARED_SERVER_FILE
        if recorded.exists():
            return S3Server(endpoint_url=json.loads(recorded.read_text())["endpoint_url"])
        moto = MotoServerProcess()
        recorded.write_text(json.dumps({"endpoint_url": moto.server.endpoint_url, "pid": moto.process.pid}))
        return moto.server


def pytest_unconfigure(config):
    """The controller of an xdist run stops the server a worker started."""
    if hasattr(config, "workerinput") or not hasattr(config, "_tmp_path_factory"):
        return
    if config.getoption("numprocesses", None) in (None, 0):
        return
    recorded = config._tmp_path_factory.getbasetemp() / SHARED_SERVER_FILE
    if recorded.exists():
        pid = json.loads(recorded.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        recorded.unlink()


@pytest.fixture(scope="session")
def s3_server(request, tmp_path_factory) -> Iterator[S3Server]:
    if hasattr(request.config, "workerinput"):
        # An xdist worker's basetemp is <run's basetemp>/popen-gwN: the parent is the run's.
        yield _shared_server(tmp_path_factory.getbasetemp().parent)
        return
    moto = MotoServerProcess()
    try:
        yield moto.server
    finally:
        moto.stop()


@pytest.fixture
def s3_storage(s3_server: S3Server, settings) -> Iterator[S3TestBucket]:
    from backend.evidence.storage import storage_cache_clear

    bucket = f"test-{uuid.uuid4().hex[:16]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    for name, value in s3_server.settings_for(bucket).items():
        setattr(settings, name, value)
    storage_cache_clear()
    try:
        yield S3TestBucket(server=s3_server, bucket=bucket, client=client)
    finally:
        storage_cache_clear()


@pytest.fixture(autouse=True)
def _evidence_dirs(request, tmp_path_factory) -> Iterator[None]:
    """Blob and upload directories private to the test (only touched when settings load)."""
    settings = request.getfixturevalue("settings")
    from backend.evidence.storage import storage_cache_clear

    root = tmp_path_factory.mktemp("evidence")
    settings.BLOB_ROOT = root / "blobs"
    settings.UPLOAD_ROOT = root / "uploads"
    settings.S3_BUCKET = ""
    storage_cache_clear()
    yield
    storage_cache_clear()
