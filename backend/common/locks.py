"""Named transaction locks, for the few writes that must not race on something with no row yet
to lock (the next certificate number of a department's year, a case first pushed by its
external number). Held until the transaction ends; unrelated names never wait for each other."""

from django.db import connection


def advisory_transaction_lock(name: str) -> None:
    """Wait for, then hold until commit or rollback, the lock called `name` (inside atomic())."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
