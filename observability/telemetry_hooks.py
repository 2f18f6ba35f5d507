"""Process lifecycle for tracing and logs: when each kind of process sets tracing up and shuts it
down, and Celery's logging handed to the project's format. (The request id crosses the broker
with django-guid's Celery integration: observability/request_id.py.)

- gunicorn: `post_fork` / `worker_exit` in birthday/gunicorn_config.py call the functions below;
  the master never starts an exporter thread.
- Celery worker, prefork pool: each child sets up in `worker_process_init` (after the fork) and
  flushes in `worker_process_shutdown`. Other pools (solo, threads) run tasks in the main
  process, which sets up in `worker_init`.
- Celery beat: `beat_init`.
- manage.py commands and runserver: manage.py's `main`, before Django starts.

Each start hook names its process; nothing here guesses it from argv.
"""

from __future__ import annotations

import os

from celery import signals

from . import tracing
from .logging import configure_from_settings


# --- gunicorn -------------------------------------------------------------------------------


def gunicorn_post_fork(server, worker) -> None:
    # Runs in the new worker before it loads the WSGI app, so Django's tracing middleware is
    # in place when the middleware chain is built.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
    tracing.configure_tracing("api")


def gunicorn_worker_exit(server, worker) -> None:
    tracing.shutdown_tracing()


# --- Celery: tracing ------------------------------------------------------------------------


def _runs_tasks_in_main_process(worker) -> bool:
    from celery import concurrency

    pool_cls = concurrency.get_implementation(getattr(worker, "pool_cls", None) or "prefork")
    return pool_cls.__module__ != "celery.concurrency.prefork"


@signals.worker_init.connect(weak=False)
def _worker_init(sender=None, **kwargs):
    if sender is not None and _runs_tasks_in_main_process(sender):
        tracing.configure_tracing("worker")


@signals.worker_process_init.connect(weak=False)
def _worker_process_init(**kwargs):
    tracing.configure_tracing("worker")


@signals.beat_init.connect(weak=False)
def _beat_init(**kwargs):
    tracing.configure_tracing("beat")


@signals.worker_process_shutdown.connect(weak=False)
def _worker_process_shutdown(**kwargs):
    tracing.shutdown_tracing()


@signals.worker_shutdown.connect(weak=False)
def _worker_shutdown(**kwargs):
    tracing.shutdown_tracing()


# --- Celery: logging ------------------------------------------------------------------------


@signals.setup_logging.connect(weak=False)
def _setup_logging(**kwargs):
    # A receiver here stops Celery installing its own handlers (and its non-propagating task
    # logger), so worker and beat lines go through the same JSON formatter as the API's.
    configure_from_settings()
