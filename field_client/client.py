"""The reference device client: how a tablet or the vehicle app speaks the sync protocol.

    client = SyncClient("device.sqlite3", server="https://approval.example.cn")
    client.login("crew1", "secret")
    client.queue("survey", record_id, {"case": ..., "summary": ...}, attachments=["photo.jpg"])
    client.sync()          # push, upload the files the server lacks, pull

Rules it follows (and every integrator should):
- An operation gets its op_id when it is queued, never when it is sent: a retry after a lost
  answer is a replay, and the server answers `duplicate` instead of applying it twice.
- Network errors, 5xx and 429 are retried with exponential backoff and jitter (honouring
  Retry-After); a 4xx other than 429 is the client's bug and is not retried.
- A receipt settles its operation: applied/merged/duplicate → done, conflict → kept for the user
  (the receipt carries the server's record), rejected → kept with its errors.
- Files travel separately, resumably (tus), identified by SHA-256; the receipts say which the
  server still lacks.
- Pull pages until `has_more` is false and stores the cursor only after the page is applied.
"""

import hashlib
import json
import mimetypes
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from field_client.store import Store

RETRY_STATUSES = {429, 500, 502, 503, 504}
# Record types made from a file, and the data field that names it.
FILE_FIELDS = {"photo": "sha256", "signature": "image_sha256"}


