"""Imports every module that connects signal receivers, so they are live in every process."""

import logging

from . import telemetry_hooks  # Celery lifecycle: tracing per process, JSON logs, request id

# Django no longer does this: without it warnings bypass the JSON log format.
logging.captureWarnings(True)

# Processes that are not forked after Django starts (manage.py commands, runserver) set tracing
# up here; gunicorn and Celery processes are skipped and use their fork hooks instead.
telemetry_hooks.configure_for_process()
from .metrics import receivers as metrics_receivers  # noqa: E402,F401  (Prometheus metrics)
