"""The per-user API rate (REST_FRAMEWORK "user" rate): counted per window, exact under races,
refused with a 429 problem whose Retry-After says when one more request passes."""

import os
import threading
import uuid
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from backend.accounts.tests.factories import UserFactory
from mobile_api.redis_cache import RedisCache as KeptClientRedisCache
from mobile_api.throttling import UserWindowRateThrottle

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me/"
# A window boundary (3/min: windows start at multiples of 60 s).
START = 60.0 * 29_000_000


def rest_framework_with_user_rate(rate: str) -> dict:
    return {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": rate},
    }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(START + 10)
    monkeypatch.setattr(UserWindowRateThrottle, "timer", staticmethod(clock))
    return clock


@pytest.fixture
def signed_in(api_client):
    api_client.force_authenticate(UserFactory())
    return api_client


def assert_throttled(response, retry_after: int) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(retry_after)
    assert response.json() == {
        "type": "/problems/throttled",
        "title": "Too Many Requests",
        "status": 429,
        "detail": f"Too many requests; retry in {retry_after} seconds.",
        "code": "throttled",
        "retry_after": retry_after,
    }


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_the_request_past_the_rate_is_429_with_the_seconds_until_one_more_passes(signed_in, clock):
    for _ in range(3):
        assert signed_in.get(ME).status_code == 200
    clock.now = START + 10.2
    # 49.8 s to the next window, then 20 s until a third of these 3 has slid out: 69.8, rounded up.
    assert_throttled(signed_in.get(ME), 70)
    clock.now = START + 79.9
    assert_throttled(signed_in.get(ME), 1)
    clock.now = START + 80
    assert signed_in.get(ME).status_code == 200


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_the_previous_window_counts_for_the_share_still_inside_the_last_minute(signed_in, clock):
    for _ in range(3):
        assert signed_in.get(ME).status_code == 200
    # Next window, at its start: the 3 earlier requests still count whole.
    clock.now = START + 60
    assert_throttled(signed_in.get(ME), 20)
    # After 20 s a third of them has slid out: 3 × 2/3 + 1 <= 3.
    clock.now = START + 80
    assert signed_in.get(ME).status_code == 200
    assert_throttled(signed_in.get(ME), 20)  # 2 + 1 counted: the old share must fall to 1 (40 s in)


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_refused_requests_do_not_count(signed_in, clock):
    for _ in range(3):
        signed_in.get(ME)
    for _ in range(20):
        assert signed_in.get(ME).status_code == 429
    clock.now = START + 80
    assert signed_in.get(ME).status_code == 200


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_each_user_has_their_own_count(api_client, clock):
    first, second = UserFactory(), UserFactory()
    api_client.force_authenticate(first)
    for _ in range(3):
        api_client.get(ME)
    assert api_client.get(ME).status_code == 429
    api_client.force_authenticate(second)
    assert api_client.get(ME).status_code == 200


def test_the_api_uses_the_counting_throttle():
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["mobile_api.throttling.UserWindowRateThrottle"]


def _redis_cache(backend=KeptClientRedisCache):
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    redis_cache = backend(url, {"KEY_PREFIX": f"test-throttle-{uuid.uuid4().hex}"})
    try:
        redis_cache.get("ping")
    except Exception as error:  # noqa: BLE001 - any connection failure means no Redis here
        pytest.skip(f"no Redis at {url}: {error}")
    return redis_cache


@pytest.fixture(params=["default", "redis", "django-redis"])
def throttle_cache(request):
    """The cache the tests configure (CACHES, local memory unless REDIS_URL), a real Redis through
    the API's cache (one round trip per request) and through Django's own (add/incr/get)."""
    if request.param == "default":
        return default_cache
    return _redis_cache(KeptClientRedisCache if request.param == "redis" else RedisCache)


def _throttle(throttle_cache) -> UserWindowRateThrottle:
    throttle = UserWindowRateThrottle()
    throttle.cache = throttle_cache
    return throttle


