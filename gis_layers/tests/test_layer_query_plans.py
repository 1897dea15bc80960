"""Every layer's tile and bbox queries start from the geometry's GiST index, whatever the user's
scope: visibility is checked on the candidate rows the index finds, never by reading every
visible row of the table first (issue 11: a z14 tile was 2 ms of index work inside 780 ms).

Each test grows the layer's table to CLONES rows spread over ±2° around the demo plot (none in
the box queried) and ANALYZEs it, so that the planner prefers the index on its own (no
enable_seqscan tricks).
"""

import json
import math

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from backend.acceptance.models import Inspection
from backend.accounts.models import OrganizationKind, Role, UtilityType
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.evidence.models import LocationSource, Photo
from backend.evidence.tests.factories import BlobFactory
from backend.layers import changes
from backend.sites.tests.factories import SiteFactory
from backend.surveys.tests.factories import FindingFactory, SurveyFactory
from backend.utilities.models import UtilityPoint
from backend.utilities.tests.factories import UtilityCompanyFactory
from gis_layers.layers import LAYERS, WEB_MERCATOR, Query

pytestmark = pytest.mark.django_db

CLONES = 20_000
INSIDE = (120.1711, 35.9607)
BBOX = (120.169, 35.959, 120.173, 35.962)
# BBOX in Web Mercator metres (EPSG:3857).
MERCATOR_BBOX = (13377151.9, 4294981.3, 13377597.2, 4295393.9)
ROLES = ["administrator", "department_official", "survey_crew", "utility_company"]


def _world():
    site = SiteFactory()
    case = site.case
    water = UtilityCompanyFactory(utility_types=[UtilityType.WATER])
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    case.assigned_organizations.add(water, crew)
    here = Point(*INSIDE, srid=4326)
    survey = SurveyFactory(case=case, site=site, location=here)
    templates = {
        "sites": site,
        "surveys": survey,
        "findings": FindingFactory(case=case, survey=survey, location=here),
        "utility_points": UtilityPoint.objects.create(
            case=case, utility_type=UtilityType.WATER, company=water, location=here
        ),
        "inspections": Inspection.objects.create(case=case, site=site, stage=1, location=here),
        "photos": Photo.objects.create(
            case=case,
            record_type="site",
            record_id=site.pk,
            blob=BlobFactory(),
            content_type="image/jpeg",
            width=4,
            height=3,
            location=here,
            location_source=LocationSource.DEVICE,
        ),
    }
    users = {
        "administrator": UserFactory(organization=None, roles=[Role.ADMINISTRATOR]),
        "department_official": UserFactory(
            organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"),
            roles=[Role.OFFICIAL],
        ),
        "survey_crew": UserFactory(organization=crew, roles=[Role.SURVEYOR]),
        "utility_company": UserFactory(organization=water, roles=[Role.UTILITY_STAFF]),
    }
    return templates, users


def _clone(template, overrides: dict[str, str]) -> None:
    """CLONES copies of the template row (`g` numbers them); `overrides` are SQL per column."""
    model = type(template)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [field.column for field in model._meta.concrete_fields]
    # Created a second apart, as real records are (a shared created_at would make its index useless).
    overrides = {"created_at": f"{table}.created_at - g * interval '1 second'", **overrides}
    values = [overrides.get(column, f"{table}.{connection.ops.quote_name(column)}") for column in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
            f"SELECT {', '.join(values)} FROM {table}, generate_series(1, %s) AS g WHERE {table}.id = %s",
            [CLONES, template.pk],
        )


def _moved(column: str) -> str:
    # At least 0.05° away in both directions, so no clone falls into BBOX or the tile.
    signed = "(CASE WHEN random() < 0.5 THEN -1 ELSE 1 END) * (0.05 + random() * 2)"
    return f"ST_Translate({column}, {signed}, {signed})"


def _grow(layer_name: str, templates: dict) -> str:
    """The layer's table grown to CLONES rows spread up to ±2° in each direction; its name."""
    template = templates[layer_name]
    if layer_name == "sites":
        _clone(template, {"id": "gen_random_uuid()", "boundary": _moved("boundary")})
    elif layer_name == "inspections":
        # Half are located; half are placed by their own site (CLONES sites, spread likewise).
        site_id = "md5('site' || g)::uuid"
        _clone(templates["sites"], {"id": site_id, "boundary": _moved("boundary")})
        _clone(
            template,
            {
                "id": "gen_random_uuid()",
                "location": f"CASE WHEN g %% 2 = 0 THEN NULL ELSE {_moved('location')} END",
                "site_id": f"CASE WHEN g %% 2 = 0 THEN {site_id} ELSE NULL END",
            },
        )
    elif layer_name == "photos":
        # One photo per record (a unique constraint); those records are not visible.
        _clone(template, {"id": "gen_random_uuid()", "location": _moved("location"), "record_id": "gen_random_uuid()"})
    else:
        _clone(template, {"id": "gen_random_uuid()", "location": _moved("location")})
    with connection.cursor() as cursor:
        # Every layer table: statistics outlive a test's rolled-back rows, so refresh them all.
        for layer in LAYERS.values():
            cursor.execute(f"ANALYZE {connection.ops.quote_name(layer.model._meta.db_table)}")
        # And the scope's tables: with their statistics the planner knows how much a scope keeps.
        for scope_table in changes.SCOPE_TABLES:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(scope_table)}")
    return type(template)._meta.db_table


