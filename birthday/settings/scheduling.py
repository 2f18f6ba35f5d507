"""Product behaviour: when messages are due, and how delivery claims, retries and gives up."""

from django.core.exceptions import ImproperlyConfigured

from .env import env_float, env_int, env_str

SEND_HOUR = env_int("SEND_HOUR", 9)
if not 0 <= SEND_HOUR <= 23:
    raise ImproperlyConfigured("SEND_HOUR must be between 0 and 23")
FEB29_POLICY = env_str("FEB29_POLICY", "feb28")
if FEB29_POLICY not in {"feb28", "mar1"}:
    raise ImproperlyConfigured("FEB29_POLICY must be 'feb28' or 'mar1'")
SCHEDULER_TICK_SECONDS = env_int("SCHEDULER_TICK_SECONDS", 60)
DISPATCH_INTERVAL_SECONDS = env_int("DISPATCH_INTERVAL_SECONDS", 5)
CATCH_UP_WINDOW_HOURS = env_int("CATCH_UP_WINDOW_HOURS", 72)
# Seconds added to the wall clock for every scheduling decision: lets operators and tests
# replay a window or move time forward across all processes at once.
CLOCK_OFFSET_SECONDS = env_float("CLOCK_OFFSET_SECONDS", 0.0)
SCHEDULE_BATCH_SIZE = env_int("SCHEDULE_BATCH_SIZE", 5000)
# A batch is sent at once, one thread per call, so a batch costs one vendor round trip: with the
# default 2 worker processes, 100 and 100 deliver 1,430/s at 0 ms vendor latency and 800/s at
# 100 ms on a 2-core machine (docs/performance.md).
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 100)
DELIVERY_CONCURRENCY = env_int("DELIVERY_CONCURRENCY", 100)
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 120)
QUEUED_STALE_SECONDS = env_int("QUEUED_STALE_SECONDS", 900)
# 0: no count cap; a message retries temporary faults until its catch-up window runs out.
MAX_DELIVERY_ATTEMPTS = env_int("MAX_DELIVERY_ATTEMPTS", 0)
RETRY_BACKOFF_BASE_SECONDS = env_float("RETRY_BACKOFF_BASE_SECONDS", 2.0)
RETRY_BACKOFF_MAX_SECONDS = env_float("RETRY_BACKOFF_MAX_SECONDS", 300.0)
