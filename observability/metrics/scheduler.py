"""Scheduler job metrics, from scheduler_job_ran, and missed runs.

A run counts as missed when its task expired on the queue before a worker took it (beat sets
`expires`), or when the gap between two consecutive runs spans more than one interval (beat was
down): each whole interval skipped is one missed run.
"""

import time

from celery import signals as celery_signals
from django.conf import settings
from django.core.cache import cache
from django.dispatch import receiver

from scheduler.jobs import scheduler_job_ran

from .definitions import (
    CRON_EXECUTIONS,
    CRON_LAST_SUCCESS,
    CRON_MESSAGES_SCHEDULED,
    CRON_MISSED,
    EXECUTION_DURATION,
    SCHEDULER_LAG,
)

# Celery task name -> job name used in the metrics.
JOBS = {"scheduler.tick": "scheduler_tick", "scheduler.dispatch": "dispatch"}


def job_interval(job_name: str) -> float | None:
    return {
        "scheduler_tick": float(settings.SCHEDULER_TICK_SECONDS),
        "dispatch": float(settings.DISPATCH_INTERVAL_SECONDS),
    }.get(job_name)


def missed_between(previous: float, current: float, interval: float) -> int:
    gap = current - previous
    if gap <= 1.5 * interval:
        return 0
    return max(0, round(gap / interval) - 1)


@receiver(scheduler_job_ran, dispatch_uid="metrics.scheduler.ran")
def _ran(sender, job_name, status, duration_seconds, scheduled_for=None, messages_scheduled=0, **kwargs):
    EXECUTION_DURATION.labels(job_name, status).observe(duration_seconds)
    CRON_EXECUTIONS.labels(job_name, status).inc()
    CRON_MESSAGES_SCHEDULED.labels(job_name).observe(messages_scheduled)
    wall_now = time.time()
    if status == "success":
        CRON_LAST_SUCCESS.labels(job_name).set(wall_now)
    if scheduled_for is not None:
        # Wall clock, not the scheduling clock: CLOCK_OFFSET_SECONDS shifts `started_at` but
        # beat stamps `scheduled_for` with the real time.
        started_wall = wall_now - duration_seconds
        SCHEDULER_LAG.labels(job_name).observe(max(0.0, started_wall - scheduled_for.timestamp()))
        _count_gap(job_name, scheduled_for.timestamp())


def _count_gap(job_name: str, planned: float) -> None:
    interval = job_interval(job_name)
    if not interval:
        return
    key = f"metrics:cron:last_planned:{job_name}"
    try:
        previous = cache.get(key)
        cache.set(key, planned, timeout=None)
    except Exception:
        return  # the cache is down: no gap detection this time
    if previous is not None and planned > previous:
        missed = missed_between(previous, planned, interval)
        if missed:
            CRON_MISSED.labels(job_name).inc(missed)


@celery_signals.task_revoked.connect(dispatch_uid="metrics.scheduler.revoked")
def _revoked(sender=None, expired=False, **kwargs):
    job = JOBS.get(getattr(sender, "name", None) or "")
    if expired and job:
        CRON_MISSED.labels(job).inc()
