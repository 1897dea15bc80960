"""The server-side answer cache (mobile_api.answer_cache) of tiles, OGC items and nearby points:
a hit is the live answer byte for byte, headers included; any write or scope change makes the
next request live; users never share entries; `Cache-Control: no-cache`/`no-store` bypass it;
a failing cache answers live with a warning; an answer over the size bound is not stored.

A hit is recognised by its statements: it reads the change counter and nothing else."""

import gzip
import logging
import math
import uuid

import pytest
from django.contrib.gis.geos import Point
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from backend.accounts.models import Role, UtilityType
from backend.accounts.tests.factories import UserFactory
from backend.layers.changes import CURRENT_SQL
from backend.utilities.services import utility_point_create
from backend.utilities.tests.factories import utility_world
from gis_layers.layers import CGCS2000
from mobile_api import answer_cache

pytestmark = pytest.mark.django_db

HERE = (120.171, 35.961)
ITEMS = "/ogc/collections/utility_points/items"
NEARBY = "/api/v1/utility-points/nearby/"
# Headers a hit must repeat exactly (middleware adds the rest alike on both).
HEADERS = (
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Vary",
    "Content-Encoding",
    "Content-Type",
    "Content-Crs",
    "Allow",
)


class BrokenCache(BaseCache):
    """A cache whose server is down: every call raises."""

    def __init__(self, location, params):
        super().__init__(params)

    def get(self, key, default=None, version=None):
        raise ConnectionError("cache down")

    def set(self, key, value, timeout=None, version=None):
        raise ConnectionError("cache down")

    def clear(self):
        pass


@pytest.fixture(autouse=True)
def _empty_layers_cache():
    caches[answer_cache.ALIAS].clear()
    yield
    caches[answer_cache.ALIAS].clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _tile_path(lon=HERE[0], lat=HERE[1], z=14) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"/tiles/utility_points/{z}/{x}/{y}.mvt"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _point(world, utility_type=UtilityType.WATER, lon=HERE[0], lat=HERE[1], name="P"):
    point, _ = utility_point_create(
        case=world.case, utility_type=utility_type, location=Point(lon, lat, srid=4326), name=name, by=None
    )
    return point


