"""Vendor API metrics from delivery_attempted, and the circuit breaker's state read at scrape
time from the state every worker shares (the cache), so an open period that elapsed shows as
half-open without waiting for the next call to move it."""

import logging

from django.conf import settings
from django.dispatch import receiver
from prometheus_client.core import GaugeMetricFamily

from messaging import signals

from .definitions import (
    NS,
    EXTERNAL_ERRORS,
    EXTERNAL_RATE_LIMIT_HITS,
    EXTERNAL_REQUESTS,
    EXTERNAL_RESPONSE_TIME,
    EXTERNAL_TIMEOUTS,
)

log = logging.getLogger(__name__)

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


class BreakerCollector:
    def describe(self):
        return []

    def collect(self):
        from messaging.circuit_breaker import vendor_breaker

        try:
            state = vendor_breaker().state()
        except Exception as exc:  # cache unreachable: no figure rather than a made-up one
            log.debug("metrics: breaker state unavailable: %s", exc)
            return
        vendor = settings.VENDOR_NAME
        gauge = GaugeMetricFamily(f"{NS}_external_api_circuit_breaker_state",
                                  "Circuit breaker state: 0 closed, 1 open, 2 half-open", labels=["vendor"])
        gauge.add_metric([vendor], BREAKER_STATES.get(state, 0))
        yield gauge
        is_open = GaugeMetricFamily(f"{NS}_circuit_breaker_open", "1 while the circuit breaker is open",
                                    labels=["service_name"])
        is_open.add_metric([vendor], 1 if state == "open" else 0)
        yield is_open
