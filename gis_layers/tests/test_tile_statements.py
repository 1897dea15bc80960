"""A tile of features reuses the statement compiled for its layer, user and change counter
(gis_layers.layers.FEATURE_TILE_STATEMENTS): bound to a tile it is the statement compiled
for that tile, and it never serves one user's scope to another or outlives a scope change."""

import math

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import user_of_kind
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.layers import changes
from backend.sites.tests.factories import SiteFactory
from gis_layers.layers import FEATURE_TILE_STATEMENTS, LAYERS, Query

pytestmark = pytest.mark.django_db


def _official(region="370211"):
    return user_of_kind(OrganizationKind.APPROVAL_DEPARTMENT, roles=[Role.OFFICIAL], region=region)


def _zxy(lon=120.171, lat=35.9607, z=14) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def _get(user, zxy):
    client = APIClient()
    client.force_authenticate(user)
    return client.get("/tiles/sites/{}/{}/{}.mvt".format(*zxy))


@pytest.fixture(autouse=True)
def _empty_cache():
    FEATURE_TILE_STATEMENTS.clear()
    yield
    FEATURE_TILE_STATEMENTS.clear()


def test_a_bound_statement_is_the_tiles_own_and_answers_the_same():
    SiteFactory(case=ApprovalCaseFactory())
    query = Query(layer=LAYERS["sites"], user=_official())
    version = changes.current()[0]
    for z, x, y in [_zxy(), _zxy(z=12), _zxy(lon=120.2, z=16)]:
        assert FEATURE_TILE_STATEMENTS.get(query, version).bind(z=z, x=x, y=y) == query.tile_sql(z=z, x=x, y=y)
        assert query.tile(z=z, x=x, y=y, version=version) == query.tile(z=z, x=x, y=y)
    assert query.tile(z=14, x=_zxy()[1], y=_zxy()[2], version=version) != b""


def test_one_users_statement_is_never_anothers():
    SiteFactory(case=ApprovalCaseFactory())  # region 370211
    inside, outsider = _official(), _official(region="370100")
    for _ in range(2):  # the second round from the compiled statements
        assert _get(inside, _zxy()).status_code == 200
        assert _get(outsider, _zxy()).status_code == 204
    assert _get(outsider, _zxy(z=15)).status_code == 204


def test_a_scope_change_compiles_afresh():
    case = ApprovalCaseFactory()
    SiteFactory(case=case)
    outsider = _official(region="370100")
    assert _get(outsider, _zxy()).status_code == 204
    case.assigned_organizations.add(outsider.organization)
    assert _get(outsider, _zxy()).status_code == 200
    outsider.organization = user_of_kind(OrganizationKind.BUILDER).organization
    outsider.save(update_fields=["organization"])
    assert _get(outsider, _zxy()).status_code == 204


def test_an_unconditional_tile_is_one_query_and_answers_as_a_revalidated_one(django_assert_num_queries):
    case = ApprovalCaseFactory()
    SiteFactory(case=case)
    user = _official()
    client = APIClient()
    client.force_authenticate(user)
    path = "/tiles/sites/{}/{}/{}.mvt".format(*_zxy())
    first = client.get(path)  # compiles the user's statement
    with django_assert_num_queries(1):  # the change counter and the tile in one statement
        again = client.get(path)
    assert (again.status_code, again.content, again["ETag"]) == (200, first.content, first["ETag"])
    assert again["Cache-Control"] == first["Cache-Control"]
    assert again.get("Last-Modified") == first.get("Last-Modified")
    assert client.get(path, HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304

    # A change moves the counter: the compiled statement is not used for the new data.
    SiteFactory(case=case)
    changed = client.get(path)
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
    assert len(changed.content) > len(first.content)
    assert changed.content == client.get(path, HTTP_IF_NONE_MATCH=first["ETag"]).content
