"""The vendor circuit breaker on the real Redis cache, shared across threads and processes."""

import multiprocessing
import threading

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from messaging import signals
from messaging.circuit_breaker import CircuitBreaker, vendor_breaker

# Needs the real Redis (REDIS_URL).
pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture(autouse=True)
def _real_redis():
    # These tests are about sharing state between processes; a local-memory cache would pass
    # them for the wrong reason.
    assert isinstance(caches["default"], RedisCache), "set REDIS_URL to run the circuit breaker tests"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def transitions():
    seen = []

    def receiver(sender, vendor, state, **kwargs):
        seen.append((vendor, state))

    signals.circuit_state_changed.connect(receiver, weak=False)
    yield seen
    signals.circuit_state_changed.disconnect(receiver)


def make(clock, name="vendor-test", **overrides):
    options = dict(failure_threshold=5, failure_ratio=0.5, window_seconds=30, open_seconds=60, clock=clock)
    options.update(overrides)
    return CircuitBreaker(name, **options)


def open_breaker(breaker):
    for _ in range(breaker.failure_threshold):
        breaker.record(successes=0, failures=1)
    assert breaker.state() == "open"


def test_opens_at_the_failure_threshold(clock, transitions):
    breaker = make(clock)
    for _ in range(4):
        breaker.record(successes=0, failures=1)
    assert breaker.state() == "closed" and breaker.admit(1) == (1, 0.0)
    breaker.record(successes=0, failures=1)
    assert breaker.state() == "open"
    assert breaker.admit(1) == (0, 60.0)
    assert transitions == [("vendor-test", "open")]


def test_stays_closed_while_failures_are_below_the_ratio(clock):
    breaker = make(clock)
    for _ in range(11):
        breaker.record(successes=1, failures=0)
    for _ in range(10):
        breaker.record(successes=0, failures=1)  # 10 of 21: below half
    assert breaker.state() == "closed"
    breaker.record(successes=0, failures=1)  # 11 of 22: half
    assert breaker.state() == "open"


def test_failures_older_than_the_window_do_not_count(clock):
    breaker = make(clock)
    for _ in range(4):
        breaker.record(successes=0, failures=1)
    clock.advance(31)
    breaker.record(successes=0, failures=1)
    assert breaker.failure_counts() == (1, 0)
    assert breaker.state() == "closed"


def test_state_is_shared_between_instances(clock):
    # Two instances stand for two worker processes: they share nothing but the cache.
    first, second = make(clock), make(clock)
    for _ in range(3):
        first.record(successes=0, failures=1)
    for _ in range(2):
        second.record(successes=0, failures=1)
    assert first.state() == second.state() == "open"


def test_open_refuses_with_the_remaining_wait_then_turns_half_open(clock):
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(45)
    assert breaker.admit(1) == (0, 15.0)
    clock.advance(15)
    assert breaker.state() == "half_open"


def test_half_open_admits_exactly_one_probe_across_threads(clock, transitions):
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(60)
    barrier = threading.Barrier(20)
    answers = []

    def ask():
        barrier.wait()
        answers.append(breaker.admit(1))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(1 for allowed, _ in answers if allowed) == 1
    assert all(wait > 0 for allowed, wait in answers if not allowed)
    assert transitions.count(("vendor-test", "half_open")) == 1


def _ask_from_process(now, barrier, results):
    breaker = make(Clock(now))
    granted = []
    local = threading.Barrier(10)

    def ask():
        local.wait()
        if breaker.admit(1)[0]:
            granted.append(1)

    barrier.wait()
    threads = [threading.Thread(target=ask) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    results.put(len(granted))


def test_half_open_admits_exactly_one_probe_across_processes(clock):
    breaker = make(clock)
    open_breaker(breaker)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    results = context.Queue()
    processes = [context.Process(target=_ask_from_process, args=(T0 + 60, barrier, results)) for _ in range(2)]
    for process in processes:
        process.start()
    granted = [results.get(timeout=15) for _ in processes]
    for process in processes:
        process.join(10)
        assert process.exitcode == 0
    assert sum(granted) == 1


def test_probe_success_closes_and_starts_a_fresh_window(clock, transitions):
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(60)
    assert breaker.admit(1)[0] == 1
    breaker.record(successes=1, failures=0)
    assert breaker.state() == "closed"
    assert breaker.failure_counts() == (0, 0)
    # Had the old failures survived, these four would reopen it.
    for _ in range(4):
        breaker.record(successes=0, failures=1)
    assert breaker.state() == "closed"
    assert transitions == [("vendor-test", s) for s in ("open", "half_open", "closed")]


def test_probe_failure_reopens_for_a_full_period_with_a_new_probe_after(clock, transitions):
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(60)
    assert breaker.admit(1)[0]
    breaker.record(successes=0, failures=1)
    assert breaker.state() == "open"
    assert breaker.admit(1) == (0, 60.0)
    clock.advance(60)
    assert breaker.admit(1)[0] == 1  # the failed probe's permit is not left behind
    assert transitions == [("vendor-test", s) for s in ("open", "half_open", "open", "half_open")]


def test_late_failures_while_open_do_not_extend_it(clock):
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(30)
    breaker.record(successes=0, failures=1)
    assert breaker.admit(1) == (0, 30.0)


def test_reset_closes_and_forgets(clock):
    breaker = make(clock)
    open_breaker(breaker)
    breaker.reset()
    assert breaker.state() == "closed"
    assert breaker.failure_counts() == (0, 0)


def test_breakers_with_different_names_are_independent(clock):
    breaker = make(clock)
    open_breaker(breaker)
    other = CircuitBreaker("other-vendor", failure_threshold=5, failure_ratio=0.5, window_seconds=30, open_seconds=60, clock=clock)
    assert other.state() == "closed"


def test_vendor_breaker_follows_settings(settings):
    settings.VENDOR_NAME = "acme-mail"
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_FAILURE_RATIO = 0.75
    settings.CIRCUIT_WINDOW_SECONDS = 20
    settings.CIRCUIT_OPEN_SECONDS = 45
    breaker = vendor_breaker()
    assert (breaker.name, breaker.failure_threshold, breaker.failure_ratio) == ("acme-mail", 3, 0.75)
    assert (breaker.window_seconds, breaker.open_seconds) == (20, 45)
    for _ in range(3):
        breaker.record(successes=0, failures=1)
    allowed, wait = breaker.admit(1)
    assert not allowed and 44 < wait <= 45


def test_a_batch_is_admitted_whole_when_closed_not_at_all_when_open_and_one_probe_when_half_open(clock):
    breaker = make(clock)
    assert breaker.admit(50) == (50, 0.0)
    open_breaker(breaker)
    admitted, wait = breaker.admit(50)
    assert admitted == 0 and wait > 0
    clock.advance(60)
    assert breaker.admit(50)[0] == 1  # the probe
    assert breaker.admit(50)[0] == 0  # everyone else waits for its verdict
    breaker.record(successes=1, failures=0)
    assert breaker.state() == "closed" and breaker.admit(50) == (50, 0.0)


def test_a_batch_of_outcomes_counts_like_the_same_outcomes_one_by_one(clock):
    batched, single = make(clock), make(clock, name="vendor-single")
    batched.record(successes=7, failures=3)
    for _ in range(7):
        single.record(successes=1, failures=0)
    for _ in range(3):
        single.record(successes=0, failures=1)
    assert batched.failure_counts() == single.failure_counts() == (3, 7)
