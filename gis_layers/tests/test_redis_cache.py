"""mobile_api.redis_cache.RedisCache: Django's Redis cache with one redis client per pool, against
a real Redis (REDIS_URL, else the local default; skipped when there is none)."""

import os
import threading
import uuid

import pytest

from mobile_api.redis_cache import RedisCache


@pytest.fixture
def redis_cache():
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    prefix = f"test-layers-{uuid.uuid4().hex}"
    cache = RedisCache(url, {"KEY_PREFIX": prefix, "TIMEOUT": 60})
    try:
        cache.get("ping")
    except Exception as error:  # noqa: BLE001 - any connection failure means no Redis here
        pytest.skip(f"no Redis at {url}: {error}")
    yield cache
    # Only this test's keys (cache.clear() would empty the whole database, shared with others).
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_it_keeps_one_client_and_behaves_as_djangos(redis_cache):
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client(write=False) is client
    entry = (
        200,
        "application/vnd.mapbox-vector-tile",
        (("Content-Encoding", "gzip"),),
        b"\x1f\x8b" + bytes(range(256)),
    )
    assert redis_cache.get("k") is None
    redis_cache.set("k", entry, 30)
    assert redis_cache.get("k") == entry
    assert redis_cache.add("n", 1, 30) is True
    assert redis_cache.incr("n") == 2
    assert redis_cache.get_many(["k", "n", "absent"]) == {"k": entry, "n": 2}
    redis_cache.delete("k")
    assert redis_cache.get("k") is None


def test_threads_share_it_safely(redis_cache):
    redis_cache.set("counter", 0, 30)
    errors = []

    def work(n):
        try:
            for i in range(50):
                redis_cache.set(f"t{n}-{i}", (n, i), 30)
                assert redis_cache.get(f"t{n}-{i}") == (n, i)
                redis_cache.incr("counter")
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert redis_cache.get("counter") == 400
