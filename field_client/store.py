"""The device's offline store: one SQLite file with the operation queue, the files to upload,
the pulled records and the pull cursor. Everything survives a crash of the app."""

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- One row per queued change. op_id is fixed when queued, so every retry is a replay.
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    action TEXT NOT NULL,
    record_id TEXT NOT NULL,
    base_version INTEGER,
    data TEXT NOT NULL,
    attachments TEXT NOT NULL,
    -- pending → done | conflict | rejected
    state TEXT NOT NULL DEFAULT 'pending',
    receipt TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- sha256 of a file that must be uploaded before the operation is sent (a photo or
    -- signature record names its file, which the server needs to make the record)
    waits_for TEXT,
    -- the operation whose record this one was queued for (a photo of an attached file)
    parent_op_id TEXT
);
CREATE INDEX IF NOT EXISTS operations_state ON operations (state, seq);
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- pending → uploaded
    state TEXT NOT NULL DEFAULT 'pending',
    upload_url TEXT
);
CREATE TABLE IF NOT EXISTS records (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Stores made by an older client lack the newer columns (CREATE TABLE IF NOT EXISTS
        leaves an existing table as it is)."""
        present = {row["name"] for row in self.db.execute("PRAGMA table_info(operations)")}
        for column in ("waits_for", "parent_op_id"):
            if column not in present:
                self.db.execute(f"ALTER TABLE operations ADD COLUMN {column} TEXT")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- settings ------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    def set(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def device_id(self) -> str:
        device_id = self.get("device_id")
        if device_id is None:
            device_id = f"device-{uuid.uuid4()}"
            self.set("device_id", device_id)
        return device_id

    # --- the queue -----------------------------------------------------------------

    def enqueue(
        self,
        *,
        type: str,
        record_id: str,
        data: dict[str, Any],
        action: str = "upsert",
        base_version: int | None = None,
        attachments: list[dict[str, str]] | None = None,
        op_id: str | None = None,
        waits_for: str | None = None,
        parent_op_id: str | None = None,
    ) -> str:
        op_id = op_id or str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO operations"
            " (op_id, type, action, record_id, base_version, data, attachments, waits_for, parent_op_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                op_id,
                type,
                action,
                str(record_id),
                base_version,
                json.dumps(data, ensure_ascii=False),
                json.dumps(attachments or []),
                waits_for,
                parent_op_id,
            ),
        )
        return op_id

    # Pending operations that may be sent now: those waiting for a file only once it is uploaded.
    READY = (
        "state = 'pending' AND (waits_for IS NULL OR EXISTS"
        " (SELECT 1 FROM files WHERE files.sha256 = operations.waits_for AND files.state = 'uploaded'))"
    )

    def pending(self, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT * FROM operations WHERE {self.READY} ORDER BY seq LIMIT ?",  # noqa: S608 - a constant
            (limit,),
        ).fetchall()
        return [
            {
                "op_id": row["op_id"],
                "type": row["type"],
                "action": row["action"],
                "id": row["record_id"],
                "base_version": row["base_version"],
                "data": json.loads(row["data"]),
                "attachments": json.loads(row["attachments"]),
            }
            for row in rows
        ]

    def count_pending(self) -> int:
        """Operations ready to be sent (not those still waiting for their file's upload)."""
        return self.db.execute(f"SELECT count(*) FROM operations WHERE {self.READY}").fetchone()[0]  # noqa: S608

    def count_waiting_for_files(self) -> int:
        return self.db.execute(
            f"SELECT count(*) FROM operations WHERE state = 'pending' AND NOT ({self.READY})"
        ).fetchone()[0]  # noqa: S608

    def children(self, op_id: str) -> list[sqlite3.Row]:
        """The operations queued for the record of `op_id` (photos of its attached files)."""
        return self.db.execute("SELECT * FROM operations WHERE parent_op_id = ? ORDER BY seq", (op_id,)).fetchall()

    def attempted(self, op_ids: list[str]) -> None:
        self.db.executemany("UPDATE operations SET attempts = attempts + 1 WHERE op_id = ?", [(i,) for i in op_ids])

    def settle(self, receipt: dict[str, Any]) -> str:
        """Record a receipt; returns the operation's new state."""
        status = receipt["status"]
        if status == "duplicate":
            status = receipt.get("original_status", "applied")
        state = {"applied": "done", "merged": "done", "conflict": "conflict"}.get(status, "rejected")
        self.db.execute(
            "UPDATE operations SET state = ?, receipt = ? WHERE op_id = ?",
            (state, json.dumps(receipt, ensure_ascii=False), receipt["op_id"]),
        )
        return state

    def operations(self, state: str | None = None) -> list[sqlite3.Row]:
        if state is None:
            return self.db.execute("SELECT * FROM operations ORDER BY seq").fetchall()
        return self.db.execute("SELECT * FROM operations WHERE state = ? ORDER BY seq", (state,)).fetchall()

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, count(*) AS n FROM operations GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}

    # --- files ---------------------------------------------------------------------

    def add_file(self, *, sha256: str, path: str, content_type: str, kind: str) -> None:
        self.db.execute(
            "INSERT INTO files (sha256, path, content_type, kind) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
            (sha256, path, content_type, kind),
        )

    def files_to_upload(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM files WHERE state = 'pending' ORDER BY rowid").fetchall()

    def file_state(self, sha256: str, *, state: str | None = None, upload_url: str | None = None) -> None:
        if state is not None:
            self.db.execute("UPDATE files SET state = ? WHERE sha256 = ?", (state, sha256))
        if upload_url is not None:
            self.db.execute("UPDATE files SET upload_url = ? WHERE sha256 = ?", (upload_url, sha256))

    # --- pulled records ------------------------------------------------------------

    def apply_change(self, change: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO records (type, id, version, deleted, complete, data) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted,"
            " complete = excluded.complete, data = excluded.data WHERE excluded.version >= records.version",
            (
                change["type"],
                change["id"],
                change["version"],
                int(change["deleted"]),
                int(change.get("complete", True)),
                json.dumps(change["data"], ensure_ascii=False),
            ),
        )

    def record(self, type: str, record_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM records WHERE type = ? AND id = ?", (type, str(record_id))).fetchone()
        if row is None:
            return None
        return {
            "type": row["type"],
            "id": row["id"],
            "version": row["version"],
            "deleted": bool(row["deleted"]),
            "complete": bool(row["complete"]),
            "data": json.loads(row["data"]),
        }

    def count_records(self) -> int:
        return self.db.execute("SELECT count(*) FROM records").fetchone()[0]
