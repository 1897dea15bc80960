"""backend.postgis: a kept connection's health check sends nothing while the server is quiet,
and still finds a connection the server ended (so that request reconnects instead of failing)."""

import select
import time

import pytest
from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper as PostGISDatabaseWrapper
from django.db import connection, connections

pytestmark = pytest.mark.django_db


@pytest.fixture
def kept():
    """A connection of its own (outside the test's transaction), as a worker keeps one between requests."""
    wrapper = connections.create_connection("default")
    wrapper.settings_dict["CONN_HEALTH_CHECKS"] = True
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _select_ones(monkeypatch) -> list[int]:
    """Counts the checks that reach Django's own `SELECT 1`."""
    sent = []
    original = PostGISDatabaseWrapper.is_usable

    def counted(self):
        sent.append(1)
        return original(self)

    monkeypatch.setattr(PostGISDatabaseWrapper, "is_usable", counted)
    return sent


def _pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(wrapper) -> None:
    """End `wrapper`'s session from another one, and wait for the server's goodbye to arrive."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [_pid(wrapper)])
    deadline = time.monotonic() + 5
    while not select.select([wrapper.connection.pgconn.socket], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the server never closed the session"


def test_a_quiet_kept_connection_is_usable_without_a_round_trip(kept, monkeypatch):
    sent = _select_ones(monkeypatch)
    assert kept.is_usable() is True
    assert sent == []


def test_a_connection_the_server_ended_is_not_usable_and_the_next_request_reconnects(kept, monkeypatch):
    before = _pid(kept)
    _terminate(kept)
    sent = _select_ones(monkeypatch)
    assert kept.is_usable() is False
    assert sent == [1]  # something to read: Django's own check decided
    # What a request does: request_started, then its first query (which checks once).
    kept.close_if_unusable_or_obsolete()
    assert _pid(kept) != before


def test_a_connection_in_a_transaction_is_checked_with_select_1(kept, monkeypatch):
    kept.connection.execute("BEGIN")
    sent = _select_ones(monkeypatch)
    assert kept.is_usable() is True
    assert sent == [1]
    kept.connection.execute("ROLLBACK")
