"""What happens to a message after a vendor call (or a call the breaker held back): pure
decisions over plain values, no database, no network, no clock of its own.

The retry budget is time, not a count: a message keeps retrying after temporary faults (5xx,
timeouts, refused connections, 429s, an open breaker) until its catch-up window runs out,
CATCH_UP_WINDOW_HOURS after it was due. Only a permanent answer (a 4xx that says the request
is invalid) or the window ends it earlier. Waits grow exponentially, capped, with "equal
jitter": half of each wait is fixed and half random, so retries of many messages spread out
and a message never retries faster than half its ceiling (the bound on the call rate
docs/reliability.md works out). MAX_DELIVERY_ATTEMPTS > 0 adds a count cap, off by default.
"""

from __future__ import annotations

import dataclasses
import datetime
import random

from ..outcomes import CONNECTION_ERROR, RATE_LIMITED, REJECTED, SENT, SERVER_ERROR, TIMEOUT

# Outcomes that say the vendor is unwell (they count against the breaker and the budget).
VENDOR_FAULTS = frozenset({SERVER_ERROR, TIMEOUT, CONNECTION_ERROR})
# Outcomes that say the vendor is well (a rejection is a healthy answer to a bad request).
VENDOR_HEALTHY = frozenset({SENT, REJECTED})

# Message statuses this module decides between.
STATUS_SENT = "sent"
STATUS_FAILED = "failed"
STATUS_RETRY = "retry"
STATUS_DEAD = "dead"


@dataclasses.dataclass(frozen=True)
class Policy:
    backoff_base_seconds: float
    backoff_max_seconds: float
    catch_up_window: datetime.timedelta
    # 0: no count cap, the time budget alone decides.
    max_failures: int = 0
    # The shortest wait after a rate limit without retryAfter, or a breaker deferral.
    min_wait_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(
            backoff_base_seconds=settings.RETRY_BACKOFF_BASE_SECONDS,
            backoff_max_seconds=settings.RETRY_BACKOFF_MAX_SECONDS,
            catch_up_window=datetime.timedelta(hours=settings.CATCH_UP_WINDOW_HOURS),
            max_failures=settings.MAX_DELIVERY_ATTEMPTS,
        )

    def deadline(self, due_at: datetime.datetime) -> datetime.datetime:
        """The last instant an attempt may start: the end of the catch-up window."""
        return due_at + self.catch_up_window

    def backoff_ceiling(self, failures: int) -> float:
        """min(max, base * 2^(failures-1)): 2, 4, 8, ... seconds, capped."""
        exponent = min(max(0, failures - 1), 60)  # 2^60 s is past any cap; avoids float overflow
        return min(self.backoff_max_seconds, self.backoff_base_seconds * 2.0**exponent)

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """Uniform in [ceiling/2, ceiling] (equal jitter)."""
        ceiling = self.backoff_ceiling(failures)
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

    def decide(self, *, outcome: str | None, due_at: datetime.datetime, now: datetime.datetime, failures: int,
               retry_after: float | None = None, deferred_seconds: float = 0.0,
               rng: random.Random | None = None) -> Decision:
        """The message's next state after one call's `outcome`, or after the breaker held the
        call back (`outcome=None`, `deferred_seconds` until it may ask again)."""
        if outcome == SENT:
            return Decision(STATUS_SENT, None, failures, attempted=True)
        if outcome == REJECTED:
            return Decision(STATUS_FAILED, None, failures, attempted=True)
        if outcome is None:
            wait, attempted = max(deferred_seconds, self.min_wait_seconds), False
        elif outcome == RATE_LIMITED:
            # The vendor asked us to slow down: no budget spent, wait as long as it said.
            wait, attempted = max(retry_after or 0.0, self.min_wait_seconds), True
        elif outcome in VENDOR_FAULTS:
            failures += 1
            if self.max_failures and failures >= self.max_failures:
                return Decision(STATUS_DEAD, None, failures, attempted=True, reason="attempts")
            wait, attempted = self.backoff(failures, rng), True
        else:
            raise ValueError(f"unknown outcome {outcome!r}")
        retry_at = now + datetime.timedelta(seconds=wait)
        if retry_at > self.deadline(due_at):
            return Decision(STATUS_DEAD, None, failures, attempted=attempted, reason="window")
        return Decision(STATUS_RETRY, retry_at, failures, attempted=attempted)


@dataclasses.dataclass(frozen=True)
class Decision:
    status: str
    # When to try again (retry only).
    retry_at: datetime.datetime | None
    # The failures count after this outcome.
    failures: int
    # Whether a vendor call was made (an attempt to record), as opposed to a breaker deferral.
    attempted: bool
    # Why a message is dead: "window" (the catch-up window ran out) or "attempts" (the cap).
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class BreakerTally:
    successes: int
    failures: int


def breaker_tally(outcomes) -> BreakerTally:
    """What a batch's outcomes tell the circuit breaker: vendor faults against healthy answers.
    Rate limits say neither."""
    outcomes = list(outcomes)
    return BreakerTally(
        successes=sum(outcome in VENDOR_HEALTHY for outcome in outcomes),
        failures=sum(outcome in VENDOR_FAULTS for outcome in outcomes),
    )

