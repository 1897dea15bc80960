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


READINESS_CHECKS = [check_database]


def readiness_problems() -> dict[str, str]:
    problems = {}
    for check in READINESS_CHECKS:
        reason = check()
        if reason:
            problems[check.__name__.removeprefix("check_")] = reason
    return problems
