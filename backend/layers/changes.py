"""A change counter for the map layers' HTTP caching (ETag / Last-Modified / 304).

A layer answer depends on its records and on the user's scope (cases, their assignments,
items, projects, organisations, the user's roles), so every write to any of those tables bumps
a counter in the writing transaction (statement-level triggers): readers see the new version
exactly when they can see the new rows. The counter is 64 rows and a transaction bumps the one
of its transaction id, so concurrent writers rarely wait on each other for it (there is no
global write lock); the version is their sum. Revalidating is then a 64-row read instead of the
layer query.
"""

import datetime as dt

from django.db import connection

from backend.records.registry import RECORD_TYPES

# Tables a layer's scope reads besides the record tables themselves, with the columns that
# matter (None: any change).
SCOPE_TABLES: dict[str, tuple[str, ...] | None] = {
    "cases_approvalcase": None,
    "cases_approvalcase_assigned_organizations": None,
    "cases_approvalitem": None,
    "cases_project": None,
    "acceptance_inspectionitem": None,
    # `name`: nearby points carry their company's name (and are kept in the answer cache).
    "accounts_organization": ("name", "kind", "region", "utility_types"),
    "accounts_user": ("roles", "organization_id", "is_active", "is_superuser"),
}


def watched_tables() -> dict[str, tuple[str, ...] | None]:
    tables = {registered.model._meta.db_table: None for registered in RECORD_TYPES.values()}
    return tables | SCOPE_TABLES


def install_triggers(using: str = "default", **_) -> None:
    """(Re)create the bump triggers on every watched table that exists (post_migrate)."""
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute("SELECT to_regclass('gis_layers_change') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        existing = {row[0] for row in cursor.fetchall()}
        for table, columns in watched_tables().items():
            if table not in existing:
                continue
            events = "INSERT OR UPDATE OR DELETE OR TRUNCATE"
            if columns is not None:
                events = f"INSERT OR UPDATE OF {', '.join(columns)} OR DELETE OR TRUNCATE"
            cursor.execute(
                f'CREATE OR REPLACE TRIGGER gis_layers_change AFTER {events} ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION gis_layers_change_bump()"
            )


# (version, when it last changed, the statement's time), as one row.
CURRENT_SQL = "SELECT sum(version)::bigint, max(changed_at), statement_timestamp() FROM gis_layers_change"


def current() -> tuple[int, dt.datetime, dt.datetime]:
    """(version, when it last changed, the statement's time). Read before the layer query, so
    a change committed in between can only make the answer newer than its ETag, never older
    (or in the layer query's own statement, which sees the same snapshot: see
    gis_layers.layers.Query.tile_and_version)."""
    with connection.cursor() as cursor:
        cursor.execute(CURRENT_SQL)
        return cursor.fetchone()
