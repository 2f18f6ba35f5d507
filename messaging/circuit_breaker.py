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
            # The concrete backend, not the `django.core.cache.cache` proxy: the proxy resolves a
            # separate instance (and Redis connection pool) in every context it is used from.
            from django.core.cache import caches

            cache = caches["default"]
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

    def admit(self, calls: int) -> tuple[int, float]:
        """How many of `calls` may go to the vendor now: all while closed, none while open, one
        (the probe) while half-open; and the seconds to wait before trying the rest."""
        open_until = self.cache.get(self._open_key)
        if open_until is None:
            return calls, 0.0
        now = self.clock()
        if now < open_until:
            return 0, open_until - now
        probe_deadline = now + self.probe_seconds
        if calls and self.cache.add(self._probe_key, probe_deadline, timeout=math.ceil(self.probe_seconds)):
            self._announce(HALF_OPEN)
            return 1, self.bucket_seconds
        holder_deadline = self.cache.get(self._probe_key)
        wait = holder_deadline - now if holder_deadline is not None else self.bucket_seconds
        return 0, min(max(wait, 0.1), self.probe_seconds)

    def failure_counts(self) -> tuple[int, int]:
        """(failures, successes) in the rolling window."""
        buckets = self._window_buckets()
        keys = [self._bucket_key(kind, b) for b in buckets for kind in ("f", "s")]
        values = self.cache.get_many(keys)
        failures = sum(int(values.get(self._bucket_key("f", b)) or 0) for b in buckets)
        successes = sum(int(values.get(self._bucket_key("s", b)) or 0) for b in buckets)
        return failures, successes

    # --- Recording -------------------------------------------------------------------------

    def record(self, successes: int, failures: int) -> None:
        """Report the outcomes of a batch of calls at once.

        Half-open, the probe's outcome decides: any failure reopens, otherwise a success
        closes. While open, late outcomes of calls made before it opened change nothing.
        """
        if not successes and not failures:
            return
        open_until = self.cache.get(self._open_key)
        now = self.clock()
        if open_until is not None:
            if now >= open_until:
                if failures:
                    self._reopen(now)
                else:
                    self._close()
            return
        if successes:
            self._count("s", successes)
        if not failures:
            return
        self._count("f", failures)
        failed, succeeded = self.failure_counts()
        if failed >= self.failure_threshold and failed / (failed + succeeded) >= self.failure_ratio:
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

    def _count(self, kind: str, amount: int = 1) -> None:
        key = self._bucket_key(kind, self._bucket(self.clock()))
        # Buckets outlive the window a little so a reader at the window's edge still sees them.
        ttl = math.ceil(self.window_seconds + 2 * self.bucket_seconds) + 1
        if self.cache.add(key, amount, timeout=ttl):
            return
        try:
            self.cache.incr(key, amount)
        except ValueError:  # expired between add and incr
            self.cache.set(key, amount, timeout=ttl)

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
