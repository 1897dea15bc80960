"""Whose precomputed low-zoom cells a user may count (the table of gis_layers migration 0003),
and their pending points (migration 0005: one row per changed record, not yet in the cells).

A layer's cells are kept per scope key: the record's own columns its selector decides
visibility on. A user's low-zoom tile sums the cells of the keys their selector admits, which
is the same set of records their REST view lists:

- sites: the case (`case_id IN cases_visible_to`), or with no case the project
  (`project_id IN projects_visible_to`), as sites_visible_to;
- surveys and findings: the case, as their selectors;
- utility points: the case and, for a utility company's staff, their own company and utility
  types, as utility_points_visible_to.

Administrators see every record of these layers and read the layer's total cells (one row per
cell instead of one per key and cell). A regional department or external system reads the region
rows of its prefix (gis_layers migration 0004) beside the key rows of its visible cases outside
the region. Layers whose visibility depends on other tables' rows
(inspections: their items' departments; photos: the record they belong to) are not
precomputed; gis_layers counts them live over the user's scoped rows.
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet

from backend.accounts.models import OrganizationKind
from backend.cases.selectors import cases_visible_to, projects_visible_to

PRECOMPUTED_LAYERS = frozenset({"sites", "surveys", "findings", "utility_points"})
# The cell table's key for "no case" (migration 0003's NO_UUID).
NO_CASE = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Arm:
    """One set of records the user may count: `family`, the cell rows that count them (a
    condition over the cell table aliased `c`), and `keys`, the condition on the records' scope
    keys and region (columns of the same names in the cell table and its pending points, both
    aliased `c`), with its params. A pending point counts in every family, so over the points
    the arm is its `keys` alone."""

    family: str
    keys: str
    params: tuple[Any, ...] = ()

    @property
    def cells(self) -> str:
        return f"{self.family} AND {self.keys}"


@dataclass(frozen=True)
class CellScope:
    """Disjoint sets of records (arms) whose sum is what the user may count; over the cells each
    arm is one range of the cells' index."""

    arms: tuple[Arm, ...]


TOTAL = Arm(family="c.total AND c.region = ''", keys="true")


def _sees_every_case(user: Any) -> bool:
    # cases_visible_to's first branches: an active administrator sees every case.
    return bool(user.is_authenticated and user.is_active and user.is_administrator)


def _region_of(user: Any) -> str | None:
    """The region prefix whose every case the user sees (cases_visible_to's region rule), if any."""
    organization = user.organization if user.is_authenticated and user.organization_id else None
    if organization is None or not organization.region:
        return None
    if organization.kind not in {OrganizationKind.APPROVAL_DEPARTMENT, OrganizationKind.EXTERNAL_SYSTEM}:
        return None
    return organization.region


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _in(column: str, queryset: QuerySet) -> tuple[str, list[Any]] | None:
    """`column IN (<queryset's pks>)`; None when the selector knows it is empty."""
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return None
    return f"{column} IN ({sql})", list(params)


def cell_scope(*, layer: str, user: Any) -> CellScope | None:
    """The cells of `layer` that `user` may count; None when they see none of its records.

    A user whose selector admits every case of a region (a regional department or external
    system) reads the region rows of the codes under the prefix, and the key rows of their
    other visible cases only (cases outside the region: the two sets are disjoint)."""
    if layer not in PRECOMPUTED_LAYERS:
        raise ValueError(f"{layer} is not precomputed")
    if _sees_every_case(user):
        return CellScope(arms=(TOTAL,))
    arms: list[Arm] = []
    visible = cases_visible_to(user=user)
    region = _region_of(user)
    if region is not None:
        arms.append(Arm(family="c.total", keys="c.region LIKE %s", params=(_like_prefix(region),)))
        visible = visible.exclude(project__region_code__startswith=region)
    cases = _in("c.case_id", visible)
    if layer == "sites":
        projects = _in("c.project_id", projects_visible_to(user=user))
        # A site without a case has NO_CASE as its case key (the cell table's keys are NOT NULL).
        for condition in (cases, projects and (f"c.case_id = '{NO_CASE}'::uuid AND {projects[0]}", projects[1])):
            if condition:
                arms.append(Arm(family="NOT c.total", keys=condition[0], params=tuple(condition[1])))
        return CellScope(arms=tuple(arms)) if arms else None
    if cases is not None:
        sql, params = cases
        organization = user.organization if user.organization_id else None
        if (
            layer == "utility_points"
            and organization is not None
            and organization.kind == OrganizationKind.UTILITY_COMPANY
        ):
            # A company's staff see their own company's points of their own utility types.
            sql += " AND c.company_id = %s AND c.kind = ANY(%s)"
            params += [organization.pk, list(organization.utility_types)]
        arms.append(Arm(family="NOT c.total", keys=sql, params=tuple(params)))
    return CellScope(arms=tuple(arms)) if arms else None


def cells_compact() -> int:
    """Expand the pending points (the triggers' deltas, migration 0005) into cells and merge them
    into one row per key and cell, in one statement: readers see the points or their cells.

    Its own transaction; returns the rows written, or -1 when another compaction holds the lock.
    Readers are right either way (they sum a key's rows and the points); compacting keeps the
    points few (the tile reads each of its own) and the cells to one row per key.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT gis_layers_cells_compact()")
        return cursor.fetchone()[0]
