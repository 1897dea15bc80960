"""Readiness checks: each returns None when healthy or a short reason."""

from django.db import connection


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT postgis_lib_version()")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return f"database: {error.__class__.__name__}"
    return None


def check_storage() -> str | None:
    """The evidence store answers: a probe file written, read and removed (filesystem) or
    HEAD on the bucket (S3, with the client's connect/read timeouts)."""
    from backend.evidence.storage import current_backend, storage_probe

    try:
        storage_probe()
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return f"storage ({current_backend()}): {error.__class__.__name__}"
    return None


READINESS_CHECKS = [check_database, check_storage]


def readiness_problems() -> dict[str, str]:
    problems = {}
    for check in READINESS_CHECKS:
        reason = check()
        if reason:
            problems[check.__name__.removeprefix("check_")] = reason
    return problems
