"""A device-token request reads the layers' change counter in its token's statement
(backend.accounts.selectors.device_token_get_active, backend.layers.changes.current(request)):
a cached answer or a 304 then costs that one statement, answers exactly as a request
authenticated otherwise (which reads the counter on its own), and a write is seen by the very
next request."""

import math

import pytest
from django.contrib.gis.geos import Point
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from backend.accounts.services import device_token_issue
from backend.layers.changes import CURRENT_SQL
from backend.utilities.services import utility_point_create
from backend.utilities.tests.factories import utility_world
from mobile_api import answer_cache

pytestmark = pytest.mark.django_db

HERE = (120.171, 35.961)
HEADERS = ("ETag", "Last-Modified", "Cache-Control", "Vary", "Content-Encoding", "Content-Type", "Content-Crs")


def _tile_path(z=14) -> str:
    n = 2**z
    x = int((HERE[0] + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(HERE[1]))) / math.pi) / 2 * n)
    return f"/tiles/utility_points/{z}/{x}/{y}.mvt"


NEARBY = "/api/v1/utility-points/nearby/"
REQUESTS = [
    pytest.param(_tile_path(), {}, id="tile"),
    pytest.param("/ogc/collections/utility_points/items", {"limit": "5"}, id="items"),
    pytest.param(NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}, id="nearby"),
]


@pytest.fixture(autouse=True)
def _empty_layers_cache():
    caches[answer_cache.ALIAS].clear()
    yield
    caches[answer_cache.ALIAS].clear()


def _point(world, name: str, offset: float = 0.0):
    utility_point_create(
        case=world.case,
        utility_type="water",
        location=Point(HERE[0] + offset, HERE[1], srid=4326),
        name=name,
        by=None,
    )


def _token_client(user) -> APIClient:
    raw, _ = device_token_issue(user=user, device_id="phone")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    client.get("/api/v1/users/me/")  # the token's first use records last_used_at (an UPDATE)
    return client


def _get(client, path, params, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params, **headers)
    return response, [query["sql"] for query in queries.captured_queries]


def _same(expected, response) -> None:
    assert (response.status_code, response.content) == (expected.status_code, expected.content)
    for name in HEADERS:
        assert response.get(name) == expected.get(name), name


@pytest.mark.parametrize(("path", "params"), REQUESTS)
def test_a_cached_answer_costs_the_token_statement_alone_and_a_write_is_seen_next(path, params):
    world = utility_world()
    _point(world, "一")
    user = world.official
    by_token = _token_client(user)
    forced = APIClient()
    forced.force_authenticate(user)

    live, _ = _get(by_token, path, params)
    assert live.status_code == 200
    hit, statements = _get(by_token, path, params)
    assert len(statements) == 1 and CURRENT_SQL in statements[0]  # the token's, with the counter
    _same(live, hit)
    # Authenticated otherwise, the counter is read on its own: the same entry, the same answer.
    elsewhere, statements = _get(forced, path, params)
    assert statements == [CURRENT_SQL]
    _same(live, elsewhere)
    if path != NEARBY:  # nearby carries no validators
        # A 304 costs the token's statement too.
        not_modified, statements = _get(by_token, path, params, HTTP_IF_NONE_MATCH=live["ETag"])
        assert not_modified.status_code == 304 and len(statements) == 1

    _point(world, "二", offset=1e-5)
    after, statements = _get(by_token, path, params)
    assert len(statements) > 1  # computed live, for the new version
    assert after.get("ETag") != live.get("ETag") or path == NEARBY
    assert after.content != live.content
    _same(_get(forced, path, params)[0], after)


def test_a_scope_change_is_seen_by_the_next_request_of_the_same_token():
    world = utility_world()
    _point(world, "一")
    user = world.company_users["gas"]  # a gas company's staff sees no water point
    client = _token_client(user)
    path = "/ogc/collections/utility_points/items"
    before = client.get(path)
    assert before.status_code == 200 and before.json()["numberReturned"] == 0
    user.organization = world.companies["water"]
    user.save(update_fields=["organization"])
    after = client.get(path)
    assert after.json()["numberReturned"] == 1
    assert after["ETag"] != before["ETag"]