class SyncError(Exception):
    """The server refused a request in a way retrying will not fix."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class RetriesExhausted(SyncError):
    pass


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Progress:
    """One status line, rewritten in place on a terminal."""

    def __init__(self, stream: Any = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.last = ""

    def __call__(self, text: str) -> None:
        self.last = text
        if self.enabled:
            end = "\r" if self.stream.isatty() else "\n"
            self.stream.write(f"{text}{end}")
            self.stream.flush()


class SyncClient:
    def __init__(
        self,
        db_path: str | Path,
        *,
        server: str | None = None,
        batch_size: int = 100,
        max_attempts: int = 8,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        timeout: float = 30.0,
        progress: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = Store(db_path)
        if server:
            self.store.set("server", server.rstrip("/"))
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.progress = progress or Progress()
        self.sleep = sleep
        self.session = requests.Session()

    # --- plumbing ------------------------------------------------------------------

    @property
    def server(self) -> str:
        server = self.store.get("server")
        if not server:
            raise SyncError("No server configured; pass server=… or --server.")
        return server

    def url(self, path: str) -> str:
        return urljoin(self.server + "/", path.lstrip("/"))

    def headers(self) -> dict[str, str]:
        token = self.store.get("token")
        headers = {"X-Device-Id": self.store.device_id()}
        if token:
            headers["Authorization"] = f"Token {token}"
        return headers

    def backoff(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return float(retry_after)
        delay = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request, retried on network errors, 5xx and 429."""
        last_error = ""
        for attempt in range(self.max_attempts):
            try:
                response = self.session.request(
                    method, self.url(path), headers=self.headers(), timeout=self.timeout, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                last_error = f"{type(error).__name__}"
                retry_after = None
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last_error = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            delay = self.backoff(attempt, retry_after)
            self.progress(f"{method} {path}: {last_error}; retry {attempt + 1}/{self.max_attempts} in {delay:.1f}s")
            self.sleep(delay)
        raise RetriesExhausted(f"{method} {path} failed {self.max_attempts} times ({last_error}).")

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _check(self, response: requests.Response, what: str) -> Any:
        body = self._json(response)
        if response.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else response.text[:200]
            raise SyncError(f"{what}: {response.status_code} {detail}", status=response.status_code, body=body)
        return body

    # --- commands ------------------------------------------------------------------

    def login(self, username: str, password: str, *, device_name: str = "reference client") -> dict[str, Any]:
        response = self.request(
            "POST",
            "/api/v1/auth/token",
            json={
                "username": username,
                "password": password,
                "device_id": self.store.device_id(),
                "device_name": device_name,
            },
        )
        body = self._check(response, "login")
        self.store.set("token", body["token"])
        self.store.set("username", username)
        self.progress(f"logged in as {username} on {self.store.device_id()}")
        return body

    def queue(
        self,
        type: str,
        record_id: str,
        data: dict[str, Any],
        *,
        action: str = "upsert",
        base_version: int | None = None,
        attachments: list[str | Path | tuple[str | Path, str]] | None = None,
    ) -> str:
        """Queue a change; files (paths, or (path, kind) with kind photo/signature/scan) are
        hashed now and uploaded later. Returns the op_id.

        A file is only bytes to the server until a record names it, so:
        - a `photo` (or `signature`) operation names its attached file (`sha256`, or
          `image_sha256`) unless its data already names one, and is sent once that file is up;
        - a photo attached to any other record also gets a photo record of its own: a `photo`
          operation (its id fixed now, like the op_id) for that record, sent once the file is
          up, after the record's own operation (`photos_of(op_id)` lists them).
        """
        manifest = []
        for attachment in attachments or []:
            path, kind = attachment if isinstance(attachment, tuple) else (attachment, "photo")
            sha256 = file_sha256(path)
            content_type = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
            self.store.add_file(sha256=sha256, path=str(path), content_type=content_type, kind=kind)
            manifest.append({"sha256": sha256, "kind": kind})
        data = dict(data)
        waits_for = None
        file_field = FILE_FIELDS.get(type)
        if file_field is not None and action == "upsert":
            # The attachment kinds are named like the record types made from them.
            own = [item["sha256"] for item in manifest if item["kind"] == type]
            if own and "upload" not in data:
                data.setdefault(file_field, own[0])
            if data.get(file_field) in {item["sha256"] for item in manifest}:
                waits_for = data[file_field]
        with self.store.transaction():
            op_id = self.store.enqueue(
                type=type,
                record_id=str(record_id),
                data=data,
                action=action,
                base_version=base_version,
                attachments=manifest,
                waits_for=waits_for,
            )
            if action == "upsert" and type not in FILE_FIELDS:
                for item in manifest:
                    if item["kind"] == "photo":
                        self.store.enqueue(
                            type="photo",
                            record_id=str(uuid.uuid4()),
                            data={"record_type": type, "record_id": str(record_id), "sha256": item["sha256"]},
                            waits_for=item["sha256"],
                            parent_op_id=op_id,
                        )
        return op_id

    def photos_of(self, op_id: str) -> list[dict[str, str]]:
        """The photo records queued for the files attached to operation `op_id`: [{op_id, id, sha256}]."""
        return [
            {"op_id": row["op_id"], "id": row["record_id"], "sha256": json.loads(row["data"])["sha256"]}
            for row in self.store.children(op_id)
            if row["type"] == "photo"
        ]

    def push(self) -> dict[str, int]:
        """Send every pending operation, in batches; returns counts by receipt status."""
        totals: dict[str, int] = {}
        total = self.store.count_pending()
        sent = 0
        while True:
            batch = self.store.pending(self.batch_size)
            if not batch:
                break
            self.store.attempted([op["op_id"] for op in batch])
            response = self.request(
                "POST", "/api/v1/sync/push", json={"device_id": self.store.device_id(), "operations": batch}
            )
            body = self._check(response, "push")
            with self.store.transaction():
                for receipt in body["receipts"]:
                    self.store.settle(receipt)
                    totals[receipt["status"]] = totals.get(receipt["status"], 0) + 1
                    for sha256 in receipt.get("missing_attachments") or []:
                        self.store.file_state(sha256, state="pending")
            sent += len(batch)
            summary = ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
            self.progress(f"push {sent}/{total} operations ({summary})")
        return totals

    def upload(self) -> int:
        """Upload the queued files the server lacks, resumably; returns how many were sent."""
        from tusclient import client as tus
        from tusclient.exceptions import TusCommunicationError

        files = self.store.files_to_upload()
        done = 0
        for index, row in enumerate(files, start=1):
            for attempt in range(self.max_attempts):
                try:
                    tus_client = tus.TusClient(self.url("/api/v1/uploads/"), headers=self.headers())
                    uploader = tus_client.uploader(
                        file_path=row["path"],
                        url=row["upload_url"] or None,
                        chunk_size=1 << 20,
                        metadata={
                            "filename": Path(row["path"]).name,
                            "content_type": row["content_type"],
                            "sha256": row["sha256"],
                        },
                    )
                    if uploader.url:
                        self.store.file_state(row["sha256"], upload_url=uploader.url)
                    uploader.upload()
                    break
                except (TusCommunicationError, requests.ConnectionError, requests.Timeout) as error:
                    status = getattr(error, "status_code", None)
                    if status is not None and status < 500 and status not in (404, 410, 429):
                        raise SyncError(f"upload of {row['path']} refused: {status}", status=status) from error
                    if status in (404, 410):
                        # The server forgot the upload (expired): start a new one.
                        self.store.db.execute("UPDATE files SET upload_url = NULL WHERE sha256 = ?", (row["sha256"],))
                        row = self.store.db.execute("SELECT * FROM files WHERE sha256 = ?", (row["sha256"],)).fetchone()
                    delay = self.backoff(attempt)
                    self.progress(f"upload {row['path']}: {error}; retry {attempt + 1} in {delay:.1f}s")
                    self.sleep(delay)
            else:
                raise RetriesExhausted(f"upload of {row['path']} failed {self.max_attempts} times")
            self.store.file_state(row["sha256"], state="uploaded")
            done += 1
            self.progress(f"upload {index}/{len(files)} files")
        return done

    def pull(self, *, types: list[str] | None = None, limit: int = 500, case: str | None = None) -> int:
        """Fetch every change after the stored cursor; returns how many were applied.

        A `case_access` change means the user was given a case whose older records lie before the
        cursor: the whole case is pulled (`?case=`, from an empty cursor) before the page's cursor
        is stored, so a crash in between repeats it. With `case`, only that case, from the start;
        the stored cursor is neither read nor moved.
        """
        applied = 0
        cursor = self.store.get("cursor", "") if case is None else ""
        while True:
            params: dict[str, Any] = {"cursor": cursor, "limit": limit}
            if types:
                params["types"] = ",".join(types)
            if case is not None:
                params["case"] = case
            body = self._check(self.request("GET", "/api/v1/sync/pull", params=params), "pull")
            records = [change for change in body["changes"] if change["type"] != "case_access"]
            if case is None:
                for change in body["changes"]:
                    if change["type"] == "case_access":
                        applied += self.pull(types=types, limit=limit, case=change["data"]["case"])
            with self.store.transaction():
                for change in records:
                    self.store.apply_change(change)
                if case is None:
                    self.store.set("cursor", body["cursor"])
            cursor = body["cursor"]
            applied += len(records)
            where = f" of case {case}" if case is not None else ""
            self.progress(f"pull {applied} changes{where} (cursor {body['cursor']})")
            if not body["has_more"]:
                return applied

    def sync(self) -> dict[str, Any]:
        # Files first: a photo or signature operation needs its image on the server; then the
        # push; then whatever the receipts still report missing; then the pull.
        uploaded = self.upload()
        pushed = self.push()
        uploaded += self.upload()
        # Photo and signature records whose files went up just now.
        for status, count in self.push().items():
            pushed[status] = pushed.get(status, 0) + count
        pulled = self.pull()
        return {"pushed": pushed, "uploaded": uploaded, "pulled": pulled}

    def status(self) -> dict[str, Any]:
        return {
            "server": self.store.get("server"),
            "user": self.store.get("username"),
            "device_id": self.store.device_id(),
            "operations": self.store.counts(),
            "waiting_for_files": self.store.count_waiting_for_files(),
            "files_to_upload": len(self.store.files_to_upload()),
            "records": self.store.count_records(),
            "cursor": self.store.get("cursor", ""),
        }

    def close(self) -> None:
        self.session.close()
        self.store.close()
