"""The login failure limit, one rule for every way a password is checked.

`POST /api/v1/auth/token`, HTTP Basic on /ogc/ and /tiles/, the admin's and the web map's login
forms all verify a password through `login_limited`, so none of them is a way around
LOGIN_THROTTLE_RATE.
"""

import hashlib
import math
from collections.abc import Callable
from typing import Any, TypeVar

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from backend.common.errors import ApplicationError

T = TypeVar("T")


class LoginFailureThrottle(SimpleRateThrottle):
    """Failed logins per username and client address, at the "login" rate (LOGIN_THROTTLE_RATE).

    Only failures are counted, so a user who logs in correctly is never locked out by their own
    successes; the history lives in the default cache (Redis when REDIS_URL is set, so all
    workers share it). The client address is DRF's `get_ident` (REMOTE_ADDR, or X-Forwarded-For
    according to REST_FRAMEWORK["NUM_PROXIES"]).
    """

    scope = "login"

    def get_rate(self) -> str:
        # Read at call time (the class attribute is frozen at import), so settings overrides apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view=None, *, username: str | None = None) -> str:
        if username is None:
            username = str(request.data.get("username", ""))
        username = username.strip().lower()
        digest = hashlib.sha256(f"{username}\0{self.get_ident(request)}".encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}

    def allow_request(self, request, view=None, *, username: str | None = None) -> bool:
        """True while the scope has fewer failures than the rate allows; records nothing.

        `username` defaults to the one in the request body (`POST auth/token`).
        """
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view, username=username)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) < self.num_requests

    def record_failure(self) -> None:
        if self.rate is None:
            return
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history[: self.num_requests], self.duration)

    def wait(self) -> float:
        """Seconds until the oldest counted failure falls out of the window."""
        if not self.history:
            return 0.0
        return max(0.0, math.ceil(self.duration - (self.now - self.history[-1])))


class LoginThrottled(ApplicationError):
    """Too many failed logins for this username from this address; `retry_after` in seconds."""

    status = 429
    code = "throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed logins for this username from your address. Try again in {retry_after} seconds.",
            extra={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def login_limited(
    request: Any,
    *,
    username: str,
    verify: Callable[[], T],
    is_failure: Callable[[BaseException], bool],
) -> T:
    """Run `verify()` (which checks the password) under the failure limit and return its result.

    While the limit is reached the password is not even checked, so the right one does not log in
    either (LoginThrottled). An exception `is_failure` accepts is counted, then re-raised.
    """
    throttle = LoginFailureThrottle()
    if not throttle.allow_request(request, username=username):
        raise LoginThrottled(int(throttle.wait()))
    try:
        return verify()
    except Exception as error:
        if is_failure(error):
            throttle.record_failure()
        raise
