"""Vendor API metrics and the circuit breaker, from delivery_attempted / circuit_state_changed."""

from django.conf import settings
from django.dispatch import receiver

from messaging import signals

from .definitions import (
    CIRCUIT_OPEN,
    CIRCUIT_STATE,
    EXTERNAL_ERRORS,
    EXTERNAL_RATE_LIMIT_HITS,
    EXTERNAL_REQUESTS,
    EXTERNAL_RESPONSE_TIME,
    EXTERNAL_TIMEOUTS,
)

ENDPOINT = "/send-email"
BREAKER_STATES = {"closed": 0, "open": 1, "half_open": 2}


@receiver(signals.delivery_attempted, dispatch_uid="metrics.external.attempted")
def _attempted(sender, outcome, http_status, duration_seconds, error_type=None, **kwargs):
    vendor = settings.VENDOR_NAME
    EXTERNAL_REQUESTS.labels(vendor, ENDPOINT, str(http_status) if http_status else outcome).inc()
    EXTERNAL_RESPONSE_TIME.labels(vendor, ENDPOINT).observe(duration_seconds)
    if outcome != "sent":
        EXTERNAL_ERRORS.labels(vendor, error_type or outcome).inc()
    if outcome == "timeout":
        EXTERNAL_TIMEOUTS.labels(vendor, ENDPOINT).inc()
    elif outcome == "rate_limited":
        EXTERNAL_RATE_LIMIT_HITS.labels(vendor).inc()


def set_breaker_state(vendor: str, state: str) -> None:
    CIRCUIT_STATE.labels(vendor).set(BREAKER_STATES.get(state, 0))
    CIRCUIT_OPEN.labels(vendor).set(1 if state == "open" else 0)


@receiver(signals.circuit_state_changed, dispatch_uid="metrics.external.breaker")
def _breaker(sender, vendor, state, **kwargs):
    set_breaker_state(vendor, state)
