"""Message lifecycle metrics, from the domain signals in messaging/signals.py."""

import functools
import zoneinfo

from django.dispatch import receiver

from messaging import signals

from . import summary
from .definitions import (
    MESSAGE_DELIVERY_ATTEMPTS,
    MESSAGE_DELIVERY_DURATION,
    MESSAGE_IDEMPOTENCY_SKIPS,
    MESSAGE_RETRY_ATTEMPTS,
    MESSAGE_TIME_TO_DELIVERY,
    MESSAGES_DUE,
    MESSAGES_FAILED,
    MESSAGES_SCHEDULED,
    MESSAGES_SENT,
)

# Attempt numbers past this share one label value: rate-limited retries do not spend the
# retry budget, so the raw number has no fixed ceiling.
MAX_ATTEMPT_LABEL = 10
FAILED_STATUSES = {"failed": "rejected", "dead": "retries_exhausted", "expired": "expired"}


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_label(name: str) -> str:
    return name if name in _zones() else "other"


def attempt_label(number: int) -> str:
    return str(number) if number <= MAX_ATTEMPT_LABEL else f"{MAX_ATTEMPT_LABEL}+"


@receiver(signals.message_scheduled, dispatch_uid="metrics.messages.scheduled")
def _scheduled(sender, kind, timezone, status, **kwargs):
    # Due work, whatever becomes of it: set against messages_sent and messages_failed it says
    # whether deliveries keep up with the schedule.
    MESSAGES_DUE.labels(kind).inc()
    if status == "expired":
        # Past the catch-up window when the tick found it: it will never be sent.
        MESSAGES_FAILED.labels(kind, "expired", "0").inc()
        return
    MESSAGES_SCHEDULED.labels(kind, timezone_label(timezone)).inc()


@receiver(signals.delivery_attempted, dispatch_uid="metrics.messages.attempted")
def _attempted(sender, kind, attempt_number, outcome, http_status, duration_seconds, **kwargs):
    MESSAGE_DELIVERY_ATTEMPTS.labels(kind, attempt_label(attempt_number)).inc()
    MESSAGE_DELIVERY_DURATION.labels(kind, outcome).observe(duration_seconds)


@receiver(signals.message_finished, dispatch_uid="metrics.messages.finished")
def _finished(sender, kind, status, attempts, due_at, finished_at, processing_seconds, **kwargs):
    retries = max(0, attempts - 1)
    if status == "sent":
        # Counted when the row became sent, not on the vendor's answer: a worker that lost its
        # lease to another may still hear a 200, and the counter must agree with the database.
        MESSAGES_SENT.labels(kind, str(kwargs.get("http_status") or 200)).inc()
        MESSAGE_TIME_TO_DELIVERY.labels(kind).observe(max(0.0, (finished_at - due_at).total_seconds()))
        MESSAGE_RETRY_ATTEMPTS.labels(kind).observe(retries)
    elif status in FAILED_STATUSES:
        MESSAGES_FAILED.labels(kind, FAILED_STATUSES[status], str(min(retries, MAX_ATTEMPT_LABEL))).inc()
        if status != "expired":
            MESSAGE_RETRY_ATTEMPTS.labels(kind).observe(retries)
    if status != "expired":
        summary.PROCESSING.observe(kind, processing_seconds)


@receiver(signals.idempotency_skipped, dispatch_uid="metrics.messages.skipped")
def _skipped(sender, kind, **kwargs):
    MESSAGE_IDEMPOTENCY_SKIPS.labels(kind).inc()
