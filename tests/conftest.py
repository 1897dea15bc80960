"""Fixtures shared by the cross-app tests in this directory."""

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import transaction

from tests.webhook_fixtures import receiver, seeded_rows, worker  # noqa: F401 - the webhook tests' fixtures


@pytest.fixture(scope="module")
def demo_world(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The demo dataset, built once per module and rolled back when the module ends.

    seed_demo takes tens of seconds on a loaded machine, and the matrix tests only read it or
    undo their writes. Each test's own transaction nests inside this one as a savepoint, so a
    test's writes are gone before the next test starts. Module, not session, scope: an open
    outer transaction would leave the demo rows in every later test, and would hide commits
    from the transactional tests (other connections, subprocesses, flushes).
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            call_command("seed_demo", verbosity=0)
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
