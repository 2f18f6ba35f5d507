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


class TokenRateThrottle(BaseThrottle):
    scope = "token"
    key_format = "throttle:%(scope)s:%(ident)s:%(window)d"

    def __init__(self):
        # Read at request time, not class definition, so a changed setting takes effect.
        self.num_requests, self.duration = _parse_rate(self, api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))
        self._wait = None

    def get_ident_key(self, request) -> str:
        client_id = getattr(request.auth, "id", None)
        return f"token-{client_id}" if client_id is not None else f"ip-{self.get_ident(request)}"

    def allow_request(self, request, view):
        if self.num_requests is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        ident = self.get_ident_key(request)
        current_key = self.key_format % {"scope": self.scope, "ident": ident, "window": window}
        previous_key = self.key_format % {"scope": self.scope, "ident": ident, "window": window - 1}
        try:
            current, previous = _count(current_key, previous_key, 2 * self.duration)
        except Exception:
            # The limiter lives in the cache; losing the cache must not take the API down.
            log.warning("throttle cache unreachable; allowing the request", exc_info=True)
            return True
        elapsed = now / self.duration - window  # fraction of the current window gone by
        if previous * (1 - elapsed) + current <= self.num_requests:
            return True
        self._wait = self._seconds_until_allowed(current, previous, elapsed)
        return False

    def _seconds_until_allowed(self, current: int, previous: int, elapsed: float) -> float:
        # Within this window the estimate falls only as the previous window slides out; if this
        # window alone is over the limit, the caller waits for the next window.
        if current >= self.num_requests or previous == 0:
            return (1 - elapsed) * self.duration
        needed = 1 - (self.num_requests - current) / previous  # elapsed fraction at which it fits
        return max(0.0, needed - elapsed) * self.duration

    def wait(self):
        return None if self._wait is None else max(1, math.ceil(self._wait))


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
