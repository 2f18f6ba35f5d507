"""The broker (namespace CELERY_): RabbitMQ from CELERY_BROKER_URL in production, a filesystem
broker under VAR_DIR shared by all local processes otherwise. The rest of Celery's configuration
is birthday/celeryconfig.py."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import VAR_DIR
from .database import USING_POSTGRES
from .env import env_int, env_str

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_IS_AMQP = CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as a container's cpuset sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Worker processes of each `celery -A birthday worker` (prefork) unless `-c` says otherwise. A
# delivery process spends part of every batch waiting on the vendor and the database, the longer
# the vendor's latency the more, so two per CPU keep the CPUs busy where Celery's own default (one
# per CPU) leaves them idle (measured: docs/performance.md, "Worker processes").
# Embedded mode (SQLite, which serialises its writers) keeps 2: more would only queue on its lock.
WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 2 * _usable_cpus() if USING_POSTGRES else 2)
if WORKER_CONCURRENCY < 1:
    raise ImproperlyConfigured(f"WORKER_CONCURRENCY must be at least 1, got {WORKER_CONCURRENCY}")
