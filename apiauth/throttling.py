"""Per-token request rate limit (scope "token"); callers without a token are keyed by IP.

A sliding-window counter: one counter per caller per window, and the estimate
`previous window's count x the part of it still inside the sliding window + this window's count`.
DRF's SimpleRateThrottle keeps every request's timestamp in one cached list instead, read and
rewritten whole on each request: at the default 12,000/minute that is a list of up to 12,000
floats pickled twice per request, which cost more CPU than the rest of a GET. Here a request costs
one Redis round trip (INCR, EXPIRE and GET in one pipeline), or three cache calls on the
file-based cache of the embedded mode. Requests refused count too, so a caller that keeps
hammering while throttled stays throttled.
"""

import logging
import math
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

log = logging.getLogger(__name__)

_parse_rate = SimpleRateThrottle.parse_rate


SCOPE = "token"
KEY_FORMAT = "throttle:%(scope)s:%(ident)s:%(window)d"


def configured_rate() -> tuple[int | None, int | None]:
    """(requests, seconds) of the token scope's rate, read at call time so a changed setting
    takes effect."""
    return _parse_rate(None, api_settings.DEFAULT_THROTTLE_RATES.get(SCOPE))


def window_keys(ident: str, now: float, duration: int) -> tuple[str, str]:
    """The cache keys (before the cache's own prefix) of `ident`'s current and previous window."""
    window = int(now // duration)
    return (KEY_FORMAT % {"scope": SCOPE, "ident": ident, "window": window},
            KEY_FORMAT % {"scope": SCOPE, "ident": ident, "window": window - 1})


def decide(current: int, previous: int, *, now: float, rate: tuple[int, int]) -> float | None:
    """None when a request that brought this window's count to `current` is allowed, else the
    seconds until it would be."""
    num_requests, duration = rate
    elapsed = now / duration - int(now // duration)  # fraction of the current window gone by
    if previous * (1 - elapsed) + current <= num_requests:
        return None
    return seconds_until_allowed(current, previous, elapsed, num_requests, duration)


def consume(ident: str, *, now: float, rate: tuple[int | None, int | None]) -> float | None:
    """Counts one request of `ident` (`token-<id>` or `ip-<address>`); returns None when it is
    allowed, else the seconds until it would be. The API's hot path (birthday/hot_path/) counts
    in the same windows with `window_keys` and `decide`, in a round trip of its own."""
    num_requests, duration = rate
    if num_requests is None:
        return None
    current_key, previous_key = window_keys(ident, now, duration)
    try:
        current, previous = _count(current_key, previous_key, 2 * duration)
    except Exception:
        # The limiter lives in the cache; losing the cache must not take the API down.
        log.warning("throttle cache unreachable; allowing the request", exc_info=True)
        return None
    return decide(current, previous, now=now, rate=rate)


def seconds_until_allowed(current: int, previous: int, elapsed: float, num_requests: int, duration: int) -> float:
    # Within this window the estimate falls only as the previous window slides out; if this
    # window alone is over the limit, the caller waits for the next window.
    if current >= num_requests or previous == 0:
        return (1 - elapsed) * duration
    needed = 1 - (num_requests - current) / previous  # elapsed fraction at which it fits
    return max(0.0, needed - elapsed) * duration


def retry_after(wait: float) -> int:
    """The whole seconds a refused caller is told to wait (`Retry-After`)."""
    return max(1, math.ceil(wait))


class TokenRateThrottle(BaseThrottle):
    scope = SCOPE

    def __init__(self):
        self.rate = configured_rate()
        self._wait = None

    def get_ident_key(self, request) -> str:
        client_id = getattr(request.auth, "id", None)
        return f"token-{client_id}" if client_id is not None else f"ip-{self.get_ident(request)}"

    def allow_request(self, request, view):
        self._wait = consume(self.get_ident_key(request), now=time.time(), rate=self.rate)
        return self._wait is None

    def wait(self):
        return None if self._wait is None else retry_after(self._wait)


def _count(current_key: str, previous_key: str, ttl: int) -> tuple[int, int]:
    """Counts this request in the current window; returns (current, previous) counts."""
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is not None:  # Redis: one round trip
        current_key = cache.make_and_validate_key(current_key)
        previous_key = cache.make_and_validate_key(previous_key)
        pipe = client_of(current_key, write=True).pipeline(transaction=False)
        pipe.incr(current_key)
        pipe.expire(current_key, ttl)
        pipe.get(previous_key)
        current, _, previous = pipe.execute()
        return int(current), int(previous or 0)
    cache.add(current_key, 0, ttl)
    try:
        current = cache.incr(current_key)
    except ValueError:  # expired between add and incr
        cache.add(current_key, 1, ttl)
        current = 1
    return current, int(cache.get(previous_key) or 0)
