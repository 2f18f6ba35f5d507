"""Every label set whose values are known in advance, created at 0 when a process starts.

A counter child that appears on its first increment is invisible to `rate()` and `increase()`
(Prometheus has no earlier sample to compare with), so the first failure of a kind would go
unseen. Each process (gunicorn worker, Celery main and pool process, beat) calls `initialise`
once; in multiprocess mode each writes its own zeros, which MultiProcessCollector sums.

Only bounded, known sets: occasion types, outcomes, error types, queues, job names, routes.
Time zones and client networks are data, not known values, and are left to their first event.
"""

from __future__ import annotations

from django.conf import settings

from . import definitions as m

# Values the vendor client gives error_type, plus the outcomes used when it gives none.
VENDOR_ERROR_TYPES = ("bad_request", "client_error", "connection_error", "invalid_response", "rate_limited",
                      "rejected", "server_error", "timeout")
VENDOR_STATUSES = ("200", "400", "429", "500", "503", "timeout", "connection_error")
JOB_STATUSES = ("success", "failure")
# The exceptions a task of this project can end with; anything else is "other" (workers.py).
TASK_ERROR_TYPES = ("OperationalError", "InterfaceError", "DatabaseError", "IntegrityError",
                    "SoftTimeLimitExceeded", "TimeLimitExceeded", "WorkerLostError", "ConnectionError",
                    "TimeoutError", "internal_error", "other")


def _message_types() -> list[str]:
    from core import occasions

    return [occasion_type.name for occasion_type in occasions.all_types()]


def _queues() -> tuple[str, ...]:
    from core.queues import DELIVERY_QUEUE, SCHEDULER_QUEUE, WEBHOOK_QUEUE

    return (SCHEDULER_QUEUE, DELIVERY_QUEUE, WEBHOOK_QUEUE)


def messages() -> None:
    from .messages import MAX_ATTEMPT_LABEL, attempt_label

    retry_counts = [str(n) for n in range(MAX_ATTEMPT_LABEL + 1)]
    for kind in _message_types():
        m.MESSAGES_SENT.labels(kind, "200")
        m.MESSAGES_DUE.labels(kind)
        m.MESSAGE_IDEMPOTENCY_SKIPS.labels(kind)
        m.MESSAGES_FAILED.labels(kind, "expired", "0")  # found past the catch-up window: no call made
        for error_type in ("rejected", "retries_exhausted"):
            for retries in retry_counts:
                m.MESSAGES_FAILED.labels(kind, error_type, retries)
        for number in range(1, MAX_ATTEMPT_LABEL + 2):
            m.MESSAGE_DELIVERY_ATTEMPTS.labels(kind, attempt_label(number))
        m.API_CALL_COST.labels(settings.VENDOR_NAME, kind)
        m.MESSAGES_COST.labels(kind)


def vendor() -> None:
    from .external import ENDPOINT

    name = settings.VENDOR_NAME
    for status in VENDOR_STATUSES:
        m.EXTERNAL_REQUESTS.labels(name, ENDPOINT, status)
    for error_type in VENDOR_ERROR_TYPES:
        m.EXTERNAL_ERRORS.labels(name, error_type)
    m.EXTERNAL_TIMEOUTS.labels(name, ENDPOINT)
    m.EXTERNAL_RATE_LIMIT_HITS.labels(name)


def jobs() -> None:
    from .scheduler import JOBS

    for job in JOBS.values():
        m.CRON_MISSED.labels(job)
        for status in JOB_STATUSES:
            m.CRON_EXECUTIONS.labels(job, status)
    for queue in _queues():
        m.QUEUE_PUBLISHED.labels(queue)


def database() -> None:
    from .database import known_tables

    own = tuple(f"{app}_" for app in ("users", "apiauth", "scheduler", "messaging"))
    for table in sorted(t for t in known_tables() if t.startswith(own)):
        for verb in ("select", "insert", "update", "delete"):
            m.DB_SLOW_QUERIES.labels(verb, table)
    for state in ("active", "idle"):
        m.DB_CONNECTIONS.labels("default", state)
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    m.DB_POOL_SIZE.labels("default").set(pool["max_size"] if isinstance(pool, dict) else 0)
    m.DB_POOL_WAITING.labels("default")


AUTH_TYPES = ("bearer_token", "missing_credentials", "unsupported_scheme", "admin_password")


def api() -> None:
    import zoneinfo

    from . import http, security

    http.initialise()
    for auth_type in AUTH_TYPES:
        m.AUTHENTICATION_FAILURES.labels(auth_type)
    for activity in [name for name, _ in security._MARKERS] + sorted(set(security._DJANGO_SECURITY_EVENTS.values())):
        m.SUSPICIOUS_ACTIVITY.labels(activity)
    for region in {zone.split("/", 1)[0] for zone in zoneinfo.available_timezones()} | {"other"}:
        m.USERS_CREATED.labels(region)


def worker(node_name: str) -> None:
    for status in ("success", "failure"):
        m.WORKER_TASKS_COMPLETED.labels(node_name, status)
    for error_type in TASK_ERROR_TYPES:
        m.WORKER_ERRORS.labels(node_name, error_type)


def webhooks() -> None:
    from . import webhooks as webhook_metrics

    webhook_metrics.initialise()


def initialise(service: str) -> None:
    """The zeros of this process: the domain families in every process (any of them may run a
    tick, a delivery or an operator command), HTTP and security ones where requests are served."""
    messages()
    vendor()
    jobs()
    webhooks()
    database()
    if service in ("api", "local"):
        api()