def _filters(layer, template) -> tuple:
    """Equality on every queryable but the flags, with the template's values (the clones share them)."""
    return tuple(
        (name, getattr(template, name))
        for name, queryable in layer.queryables.items()
        if queryable.schema["type"] != "boolean" and getattr(template, name) is not None
    )


def _plan_nodes(sql: str, params: list, *, subplan: str | None = None, without_initplans: bool = False) -> list[dict]:
    """The plan's nodes; with `subplan`, only those of that part (e.g. "CTE p"); with
    `without_initplans`, none of the InitPlans' (numberMatched's count is one)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    root = plan[0]["Plan"]
    if subplan is not None:
        found = [node for node in _plan_nodes(sql, params) if node.get("Subplan Name") == subplan]
        if not found:
            return [root]  # folded away (a user who sees nothing): the root tells
        root = found[0]
    nodes, stack = [], [root]
    while stack:
        node = stack.pop()
        if without_initplans and node.get("Parent Relationship") == "InitPlan":
            continue
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes


def _gist_index(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef ILIKE '%%USING gist (%%' "
            "AND indexdef NOT ILIKE '%%geography%%'",
            [table],
        )
        [(name,)] = cursor.fetchall()
    return name


def _created_at_index(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%%btree (created_at)'", [table]
        )
        [(name,)] = cursor.fetchall()
    return name


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _assert_index_led(nodes: list[dict], table: str, index: str, *, sees_nothing: bool, what: str) -> None:
    if sees_nothing:
        # The selector knows the user sees nothing of the layer: a constant-false filter.
        assert any(node.get("One-Time Filter") == "false" for node in nodes), what
        return
    scans = [node for node in nodes if node.get("Relation Name") == table]
    assert not [node for node in scans if node["Node Type"] == "Seq Scan"], what
    assert any(node.get("Index Name") == index for node in scans), what


@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_tile_and_bbox_queries_are_led_by_the_spatial_index_for_every_role(layer_name):
    templates, users = _world()
    table = _grow(layer_name, templates)
    index = _gist_index(table)
    layer = LAYERS[layer_name]
    template = templates[layer_name]
    x, y = _tile_of(*INSIDE, 14)
    for role in ROLES:
        user = users[role]
        sees_nothing = role == "utility_company" and layer_name == "inspections"
        tile_sql, tile_params = Query(layer=layer, user=user).tile_sql(z=14, x=x, y=y)
        nodes = _plan_nodes(tile_sql, tile_params)
        _assert_index_led(nodes, table, index, sees_nothing=sees_nothing, what=f"tile, {role}")
        page_sql, page_params = Query(layer=layer, user=user, bbox=BBOX).page_sql(limit=1000, offset=0)
        nodes = _plan_nodes(page_sql, page_params)
        _assert_index_led(nodes, table, index, sees_nothing=sees_nothing, what=f"bbox page, {role}")
        # The answers are still the user's: the template is the one visible row in the box.
        matched = Query(layer=layer, user=user, bbox=BBOX).page(limit=1000, offset=0).matched
        assert matched == (0 if sees_nothing else 1), (role, matched)
        # Property filters (queryables) and a box in another CRS go into the same candidate
        # query: the spatial index still leads.
        filtered = Query(
            layer=layer, user=user, bbox=MERCATOR_BBOX, bbox_crs=WEB_MERCATOR, filters=_filters(layer, template)
        )
        nodes = _plan_nodes(*filtered.page_sql(limit=1000, offset=0))
        _assert_index_led(nodes, table, index, sees_nothing=sees_nothing, what=f"filtered bbox page, {role}")
        matched = filtered.page(limit=1000, offset=0).matched
        assert matched == (0 if sees_nothing else 1), (role, matched)
        # A page without a box walks the created_at index and stops after the page (issue 11:
        # it read, sorted and counted every visible row).
        page = Query(layer=layer, user=user).page_sql(limit=1000, offset=0)
        # The page of ids ("CTE p") where features are joined back on id; the page itself
        # (everything but numberMatched's count) where the selector's query builds them.
        joined_back = any(node.get("Subplan Name") == "CTE p" for node in _plan_nodes(*page))
        nodes = _plan_nodes(*page, subplan="CTE p") if joined_back else _plan_nodes(*page, without_initplans=True)
        _assert_index_led(nodes, table, _created_at_index(table), sees_nothing=sees_nothing, what=f"page, {role}")
        # numberMatched reads at most NUMBER_MATCHED_MAX + 1 rows.
        counts = [node for node in _plan_nodes(*page) if node.get("Subplan Name", "").startswith("InitPlan")]
        assert sees_nothing or any(node["Plans"][0]["Node Type"] == "Limit" for node in counts if "Plans" in node), role