def _contend_for_the_last_place(throttle_cache, request, threads: int) -> int:
    """How many of `threads` requests released at once are let through."""
    barrier = threading.Barrier(threads)
    passed = []

    def contend():
        throttle = _throttle(throttle_cache)
        barrier.wait()
        if throttle.allow_request(request, None):
            passed.append(1)

    workers = [threading.Thread(target=contend) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(passed)


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("5/min"))
def test_two_requests_at_once_never_both_take_the_last_place(throttle_cache, clock):
    for round_ in range(10):
        request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=f"racer-{uuid.uuid4().hex}"))
        for _ in range(4):
            assert _throttle(throttle_cache).allow_request(request, None)
        passed = _contend_for_the_last_place(throttle_cache, request, threads=16)
        assert passed == 1, f"round {round_}: {passed} requests took the last place"
        assert not _throttle(throttle_cache).allow_request(request, None)


class _ForgetfulCache:
    """A cache that keeps nothing it is given: `add` is refused and `incr` finds no key."""

    def incr(self, key, delta=1):
        raise ValueError(key)

    def add(self, key, value, timeout=None):
        return False

    def get(self, key, default=None):
        return default

    def decr(self, key, delta=1):
        raise ValueError(key)


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_a_cache_that_keeps_no_counter_lets_requests_through_instead_of_failing(signed_in, monkeypatch):
    monkeypatch.setattr(UserWindowRateThrottle, "cache", _ForgetfulCache())
    assert [signed_in.get(ME).status_code for _ in range(5)] == [200] * 5


def _decisions(throttle_cache, clock, moments) -> list[tuple[bool, float | None]]:
    """(allowed, Retry-After when refused) of one user's requests at each of `moments`."""
    request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=f"same-{uuid.uuid4().hex}"))
    decisions = []
    for moment in moments:
        clock.now = moment
        throttle = _throttle(throttle_cache)
        allowed = throttle.allow_request(request, None)
        decisions.append((allowed, None if allowed else throttle.wait()))
    return decisions


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_one_round_trip_counts_exactly_as_add_incr_and_get(clock):
    # Across two windows, with refusals (their places given back) and the previous window's share.
    moments = [START + 1, START + 2, START + 3, START + 4, START + 30, START + 61, START + 79, START + 85, START + 95]
    expected = _decisions(default_cache, clock, moments)
    assert expected.count((True, None)) == 4, expected
    assert _decisions(_redis_cache(RedisCache), clock, moments) == expected
    assert _decisions(_redis_cache(KeptClientRedisCache), clock, moments) == expected


@override_settings(REST_FRAMEWORK=rest_framework_with_user_rate("3/min"))
def test_with_redis_a_request_costs_one_round_trip_and_its_counter_expires(clock, monkeypatch):
    redis_cache = _redis_cache()
    client = redis_cache._cache.get_client(write=True)
    connection_class = client.connection_pool.connection_class
    sent = []
    original = connection_class.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(connection_class, "send_packed_command", counted)
    request = SimpleNamespace(user=SimpleNamespace(is_authenticated=True, pk=f"trips-{uuid.uuid4().hex}"))
    for expected_place in (1, 2):
        sent.clear()
        throttle = _throttle(redis_cache)
        assert throttle.allow_request(request, None)
        assert len(sent) == 1
        assert (throttle.current, throttle.previous) == (expected_place, 0)
    monkeypatch.setattr(connection_class, "send_packed_command", original)
    name = f"throttle_user_{request.user.pk}_w{int(clock.now // 60)}"
    # Created with the window's timeout (two windows and a second), which later counts keep.
    assert 120 < client.ttl(redis_cache.make_and_validate_key(name)) <= 121
    # The same integer Django's own cache calls read and count.
    assert redis_cache.get(name) == 2
    assert redis_cache.incr(name) == 3
