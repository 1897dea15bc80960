"""tus resumable upload throughput vs a raw boto3 put_object of the same bytes to the same S3 server.

Starts its own moto S3 server and gunicorn app servers (one on S3, one on the filesystem)
against its own database (BENCH_DATABASE_NAME, default bench_uploads; created and migrated
when missing, through bench.harness), uploads BENCH_UPLOAD_MIB MiB with the tuspy client, and prints MiB/s and ratios.
Fresh random bytes each round, so deduplication never skips work.

Environment: BENCH_UPLOAD_MIB (64), BENCH_TUS_CHUNK_MIB (16), BENCH_ROUNDS (3), BENCH_WORKERS (2).
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import ROOT, recreate_database, use_database  # noqa: E402

DATABASE = use_database("bench_uploads")
PYTHON = sys.executable
MIB = 1024 * 1024


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _run(arguments: list[str], environment: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 - fixed commands
        arguments, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments[:3])} failed: {result.stderr[-2000:]}")
    return result.stdout


PREPARE = """
from backend.accounts.models import User
from backend.accounts.services import device_token_issue
from backend.evidence.models import Blob, Upload
user, _ = User.objects.get_or_create(username="bench-uploads")
Upload.objects.filter(owner=user).delete()
Blob.objects.filter(uploads__isnull=True).delete()
raw, _ = device_token_issue(user=user, device_id="bench")
print(raw)
"""


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


class AppServer:
    def __init__(self, environment: dict[str, str], workers: int) -> None:
        from tests.s3_plugin import free_port

        self.port = free_port()
        self.process = subprocess.Popen(  # noqa: S603 - fixed command
            [
                PYTHON,
                "-m",
                "gunicorn",
                "backend.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--timeout",
                "600",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=environment,
        )
        _wait_for_port(self.port, self.process)
        self.url = f"http://127.0.0.1:{self.port}"

    def worker_peak_rss_mib(self, field: str = "VmHWM") -> float | None:
        """The largest peak (VmHWM) or current (VmRSS) resident set among the workers (Linux only)."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            peaks = []
            for pid in children:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(f"{field}:"):
                        peaks.append(int(line.split()[1]) / 1024)
            return max(peaks) if peaks else None
        except OSError:
            return None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


def _tus_upload(server_url: str, token: str, data: bytes, chunk_size: int) -> float:
    from tusclient import client as tus_client

    tus = tus_client.TusClient(f"{server_url}/api/v1/uploads/", headers={"Authorization": f"Token {token}"})
    started = time.perf_counter()
    uploader = tus.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=chunk_size,
        metadata={"filename": "bench.bin", "content_type": "application/octet-stream", "sha256": _sha256(data)},
    )
    uploader.upload()
    elapsed = time.perf_counter() - started
    if uploader.offset != len(data):
        raise RuntimeError(f"tus upload stopped at {uploader.offset} of {len(data)}")
    return elapsed


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    from tests.s3_plugin import MotoServerProcess

    size_mib = _int_env("BENCH_UPLOAD_MIB", 64)
    chunk_mib = _int_env("BENCH_TUS_CHUNK_MIB", 16)
    rounds = _int_env("BENCH_ROUNDS", 3)
    workers = _int_env("BENCH_WORKERS", 2)
    base_environment = dict(os.environ)
    base_environment["UPLOAD_MAX_SIZE"] = str(max(size_mib * MIB, 512 * MIB))
    print(f"preparing database {DATABASE.name} …", flush=True)
    recreate_database(DATABASE, keep=True)
    _run([PYTHON, "manage.py", "migrate", "--noinput"], base_environment)
    token = _run([PYTHON, "manage.py", "shell", "-c", PREPARE], base_environment).strip().splitlines()[-1]

    moto = MotoServerProcess()
    servers: list[AppServer] = []
    try:
        s3 = moto.server.client()
        bucket = "bench-uploads"
        s3.create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory(prefix="bench-uploads-") as scratch:
            s3_environment = {
                **base_environment,
                **moto.server.settings_for(bucket),
                "BLOB_ROOT": f"{scratch}/s3-blobs",
                "UPLOAD_ROOT": f"{scratch}/s3-uploads",
            }
            fs_environment = {
                **base_environment,
                "S3_BUCKET": "",
                "BLOB_ROOT": f"{scratch}/blobs",
                "UPLOAD_ROOT": f"{scratch}/uploads",
            }
            s3_server = AppServer(s3_environment, workers)
            servers.append(s3_server)
            fs_server = AppServer(fs_environment, workers)
            servers.append(fs_server)
            # Warm up (imports, connections), so the peak below shows what the uploads add.
            for server in servers:
                for _ in range(workers * 2):
                    _tus_upload(server.url, token, os.urandom(MIB), MIB)
            warm_rss = max(s3_server.worker_peak_rss_mib() or 0, fs_server.worker_peak_rss_mib() or 0)

            timings: dict[str, list[float]] = {"raw": [], "tus_s3": [], "tus_fs": []}
            for round_number in range(rounds):
                data = os.urandom(size_mib * MIB)
                sha256 = _sha256(data)
                started = time.perf_counter()
                s3.put_object(Bucket=bucket, Key=f"raw/{round_number}", Body=data)
                timings["raw"].append(time.perf_counter() - started)
                s3.delete_object(Bucket=bucket, Key=f"raw/{round_number}")

                timings["tus_s3"].append(_tus_upload(s3_server.url, token, data, chunk_mib * MIB))
                blob_key = f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"
                stored = s3.head_object(Bucket=bucket, Key=blob_key)["ContentLength"]
                if stored != len(data):
                    raise RuntimeError(f"S3 blob has {stored} bytes, expected {len(data)}")
                s3.delete_object(Bucket=bucket, Key=blob_key)

                timings["tus_fs"].append(_tus_upload(fs_server.url, token, data, chunk_mib * MIB))
                stored_path = Path(scratch, "blobs", blob_key)
                if stored_path.stat().st_size != len(data):
                    raise RuntimeError("filesystem blob has the wrong size")
                stored_path.chmod(0o644)
                stored_path.unlink()

            raw = statistics.median(timings["raw"])
            rows = [
                ("boto3 put_object (raw, one request)", raw),
                (f"tus -> S3 (gunicorn x{workers}, tuspy)", statistics.median(timings["tus_s3"])),
                (f"tus -> filesystem (gunicorn x{workers}, tuspy)", statistics.median(timings["tus_fs"])),
            ]
            print(
                f"\n{size_mib} MiB per upload, tus chunks of {chunk_mib} MiB, median of {rounds} rounds, "
                "moto S3 server on localhost"
            )
            print(f"{'method':<44} {'seconds':>8} {'MiB/s':>8} {'time / raw':>11}")
            for label, seconds in rows:
                print(f"{label:<44} {seconds:>8.2f} {size_mib / seconds:>8.1f} {seconds / raw:>11.2f}")
            s3_rss, fs_rss = s3_server.worker_peak_rss_mib(), fs_server.worker_peak_rss_mib()
            if s3_rss and fs_rss:
                print(
                    f"app worker peak RSS: S3 {s3_rss:.0f} MiB, filesystem {fs_rss:.0f} MiB, "
                    f"after 1 MiB warm-up uploads {warm_rss:.0f} MiB (streamed: a {size_mib} MiB upload is never held whole)"
                )
    finally:
        for server in servers:
            server.stop()
        moto.stop()


if __name__ == "__main__":
    main()
