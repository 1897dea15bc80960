"""The API's per-user request rate (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"], API_THROTTLE_RATE).

DRF's `UserRateThrottle` keeps every timestamp of the last window (up to 6,000 at 6000/min) as one
cache value that each request reads and writes back whole: ~50 KB each way per request with Redis,
and two requests at once both read the same list and one write wins, so it under-counts.

`UserWindowRateThrottle` counts instead, with the sliding two-window estimate: a counter per user
per fixed window (`cache.add` + `cache.incr`, atomic in Redis and in the local-memory cache; with
Redis one MULTI/EXEC that also reads the previous window's count), and a request passes while

    previous window's count × (share of the previous window still inside the sliding window)
    + this window's count (this request included)  <=  the rate's number of requests.

Each request's `incr` hands it its own place in the window, so two requests can never both take
the last slot; a refused request gives its place back (`decr`), so hammering while refused does not
lengthen the wait. Retry-After is the time until the estimate lets one more request through.
"""

import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

logger = logging.getLogger(__name__)


class UserWindowRateThrottle(UserRateThrottle):
    """Same scope ("user"), identity (user id, or client address when anonymous) and rate as
    DRF's `UserRateThrottle`; O(1) cache work per request (one Redis round trip)."""

    def get_rate(self) -> str | None:
        # Read at call time (the class attribute is frozen at import), so settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident_key = self.get_cache_key(request, view)
        if ident_key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.elapsed = self.now - window * self.duration
        key = f"{ident_key}_w{window}"
        self.current, self.previous = self._count(key, f"{ident_key}_w{window - 1}")
        if self._estimate(self.current) <= self.num_requests:
            return True
        self._give_back(key)
        self.current -= 1
        return False

    def get_cache_key(self, request, view) -> str | None:
        """The user's counter prefix, without the window (`allow_request` appends it)."""
        if request.user and request.user.is_authenticated:
            ident = request.user.pk
        else:
            ident = self.get_ident(request)
        return f"throttle_{self.scope}_{ident}"

    def _count(self, key: str, previous_key: str) -> tuple[int, int]:
        """(this request's place in the window's counter, the previous window's count): one
        round trip with the Redis cache (mobile_api.redis_cache.RedisCache.count_and_get),
        else (local memory in tests and development) `add`/`incr` and `get`."""
        # Kept two windows: the next window still reads it as its previous one.
        timeout = 2 * self.duration + 1
        count_and_get = getattr(self.cache, "count_and_get", None)
        if count_and_get is not None:
            return count_and_get(key, timeout, previous_key)
        return self._take_place(key, timeout), int(self.cache.get(previous_key, 0))

    def _take_place(self, key: str, timeout: int) -> int:
        """This request's place in the window's counter (1 for the first request)."""
        # Well past the window's last incr: a cache whose incr is EXISTS then INCR (Django's Redis
        # cache) could, on an INCR landing just after expiry, leave a counter without a timeout.
        for _ in range(3):
            try:
                return int(self.cache.incr(key))
            except ValueError:
                pass  # the window's first request (or the counter was evicted)
            if self.cache.add(key, 1, timeout):
                return 1
            # Another request created it between the two: count on it.
        # A cache that neither keeps nor counts the key (evicting it at once): the rate cannot be
        # counted, and refusing everyone, or a 500, would be worse than letting this one through.
        logger.warning("Throttle counter %s could not be created; request not counted", key)
        return 1

    def _give_back(self, key: str) -> None:
        """A refused request's place is not counted (unless the counter is already gone)."""
        try:
            self.cache.decr(key)
        except ValueError:
            pass

    def _estimate(self, current: int) -> float:
        """Requests counted in the sliding window ending now, with `current` in this window."""
        return self.previous * (1 - self.elapsed / self.duration) + current

    def wait(self) -> float:
        """Seconds until one more request would pass, to the millisecond (so 20.000000000000004
        does not become a Retry-After of 21)."""
        return round(self._wait(), 3)

    def _wait(self) -> float:
        limit = self.num_requests
        room = limit - self.current - 1  # what the previous window's share must shrink to
        if room >= 0:
            # Within this window: previous × (1 − (elapsed + w) / duration) <= room.
            if self.previous <= 0:
                return 0.0
            return max(0.0, self.duration * (1 - room / self.previous) - self.elapsed)
        # Only the next window helps: this window becomes its previous one, nothing counted yet.
        until_next = self.duration - self.elapsed
        if limit <= 0:
            return until_next
        later = self.duration * (1 - (limit - 1) / self.current)
        return until_next + max(0.0, later)
