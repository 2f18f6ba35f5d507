"""Delivery webhooks: how integrator endpoints are called, retried and given up on."""

from .env import env_bool, env_float, env_int

WEBHOOK_DISPATCH_INTERVAL_SECONDS = env_int("WEBHOOK_DISPATCH_INTERVAL_SECONDS", 5)
WEBHOOK_BATCH_SIZE = env_int("WEBHOOK_BATCH_SIZE", 20)
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 20)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 2.0)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# Longer than a call can take (timeouts above), so a live task's events are not re-published.
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12)
WEBHOOK_BACKOFF_BASE_SECONDS = env_float("WEBHOOK_BACKOFF_BASE_SECONDS", 10.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env_float("WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0)
# Off: endpoints must be public hosts, checked at registration and, resolved, at each call
# (webhooks/policy.py). On: loopback and private networks too, for receivers on a laptop or
# inside one's own network.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_SECRET_OVERLAP_HOURS = env_int("WEBHOOK_SECRET_OVERLAP_HOURS", 24)
