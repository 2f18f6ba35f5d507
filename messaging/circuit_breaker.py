"""A circuit breaker whose state lives in the Django cache, so every worker process on every
machine sees the same verdict about the vendor.

Keys (under `circuit:<name>:`):
  `open`        the instant the current open period ends; absent means closed. Past that
                instant the breaker is half-open until a probe reports back.
  `probe`       the half-open probe permit; `cache.add` hands it to exactly one caller.
  `f:<bucket>`, `s:<bucket>`  failure and success counts per time bucket; the rolling window
                is the sum of the last `BUCKETS` buckets.

Only get/get_many/set/add/incr/delete are used, which every Django cache backend offers. The
embedded file cache's incr is not atomic and may lose a count under contention; that only
delays opening slightly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from . import signals

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

BUCKETS = 10


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        failure_ratio: float,
        window_seconds: float,
        open_seconds: float,
        cache=None,
        clock: Callable[[], float] = time.time,
        probe_seconds: float | None = None,
    ):
        if cache is None:
            from django.core.cache import cache
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.failure_ratio = failure_ratio
        self.window_seconds = max(1.0, float(window_seconds))
        self.open_seconds = float(open_seconds)
        # A probe that never reports (its process died) must not hold the permit forever.
        self.probe_seconds = float(probe_seconds if probe_seconds is not None else max(10.0, open_seconds))
        self.cache = cache
        self.clock = clock
        self.bucket_seconds = self.window_seconds / BUCKETS
        prefix = f"circuit:{name}:"
        self._open_key = prefix + "open"
        self._probe_key = prefix + "probe"
        self._prefix = prefix

    # --- Reading ---------------------------------------------------------------------------

    def state(self) -> str:
        open_until = self.cache.get(self._open_key)
        if open_until is None:
            return CLOSED
        return OPEN if self.clock() < open_until else HALF_OPEN

    def allow(self) -> tuple[bool, float]:
        """(may call the vendor now, seconds to wait before asking again if not)."""
        open_until = self.cache.get(self._open_key)
        if open_until is None:
            return True, 0.0
        now = self.clock()
        if now < open_until:
            return False, open_until - now
        probe_deadline = now + self.probe_seconds
        if self.cache.add(self._probe_key, probe_deadline, timeout=math.ceil(self.probe_seconds)):
            self._announce(HALF_OPEN)
            return True, 0.0
        holder_deadline = self.cache.get(self._probe_key)
        wait = holder_deadline - now if holder_deadline is not None else self.bucket_seconds
        return False, min(max(wait, 0.1), self.probe_seconds)

    def failure_counts(self) -> tuple[int, int]:
        """(failures, successes) in the rolling window."""
        buckets = self._window_buckets()
        keys = [self._bucket_key(kind, b) for b in buckets for kind in ("f", "s")]
        values = self.cache.get_many(keys)
        failures = sum(int(values.get(self._bucket_key("f", b)) or 0) for b in buckets)
        successes = sum(int(values.get(self._bucket_key("s", b)) or 0) for b in buckets)
        return failures, successes

    # --- Recording -------------------------------------------------------------------------

    def record_success(self) -> None:
        open_until = self.cache.get(self._open_key)
        if open_until is not None and self.clock() >= open_until:
            self._close()
            return
        self._count("s")

    def record_failure(self) -> None:
        open_until = self.cache.get(self._open_key)
        now = self.clock()
        if open_until is not None:
            if now >= open_until:
                self._reopen(now)
            # While open, late failures of calls made before it opened change nothing.
            return
        self._count("f")
        failures, successes = self.failure_counts()
        if failures >= self.failure_threshold and failures / (failures + successes) >= self.failure_ratio:
            if self.cache.add(self._open_key, now + self.open_seconds, timeout=None):
                self._announce(OPEN)

    def reset(self) -> None:
        self.cache.delete(self._open_key)
        self.cache.delete(self._probe_key)
        self._clear_window()

    # --- Internals -------------------------------------------------------------------------

    def _close(self) -> None:
        self.cache.delete(self._open_key)
        self.cache.delete(self._probe_key)
        self._clear_window()
        self._announce(CLOSED)

    def _reopen(self, now: float) -> None:
        self.cache.set(self._open_key, now + self.open_seconds, timeout=None)
        # The next half-open period needs a fresh permit for its own probe.
        self.cache.delete(self._probe_key)
        self._announce(OPEN)

    def _count(self, kind: str) -> None:
        key = self._bucket_key(kind, self._bucket(self.clock()))
        # Buckets outlive the window a little so a reader at the window's edge still sees them.
        ttl = math.ceil(self.window_seconds + 2 * self.bucket_seconds) + 1
        self.cache.add(key, 0, timeout=ttl)
        try:
            self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.set(key, 1, timeout=ttl)

    def _clear_window(self) -> None:
        for bucket in self._window_buckets():
            self.cache.delete(self._bucket_key("f", bucket))
            self.cache.delete(self._bucket_key("s", bucket))

    def _bucket(self, now: float) -> int:
        return int(now // self.bucket_seconds)

    def _window_buckets(self) -> list[int]:
        current = self._bucket(self.clock())
        return list(range(current - BUCKETS + 1, current + 1))

    def _bucket_key(self, kind: str, bucket: int) -> str:
        return f"{self._prefix}{kind}:{bucket}"

    def _announce(self, state: str) -> None:
        signals.circuit_state_changed.send(sender=__name__, vendor=self.name, state=state)


def vendor_breaker() -> CircuitBreaker:
    from django.conf import settings

    return CircuitBreaker(
        settings.VENDOR_NAME,
        failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
        failure_ratio=settings.CIRCUIT_FAILURE_RATIO,
        window_seconds=settings.CIRCUIT_WINDOW_SECONDS,
        open_seconds=settings.CIRCUIT_OPEN_SECONDS,
        # Long enough for one vendor call to finish, so a slow probe keeps its permit.
        probe_seconds=settings.VENDOR_CONNECT_TIMEOUT_SECONDS + settings.VENDOR_READ_TIMEOUT_SECONDS + 5,
    )
