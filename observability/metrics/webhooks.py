"""Delivery webhook metrics (a project addition to the plan's inventory), from webhooks/signals.py.

Labels stay bounded: the event type (four values) and the attempt's outcome (four values); no
endpoint URL or id, which integrators could multiply at will.
"""

from django.dispatch import receiver
from prometheus_client import Counter, Histogram

from webhooks import signals
from webhooks.models import EVENT_TYPES

from .definitions import _name

OUTCOMES = ("success", "http_error", "timeout", "connection_error")

WEBHOOK_DELIVERY_ATTEMPTS = Counter(
    _name("webhook_delivery_attempts"), "Webhook POSTs to integrator endpoints, by outcome", ["event_type", "outcome"]
)
WEBHOOK_EVENTS_DEAD = Counter(
    _name("webhook_events_dead"), "Webhook events given up after WEBHOOK_MAX_ATTEMPTS failed attempts", ["event_type"]
)
WEBHOOK_DELIVERY_DURATION = Histogram(
    _name("webhook_delivery_duration_seconds"), "Duration of one webhook POST", ["event_type"],
    buckets=[0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
)


def initialise() -> None:
    """Every label set at 0 from the start, so rates and ratios exist before the first event."""
    for event_type in EVENT_TYPES:
        WEBHOOK_EVENTS_DEAD.labels(event_type)
        WEBHOOK_DELIVERY_DURATION.labels(event_type)
        for outcome in OUTCOMES:
            WEBHOOK_DELIVERY_ATTEMPTS.labels(event_type, outcome)


@receiver(signals.webhook_attempted, dispatch_uid="metrics.webhooks.attempted")
def _attempted(sender, event_type, outcome, duration_seconds, final, **kwargs):
    WEBHOOK_DELIVERY_ATTEMPTS.labels(event_type, outcome).inc()
    WEBHOOK_DELIVERY_DURATION.labels(event_type).observe(duration_seconds)
    if final == "dead":
        WEBHOOK_EVENTS_DEAD.labels(event_type).inc()
