"""Facts about the whole deployment, not one process: queues as the broker sees them, the user
population, deliveries behind schedule, the cache server, costs. Refreshed before a scrape of the
service that owns them (celery beat: there is exactly one), each at most once per its interval,
so a scrape never costs more than a few indexed queries and two HTTP calls.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches

from core import clock
from core.queues import DEAD_LETTER_QUEUE, DELIVERY_QUEUE, SCHEDULER_QUEUE

from . import broker, cost, overdue, users
from .definitions import (
    CACHE_EVICTIONS,
    CACHE_SIZE,
    COST_PER_USER,
    INFRASTRUCTURE_COST,
    QUEUE_CONSUMERS,
    QUEUE_CONSUME_RATE,
    QUEUE_DEPTH,
    QUEUE_DLQ,
    QUEUE_PREFETCH,
    QUEUE_PUBLISH_RATE,
    QUEUE_UNACKED,
)

# Seconds between refreshes; "fleet" means METRICS_FLEET_REFRESH_SECONDS.
INTERVALS = {"users": "fleet", "queues": 5.0, "cache": 15.0, "overdue": 5.0, "cost": "fleet"}
WORK_QUEUES = (SCHEDULER_QUEUE, DELIVERY_QUEUE)
DEAD_LETTER_QUEUES = (DEAD_LETTER_QUEUE,)

_last_run: dict[str, float] = {}
_warn = {name: broker.Throttled() for name in INTERVALS}
_warn["management"] = broker.Throttled()
_redis_seen: dict[str, float] = {}


def refresh(force: bool = False) -> None:
    for name, interval in INTERVALS.items():
        if interval == "fleet":
            interval = settings.METRICS_FLEET_REFRESH_SECONDS
        now = time.monotonic()
        if not force and now - _last_run.get(name, -1e9) < interval:
            continue
        _last_run[name] = now
        try:
            REFRESHERS[name]()
        except Exception as exc:
            _warn[name].warn("metrics: %s source unavailable: %s", name, exc)


def refresh_users() -> None:
    users.refresh_population(clock.now())


def refresh_queues() -> None:
    from celery import current_app as app

    names = WORK_QUEUES + DEAD_LETTER_QUEUES
    if not settings.BROKER_IS_AMQP:
        depths = broker.filesystem_depths(settings.EMBEDDED_BROKER_DIR / "out", WORK_QUEUES)
        for name, depth in depths.items():
            QUEUE_DEPTH.labels(name).set(depth)
        return
    try:
        counts = broker.amqp_counts(app, names)
    except Exception:
        for gauge in (QUEUE_DEPTH, QUEUE_DLQ, QUEUE_CONSUMERS):
            gauge.clear()
        raise
    for name in names:
        # A queue that does not exist holds nothing (and has nobody consuming it).
        messages, consumers = counts.get(name, (0, 0))
        (QUEUE_DLQ if name in DEAD_LETTER_QUEUES else QUEUE_DEPTH).labels(name).set(messages)
        QUEUE_CONSUMERS.labels(name).set(consumers)
    try:
        stats = broker.management_stats(broker.rabbitmq_management_url(), broker.vhost(settings.CELERY_BROKER_URL))
    except Exception as exc:
        for gauge in (QUEUE_UNACKED, QUEUE_PUBLISH_RATE, QUEUE_CONSUME_RATE, QUEUE_PREFETCH):
            gauge.clear()
        _warn["management"].warn("metrics: RabbitMQ management API unavailable: %s", exc)
        return
    for name in names:
        if name in stats:
            QUEUE_UNACKED.labels(name).set(stats[name]["unacked"])
            QUEUE_PUBLISH_RATE.labels(name).set(stats[name]["publish_rate"])
            QUEUE_CONSUME_RATE.labels(name).set(stats[name]["consume_rate"])
            QUEUE_PREFETCH.labels(name).set(stats[name]["prefetch"])


def refresh_cache() -> None:
    backend = caches["default"]
    stats_of = getattr(backend, "server_stats", None)
    if stats_of is None:
        return
    stats = stats_of()
    kind = getattr(backend, "cache_type", "cache")
    CACHE_SIZE.labels(kind).set(stats["size_bytes"])
    # Redis counts evictions itself since its start; move ours by what it added since last read
    # (all of it after a Redis restart, when its count went down).
    for reason, field in (("evicted", "evicted"), ("expired", "expired")):
        if field not in stats:
            continue
        child = CACHE_EVICTIONS.labels(kind, reason)
        current = stats[field]
        previous = _redis_seen.get(field)
        delta = current if previous is None or current < previous else current - previous
        if delta > 0:
            child.inc(delta)
        _redis_seen[field] = current


def refresh_overdue() -> None:
    overdue.refresh(clock.now())


def refresh_cost() -> None:
    INFRASTRUCTURE_COST.labels("database").set(settings.INFRA_COST_DATABASE_USD_HOURLY)
    INFRASTRUCTURE_COST.labels("queue").set(settings.INFRA_COST_QUEUE_USD_HOURLY)
    INFRASTRUCTURE_COST.labels("compute").set(settings.INFRA_COST_COMPUTE_USD_HOURLY)
    if "active" not in users.population:
        refresh_users()
    COST_PER_USER.set(cost.trailing_cost_per_user(clock.now(), users.population["active"]))


REFRESHERS = {
    "users": refresh_users,
    "queues": refresh_queues,
    "cache": refresh_cache,
    "overdue": refresh_overdue,
    "cost": refresh_cost,
}
