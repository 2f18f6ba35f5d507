"""Webhook decisions without services: backoff, verdicts, signatures."""

import hashlib
import hmac
import random

from webhooks import policy


def test_backoff_doubles_then_caps():
    ceilings = [policy.backoff_ceiling(n, base=10, cap=300) for n in range(1, 8)]
    assert ceilings == [10, 20, 40, 80, 160, 300, 300]


def test_backoff_delay_is_jittered_within_half_and_full_ceiling():
    rng = random.Random(7)
    for attempt in range(1, 20):
        ceiling = policy.backoff_ceiling(attempt, base=2, cap=60)
        delays = [policy.backoff_delay(attempt, base=2, cap=60, rng=rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_verdicts():
    kwargs = dict(max_attempts=3, base=1, cap=10, rng=random.Random(1))
    assert policy.decide(http_status=200, attempt=3, **kwargs).status == "delivered"
    assert policy.decide(http_status=204, attempt=1, **kwargs).status == "delivered"
    for status in (None, 301, 400, 410, 500, 503):
        retry = policy.decide(http_status=status, attempt=1, **kwargs)
        assert retry.status == "pending" and 0.5 <= retry.delay_seconds <= 1
        assert policy.decide(http_status=status, attempt=3, **kwargs).status == "dead"


def test_signature_header_has_one_v1_per_secret_over_timestamp_dot_body():
    body = b'{"id":"e1"}'
    header = policy.signature_header(["new", "old"], 1700000000, body)
    parts = header.split(",")
    assert parts[0] == "t=1700000000"
    expected = [hmac.new(s.encode(), b"1700000000." + body, hashlib.sha256).hexdigest() for s in ("new", "old")]
    assert parts[1:] == [f"v1={e}" for e in expected]
    assert policy.signature("new", 1700000001, body) != expected[0]


def test_the_documented_retry_span_is_the_policys(settings):
    """docs/api.md says how long an event is retried before it is dead; the figures are the
    policy's waits with the default settings (each wait is between half and all of its ceiling)."""
    from pathlib import Path

    attempts = settings.WEBHOOK_MAX_ATTEMPTS
    longest = sum(policy.backoff_ceiling(n, base=settings.WEBHOOK_BACKOFF_BASE_SECONDS,
                                         cap=settings.WEBHOOK_BACKOFF_MAX_SECONDS) for n in range(1, attempts))
    shortest = longest / 2
    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text().split())
    assert (f"`WEBHOOK_MAX_ATTEMPTS` ({attempts}) attempts, {attempts - 1} waits of {shortest:,.0f} to {longest:,.0f} s"
            f" in all (about {shortest / 3600:.1f} to {longest / 3600:.1f} hours)") in text
