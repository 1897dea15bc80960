"""Django's Redis cache, keeping its redis.Redis client instead of building one per call.

django.core.cache.backends.redis.RedisCacheClient.get_client() constructs `redis.Redis(
connection_pool=pool)` for every get/set/incr; the constructor fills a case-insensitive table of
~170 response callbacks (redis-py 5), ~0.17 ms of Python each time, more than the round trip to
a local Redis. An answer cache hit makes one call. A redis.Redis holds no connection of its own
(each command takes one from the pool and gives it back), so one client per pool is what
redis-py intends; the cache object (one per thread, as Django's caches are) keeps it.

It also counts in one round trip (`count_and_get`, for the API's rate throttle), where Django's
`add`, `incr` (EXISTS then INCR) and `get` cost a round trip each.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def count_and_get(self, key: str, timeout: int, other: str) -> tuple[int, int]:
        """(`key`'s counter after adding 1, `other`'s counter or 0), in one round trip: a
        MULTI/EXEC of SET NX (a new counter starts at 0 with `timeout` seconds to live, as
        `add` would set it), INCR and GET, so no expiry can fall between the creation and the
        count. The counters are the integers Django's `add`/`incr`/`get` read and write."""
        counter = self.make_and_validate_key(key)
        client = self._cache.get_client(counter, write=True)
        pipeline = client.pipeline(transaction=True)
        pipeline.set(counter, 0, ex=timeout, nx=True)
        pipeline.incr(counter)
        pipeline.get(self.make_and_validate_key(other))
        _, count, previous = pipeline.execute()
        return int(count), 0 if previous is None else int(previous)