def _get(client, path, params=None, **headers):
    """(response, statements run, whether it was a hit)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params, **headers)
    statements = [q["sql"] for q in queries.captured_queries]
    return response, statements, statements == [CURRENT_SQL]


def _age_the_last_change(seconds: int = 3600) -> None:
    # Last-Modified is only sent once the change's second is over: make it old, so both answers carry it.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE gis_layers_change SET changed_at = now() - make_interval(secs => %s)", [seconds])


def _same(miss, hit) -> None:
    assert hit.status_code == miss.status_code
    assert hit.content == miss.content
    for name in HEADERS:
        assert hit.get(name) == miss.get(name), name


REQUESTS = [
    pytest.param(_tile_path(), {}, {"HTTP_ACCEPT_ENCODING": "gzip"}, id="tile-z14-gzip"),
    pytest.param(_tile_path(), {}, {}, id="tile-z14-identity"),
    pytest.param(_tile_path(z=10), {}, {"HTTP_ACCEPT_ENCODING": "gzip, deflate"}, id="tile-z10-cells"),
    pytest.param(_tile_path(lon=121.5), {}, {}, id="tile-empty-204"),
    pytest.param(ITEMS, {"limit": "2"}, {"HTTP_ACCEPT_ENCODING": "gzip"}, id="items-gzip"),
    pytest.param(
        ITEMS,
        {"bbox": "35.9,120.1,36.0,120.2", "bbox-crs": CGCS2000.uri, "crs": CGCS2000.uri},
        {},
        id="items-cgcs2000",
    ),
    pytest.param(NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}, {}, id="nearby"),
    pytest.param(
        NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}, {"HTTP_X_COORD_SYSTEM": "gcj02"}, id="nearby-gcj02"
    ),
]


@pytest.mark.parametrize(("path", "params", "headers"), REQUESTS)
def test_a_hit_is_the_live_answer_byte_for_byte(path, params, headers):
    world = utility_world()
    for i in range(30):  # enough for a tile and a page worth gzipping
        _point(world, lon=HERE[0] + i * 1e-5, name=f"水表 {i}")
    client = _client(world.official)
    _age_the_last_change()
    miss, statements, was_hit = _get(client, path, params, **headers)
    assert miss.status_code in (200, 204), miss.content
    assert not was_hit and len(statements) >= 2
    hit, statements, was_hit = _get(client, path, params, **headers)
    assert was_hit, statements
    _same(miss, hit)
    # And a live answer now (the bypass), with the same headers, is that answer too.
    live, statements, was_hit = _get(client, path, params, HTTP_CACHE_CONTROL="no-cache", **headers)
    assert not was_hit
    if path == ITEMS:  # its timeStamp is the time it was made
        unzip = gzip.decompress if hit.get("Content-Encoding") == "gzip" else bytes
        assert unzip(live.content).split(b'"timeStamp"')[0] == unzip(hit.content).split(b'"timeStamp"')[0]
        assert {name: live.get(name) for name in HEADERS} == {name: hit.get(name) for name in HEADERS}
    else:
        _same(live, hit)


def test_the_encoding_is_part_of_the_key():
    world = utility_world()
    for i in range(30):
        _point(world, lon=HERE[0] + i * 1e-5)
    client = _client(world.official)
    zipped, _, _ = _get(client, _tile_path(), HTTP_ACCEPT_ENCODING="gzip")
    plain, _, was_hit = _get(client, _tile_path())
    assert not was_hit
    assert zipped["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain
    assert gzip.decompress(zipped.content) == plain.content


@pytest.mark.parametrize("kind", ["tile", "items", "nearby"])
def test_a_rest_write_makes_the_next_request_live_and_current(kind):
    world = utility_world()
    _point(world, name="first")
    client = _client(world.surveyor)
    path, params = {
        "tile": (_tile_path(), {}),
        "items": (ITEMS, {}),
        "nearby": (NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}),
    }[kind]
    before, _, _ = _get(client, path, params)
    assert _get(client, path, params)[2]  # cached
    created = client.post(
        "/api/v1/utility-points/",
        {"case": str(world.case.pk), "utility_type": "power", "location": {"type": "Point", "coordinates": [*HERE]}},
        format="json",
    )
    assert created.status_code == 201, created.content
    after, _, was_hit = _get(client, path, params)
    assert not was_hit
    assert after.content != before.content
    if kind == "tile":
        assert created.json()["id"].encode() in after.content
    elif kind == "items":
        assert {f["id"] for f in after.json()["features"]} == {f["id"] for f in before.json()["features"]} | {
            created.json()["id"]
        }
    else:
        assert after.json()["count"] == before.json()["count"] + 1 == 2


@pytest.mark.parametrize("kind", ["tile", "items", "nearby"])
def test_a_scope_change_makes_the_next_request_live(kind):
    world = utility_world()
    point = _point(world)
    outsider = world.other_crew_surveyor  # their crew is not on the case
    client = _client(outsider)
    path, params = {
        "tile": (_tile_path(), {}),
        "items": (ITEMS, {}),
        "nearby": (NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}),
    }[kind]
    before, _, _ = _get(client, path, params)
    assert _get(client, path, params)[2]
    world.case.assigned_organizations.add(outsider.organization)
    after, _, was_hit = _get(client, path, params)
    assert not was_hit
    if kind == "tile":
        assert (before.status_code, after.status_code) == (204, 200)
        assert str(point.pk).encode() in after.content
    elif kind == "items":
        assert (before.json()["features"], [f["id"] for f in after.json()["features"]]) == ([], [str(point.pk)])
    else:
        assert (before.json()["count"], [p["id"] for p in after.json()["results"]]) == (0, [str(point.pk)])


def test_a_company_rename_makes_nearby_live():
    # Nearby points carry their company's name: renaming it is a change the cache must see.
    world = utility_world()
    _point(world)
    client = _client(world.official)
    params = {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}
    assert _get(client, NEARBY, params)[0].json()["results"][0]["company_name"] == "water公司"
    assert _get(client, NEARBY, params)[2]
    company = world.companies[UtilityType.WATER]
    company.name = "自来水公司"
    company.save(update_fields=["name"])
    after, _, was_hit = _get(client, NEARBY, params)
    assert not was_hit
    assert after.json()["results"][0]["company_name"] == "自来水公司"


@pytest.mark.parametrize("kind", ["tile", "items", "nearby"])
def test_users_with_different_scopes_never_share_an_entry(kind):
    world = utility_world()
    water, power = _point(world, UtilityType.WATER), _point(world, UtilityType.POWER)
    world.case.assigned_organizations.add(world.companies[UtilityType.WATER])
    admin = UserFactory(organization=None, roles=[Role.ADMINISTRATOR])
    users = {
        "admin": admin,
        "crew": world.surveyor,
        "company": world.company_users[UtilityType.WATER],
        "other_crew": world.other_crew_surveyor,
    }
    expected = {
        "admin": {water.pk, power.pk},
        "crew": {water.pk, power.pk},
        "company": {water.pk},
        "other_crew": set(),
    }
    path, params = {
        "tile": (_tile_path(), {}),
        "items": (ITEMS, {}),
        "nearby": (NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}),
    }[kind]

    def ids(response) -> set:
        if kind == "tile":
            return {p.pk for p in (water, power) if str(p.pk).encode() in response.content}
        if kind == "items":
            return {uuid.UUID(f["id"]) for f in response.json()["features"]}
        return {uuid.UUID(p["id"]) for p in response.json()["results"]}

    # Twice round: the first fills each user's entry, the second reads them.
    for round_ in range(2):
        for name, user in users.items():
            response, _, was_hit = _get(_client(user), path, params)
            assert was_hit is (round_ == 1), name
            assert ids(response) == expected[name], (name, round_)


def test_no_cache_computes_live_and_refills_and_no_store_keeps_nothing():
    world = utility_world()
    _point(world)
    client = _client(world.official)
    path = _tile_path()
    first, _, was_hit = _get(client, path, HTTP_CACHE_CONTROL="no-cache")
    assert (first.status_code, was_hit) == (200, False)
    assert _get(client, path)[2]  # refilled by the bypass
    assert not _get(client, path, HTTP_CACHE_CONTROL="no-cache")[2]
    assert not _get(client, path, HTTP_CACHE_CONTROL="max-age=0, No-Store")[2]

    for other in (ITEMS, NEARBY):
        params = {"lon": HERE[0], "lat": HERE[1], "radius_m": 500} if other == NEARBY else {}
        assert not _get(client, other, params, HTTP_CACHE_CONTROL="no-store")[2]
        assert not _get(client, other, params)[2]  # no-store kept nothing
        assert _get(client, other, params)[2]
        assert not _get(client, other, params, HTTP_CACHE_CONTROL="no-cache")[2]


def test_a_revalidation_that_does_not_match_is_served_from_the_cache():
    world = utility_world()
    _point(world)
    client = _client(world.official)
    first, _, _ = _get(client, _tile_path())
    again, _, was_hit = _get(client, _tile_path(), HTTP_IF_NONE_MATCH='"stale"')
    assert was_hit
    _same(first, again)
    assert _get(client, _tile_path(), HTTP_IF_NONE_MATCH=first["ETag"])[0].status_code == 304


@pytest.mark.parametrize(
    "backend",
    ["gis_layers.tests.test_answer_cache.BrokenCache", "django.core.cache.backends.dummy.DummyCache"],
    ids=["raises", "keeps-nothing"],
)
def test_a_failing_cache_answers_live(settings, caplog, backend):
    world = utility_world()
    point = _point(world)
    client = _client(world.official)
    settings.CACHES = {**settings.CACHES, answer_cache.ALIAS: {"BACKEND": backend}}
    caplog.set_level(logging.WARNING, logger="mobile_api.answer_cache")
    for path, params in [
        (_tile_path(), {}),
        (ITEMS, {}),
        (NEARBY, {"lon": HERE[0], "lat": HERE[1], "radius_m": 500}),
    ]:
        for _ in range(2):
            response, _, was_hit = _get(client, path, params)
            assert (response.status_code, was_hit) == (200, False), response.content
            assert str(point.pk).encode() in response.content
    warnings = [r.getMessage() for r in caplog.records if r.name == "mobile_api.answer_cache"]
    if backend.endswith("BrokenCache"):
        # Each request: the read failed, then the write.
        assert len(warnings) == 12
        assert warnings[0] == "Layer answer cache unavailable on read; answering live"
        assert warnings[1].startswith("Layer answer cache refused an entry of ")
    else:
        assert warnings == []


def test_an_answer_over_the_size_bound_is_not_stored(settings):
    world = utility_world()
    _point(world)
    client = _client(world.official)
    tile, _, _ = _get(client, _tile_path())
    size = len(tile.content)
    settings.LAYERS_CACHE_MAX_BYTES = size - 1
    caches[answer_cache.ALIAS].clear()
    assert not _get(client, _tile_path())[2]
    assert not _get(client, _tile_path())[2]  # not stored
    settings.LAYERS_CACHE_MAX_BYTES = size
    assert not _get(client, _tile_path())[2]
    assert _get(client, _tile_path())[2]  # exactly the bound is stored


def test_errors_are_never_stored():
    world = utility_world()
    client = _client(world.official)
    for _ in range(2):
        response = client.get(ITEMS, {"limit": "0"})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_limit")
    assert len(caches[answer_cache.ALIAS]._cache) == 0


def test_off_when_the_ttl_is_zero(settings):
    settings.LAYERS_CACHE_SECONDS = 0
    world = utility_world()
    _point(world)
    client = _client(world.official)
    for path in (_tile_path(), ITEMS):
        for _ in range(2):
            assert not _get(client, path)[2]
    assert len(caches[answer_cache.ALIAS]._cache) == 0


def test_the_openapi_documents_the_cache_and_its_bypass():
    from mobile_api.utilities.views import NEARBY_DESCRIPTION

    assert NEARBY_DESCRIPTION.endswith("\n\n" + answer_cache.OPENAPI_NOTE)
    schema = APIClient().get("/api/schema/?format=json").json()
    operations = {
        operation["operationId"]: operation
        for methods in schema["paths"].values()
        for operation in methods.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    nearby = next(op for op_id, op in operations.items() if "nearby" in op_id)
    for operation in (operations["ogc_items"], operations["tiles_tile"], nearby):
        assert answer_cache.OPENAPI_NOTE in operation["description"]
        assert "`Cache-Control: no-cache`" in operation["description"]


def test_new_code_never_meets_the_entries_of_the_old(monkeypatch):
    # A shared Redis outlives a deploy: the key holds a hash of the source.
    assert len(answer_cache.code_version()) == 16
    world = utility_world()
    _point(world)
    client = _client(world.official)
    _get(client, _tile_path())
    assert _get(client, _tile_path())[2]
    monkeypatch.setattr(answer_cache, "code_version", lambda: "0" * 16)
    assert not _get(client, _tile_path())[2]
    assert _get(client, _tile_path())[2]
