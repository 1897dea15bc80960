"""The demo world, built once per test session and put back in milliseconds wherever a test needs it.

`seed_demo` writes through every app's services (audit entries, photos, signatures, bookings):
tens of seconds on a loaded machine. The first time a test asks for the demo world, the session
builds it once inside a transaction, copies out every row it added (COPY ... TO, per table) and
rolls it back. Each later use copies those rows in again (COPY ... FROM, triggers off, as a
replica does) inside the caller's transaction, so the rows are gone when it rolls back.

The copy is only valid on the database it was taken from: the rows that were there before the
seed (the migrations' catalogue and calendar, say) must still be there. A transactional test's
flush empties them, so a restore first compares a fingerprint of those rows (row count and a hash
of the primary keys, per table) and builds the world the slow way, with `seed_demo`, when it
differs: never a world with dangling references.

DEMO_WORLD=seed runs `seed_demo` on every use instead (to compare, or to rule the copy out).

Fixtures (registered for the whole suite by the root conftest.py):

- `demo_world` (module): the demo world for every test of the module, rolled back when the
  module ends. Each test's own transaction nests inside as a savepoint, so one test's writes are
  gone before the next starts. Module, not session, scope: an open outer transaction would leave
  the demo rows in every later module and hide commits from transactional tests.
- `demo_rows` (function): the demo world inside this one test's transaction, its photos' and
  signatures' files in the test's own BLOB_ROOT.

Transactional tests whose live server reads the demo world (test_schemathesis.py) still run
`seed_demo` and commit it: they run after the flushes of earlier transactional tests, when the
copy no longer fits the database (the content types and permissions post_migrate recreated have
new ids).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

# Tables no demo restore writes: Django's own bookkeeping and PostGIS's reference table.
SKIPPED_TABLES = {"django_migrations", "spatial_ref_sys"}
# Pre-existing rows the seed may change: the map layers' change counter (bumped by triggers). A
# restore bumps it once itself, so the layers' caches see a change.
COUNTERS = {"gis_layers_change"}


@dataclass
class DemoSnapshot:
    tables: list[tuple[str, list[str], bytes]] = field(default_factory=list)  # table, columns, COPY text
    baseline: str = ""  # fingerprint of the rows present before the seed
    sequences: list[tuple[str, str, str]] = field(default_factory=list)  # table, column, sequence
    blob_root: Path | None = None
    # Copying in with the triggers off takes a superuser (session_replication_role); a test
    # database owned by a plain role gets seed_demo each time instead.
    can_copy: bool = False  # the demo's photos and signatures, as the filesystem store keeps them
    seconds: float = 0.0  # what building it took
    restores: int = 0
    rebuilds: int = 0


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _tables(cursor) -> dict[str, list[str]]:
    """Every table of the schema with its primary-key columns."""
    cursor.execute(
        """
        SELECT c.relname, array_agg(a.attname ORDER BY array_position(i.indkey, a.attnum))
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
        JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
        WHERE c.relkind IN ('r', 'p')
        GROUP BY c.relname
        ORDER BY c.relname
        """
    )
    return {name: list(keys) for name, keys in cursor.fetchall() if name not in SKIPPED_TABLES}


def _key(keys: list[str], alias: str) -> str:
    return "(" + ", ".join(f"{alias}.{_quote(k)}" for k in keys) + ")"


def _fingerprint(cursor, tables: dict[str, list[str]]) -> str:
    """Count and key hash of every table's rows but the counters': equal means the same baseline."""
    parts = [
        f"SELECT {table!r}, count(*), md5(coalesce(string_agg({_key(keys, 't')}::text, ',' "
        f"ORDER BY {_key(keys, 't')}::text), '')) FROM {_quote(table)} t"
        for table, keys in tables.items()
        if table not in COUNTERS
    ]
    cursor.execute(" UNION ALL ".join(parts))
    return hashlib.sha256(repr(sorted(cursor.fetchall())).encode()).hexdigest()


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "AND attgenerated = '' ORDER BY attnum",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def _raw_cursor():
    connection.ensure_connection()
    return connection.connection.cursor()


def build_snapshot(files: Path) -> DemoSnapshot:
    """Seed the demo world in a transaction, copy out what it added, roll it back; its blobs are
    written into `files`."""
    from backend.evidence.storage import storage_cache_clear

    started = time.monotonic()
    snapshot = DemoSnapshot(blob_root=files / "blobs")
    blobs = override_settings(BLOB_ROOT=files / "blobs", UPLOAD_ROOT=files / "uploads", S3_BUCKET="")
    with blobs, transaction.atomic():
        storage_cache_clear()
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            snapshot.can_copy = bool(cursor.fetchone()[0])
        with connection.cursor() as cursor:
            tables = _tables(cursor)
            snapshot.baseline = _fingerprint(cursor, tables)
            for number, (table, keys) in enumerate(tables.items()):
                cursor.execute(
                    f"CREATE TEMP TABLE _demo_before_{number} ON COMMIT DROP AS "
                    f"SELECT {_key(keys, 't')} AS key, md5(t::text) AS row FROM {_quote(table)} t"
                )
        call_command("seed_demo", verbosity=0)
        with connection.cursor() as cursor:
            for number, (table, keys) in enumerate(tables.items()):
                before = f"_demo_before_{number}"
                if table not in COUNTERS:
                    cursor.execute(
                        f"SELECT count(*) FROM {before} b LEFT JOIN {_quote(table)} t ON {_key(keys, 't')} = b.key "
                        f"WHERE t IS NULL OR md5(t::text) <> b.row"
                    )
                    (changed,) = cursor.fetchone()
                    # A demo that changed or removed rows it did not add cannot be put back by adding rows.
                    assert changed == 0, f"seed_demo changed {changed} rows of {table} it did not add"
                columns = _columns(cursor, table)
                listed = ", ".join(f"t.{_quote(c)}" for c in columns)
                query = (
                    f"SELECT {listed} FROM {_quote(table)} t "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {before} b WHERE b.key = {_key(keys, 't')})"
                )
                data = io.BytesIO()
                raw = _raw_cursor()
                with raw.copy(f"COPY ({query}) TO STDOUT") as copy:
                    for chunk in copy:
                        data.write(chunk)
                if data.tell():
                    snapshot.tables.append((table, columns, data.getvalue()))
                    cursor.execute(
                        "SELECT attname, pg_get_serial_sequence(%s, attname) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                        "AND pg_get_serial_sequence(%s, attname) IS NOT NULL",
                        [table, table, table],
                    )
                    snapshot.sequences += [(table, column, sequence) for column, sequence in cursor.fetchall()]
        transaction.set_rollback(True)
    storage_cache_clear()
    snapshot.seconds = time.monotonic() - started
    return snapshot


def restore(snapshot: DemoSnapshot, *, blobs: bool = True) -> None:
    """The demo rows, in the current transaction, and (`blobs`) its files in the current BLOB_ROOT;
    `seed_demo` when the baseline has changed."""
    assert connection.in_atomic_block, "the demo world is restored inside a transaction"
    if blobs and snapshot.blob_root is not None and snapshot.blob_root.is_dir():
        shutil.copytree(snapshot.blob_root, settings.BLOB_ROOT, dirs_exist_ok=True)
    with connection.cursor() as cursor:
        seed = not snapshot.can_copy or os.environ.get("DEMO_WORLD") == "seed"
        if seed or _fingerprint(cursor, _tables(cursor)) != snapshot.baseline:
            snapshot.rebuilds += 1
            call_command("seed_demo", verbosity=0)
            return
        # As a replica applies rows: no triggers (the audit log's guards, the change counter),
        # foreign keys not checked (the rows were consistent when they were copied out).
        cursor.execute("SET LOCAL session_replication_role = replica")
        raw = _raw_cursor()
        for table, columns, data in snapshot.tables:
            listed = ", ".join(_quote(c) for c in columns)
            with raw.copy(f"COPY {_quote(table)} ({listed}) FROM STDIN") as copy:
                copy.write(data)
        cursor.execute("SET LOCAL session_replication_role = origin")
        # Sequences never roll back, so they are past the copied ids already; after a flush that
        # reset them they would not be.
        for table, column, sequence in snapshot.sequences:
            cursor.execute(
                f"SELECT setval(%s, greatest((SELECT max({_quote(column)}) FROM {_quote(table)}), "
                f"(SELECT last_value FROM {sequence})))",
                [sequence],
            )
        cursor.execute(
            "UPDATE gis_layers_change SET version = version + 1, changed_at = clock_timestamp() WHERE id = 1"
        )
    snapshot.restores += 1


_built: list[DemoSnapshot] = []


def pytest_terminal_summary(terminalreporter):
    for snapshot in _built:
        terminalreporter.write_line(
            f"demo world: built once in {snapshot.seconds:.1f} s, restored {snapshot.restores} times, "
            f"seeded instead {snapshot.rebuilds} times (baseline changed, DEMO_WORLD=seed or no superuser)"
        )


@pytest.fixture(scope="session")
def demo_snapshot(django_db_setup, django_db_blocker, migration_seeded_rows) -> Iterator[DemoSnapshot]:
    files = Path(tempfile.mkdtemp(prefix="demo-world-"))
    try:
        with django_db_blocker.unblock():
            snapshot = build_snapshot(files)
        _built.append(snapshot)
        yield snapshot
    finally:
        shutil.rmtree(files, ignore_errors=True)


@pytest.fixture(scope="module")
def demo_world(demo_snapshot, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            # Each test has a BLOB_ROOT of its own (tests/s3_plugin.py), none yet: no files.
            restore(demo_snapshot, blobs=False)
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def demo_rows(demo_snapshot, db) -> None:
    restore(demo_snapshot)
