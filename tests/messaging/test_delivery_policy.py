"""The delivery policy, pure: no database, broker, cache or vendor."""

import datetime
import random

from hypothesis import given, settings, strategies as st

from messaging.delivery import policy
from messaging.delivery.policy import Policy

DUE = datetime.datetime(2026, 6, 1, 9, tzinfo=datetime.UTC)
WINDOW = datetime.timedelta(hours=72)
DEFAULT = Policy(backoff_base_seconds=2.0, backoff_max_seconds=300.0, catch_up_window=WINDOW)

policies = st.builds(
    Policy,
    backoff_base_seconds=st.floats(0.5, 30),
    backoff_max_seconds=st.floats(30, 3600),
    catch_up_window=st.timedeltas(datetime.timedelta(minutes=10), datetime.timedelta(hours=12)),
)


def test_the_outcome_names_are_the_models():
    from messaging.models import DeliveryAttempt

    names = {policy.SENT, policy.REJECTED, policy.RATE_LIMITED, policy.SERVER_ERROR, policy.TIMEOUT,
             policy.CONNECTION_ERROR}
    assert names == set(DeliveryAttempt.Outcome.values)


def test_sent_and_rejected_end_the_message():
    assert DEFAULT.decide(outcome=policy.SENT, due_at=DUE, now=DUE, failures=3).status == policy.STATUS_SENT
    rejected = DEFAULT.decide(outcome=policy.REJECTED, due_at=DUE, now=DUE, failures=0)
    assert (rejected.status, rejected.retry_at, rejected.attempted) == (policy.STATUS_FAILED, None, True)


def test_a_rate_limit_waits_as_asked_and_spends_no_budget():
    decision = DEFAULT.decide(outcome=policy.RATE_LIMITED, due_at=DUE, now=DUE, failures=2, retry_after=7.5)
    assert decision.status == policy.STATUS_RETRY and decision.failures == 2
    assert decision.retry_at == DUE + datetime.timedelta(seconds=7.5)


def test_a_breaker_deferral_is_no_attempt_and_waits_at_least_a_second():
    decision = DEFAULT.decide(outcome=None, due_at=DUE, now=DUE, failures=0, deferred_seconds=0.0)
    assert (decision.status, decision.attempted, decision.failures) == (policy.STATUS_RETRY, False, 0)
    assert decision.retry_at == DUE + datetime.timedelta(seconds=1)


def test_eight_failures_no_longer_kill_a_message():
    # The old count budget (MAX_DELIVERY_ATTEMPTS=8) made the 8th failure final.
    decision = DEFAULT.decide(outcome=policy.SERVER_ERROR, due_at=DUE, now=DUE + datetime.timedelta(minutes=5),
                              failures=7)
    assert decision.status == policy.STATUS_RETRY and decision.failures == 8


def test_the_window_ends_retries_and_an_optional_cap_ends_them_sooner():
    late = DUE + WINDOW - datetime.timedelta(seconds=1)
    dead = DEFAULT.decide(outcome=policy.TIMEOUT, due_at=DUE, now=late, failures=20)
    assert (dead.status, dead.reason) == (policy.STATUS_DEAD, "window")
    capped = Policy(2.0, 300.0, WINDOW, max_failures=3)
    assert capped.decide(outcome=policy.SERVER_ERROR, due_at=DUE, now=DUE, failures=2).reason == "attempts"


def test_breaker_tally_counts_faults_against_healthy_answers():
    tally = policy.breaker_tally([policy.SENT, policy.REJECTED, policy.RATE_LIMITED, policy.TIMEOUT,
                                  policy.SERVER_ERROR, policy.CONNECTION_ERROR])
    assert (tally.successes, tally.failures) == (2, 3)


@given(policies, st.integers(1, 200), st.randoms(use_true_random=False))
def test_backoff_stays_between_half_the_ceiling_and_the_ceiling(rules, failures, rng):
    ceiling = rules.backoff_ceiling(failures)
    assert ceiling <= rules.backoff_max_seconds
    assert ceiling / 2 <= rules.backoff(failures, rng) <= ceiling


@given(policies, st.integers(1, 200))
def test_the_ceiling_grows_until_the_cap(rules, failures):
    assert rules.backoff_ceiling(failures) <= rules.backoff_ceiling(failures + 1)
    assert rules.backoff_ceiling(failures) == min(rules.backoff_max_seconds,
                                                  rules.backoff_base_seconds * 2 ** (failures - 1))


def simulate(rules, fault_seconds: float, rng: random.Random):
    """Every call fails until `fault_seconds` after the due time, then succeeds. Returns the
    final decision and the call instants."""
    now, failures, calls = DUE, 0, []
    while True:
        calls.append(now)
        outcome = policy.SERVER_ERROR if (now - DUE).total_seconds() < fault_seconds else policy.SENT
        decision = rules.decide(outcome=outcome, due_at=DUE, now=now, failures=failures, rng=rng)
        if decision.status != policy.STATUS_RETRY:
            return decision, calls
        assert decision.retry_at > now
        now, failures = decision.retry_at, decision.failures


@settings(max_examples=60, deadline=None)
@given(policies, st.floats(0, 1), st.randoms(use_true_random=False))
def test_a_fault_that_ends_inside_the_window_never_kills_the_message(rules, share, rng):
    # A fault ending early enough that one more full backoff still fits in the window.
    room = rules.catch_up_window.total_seconds() - rules.backoff_max_seconds
    fault = max(0.0, room) * share
    decision, calls = simulate(rules, fault, rng)
    if room > 0:
        assert decision.status == policy.STATUS_SENT
    assert all(call <= rules.deadline(DUE) for call in calls)


@settings(max_examples=60, deadline=None)
@given(policies, st.randoms(use_true_random=False))
def test_a_fault_longer_than_the_window_ends_dead_with_no_call_after_it(rules, rng):
    decision, calls = simulate(rules, rules.catch_up_window.total_seconds() * 2, rng)
    assert (decision.status, decision.reason) == (policy.STATUS_DEAD, "window")
    assert calls[-1] <= rules.deadline(DUE)


@settings(max_examples=60, deadline=None)
@given(st.floats(10, 3600), st.randoms(use_true_random=False))
def test_calls_per_message_during_a_fault_are_bounded(fault, rng):
    # Equal jitter: waits are at least half their ceiling, so in a fault of F seconds a message
    # is called at most k + (F - sum of the first k minimum waits) / (max/2) + 1 times, where k
    # is the number of failures before the cap is reached.
    _decision, calls = simulate(DEFAULT, fault, rng)
    during = [call for call in calls if (call - DUE).total_seconds() < fault]
    bound, elapsed, failures = 0, 0.0, 0
    while elapsed < fault:
        bound += 1
        failures += 1
        elapsed += DEFAULT.backoff_ceiling(failures) / 2
    assert len(during) <= bound
