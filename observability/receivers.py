"""Imports every module that connects signal receivers, so they are live in every process."""

import logging

from . import telemetry_hooks  # noqa: F401  (Celery lifecycle: tracing per process, JSON logs)

# Django no longer does this: without it warnings bypass the JSON log format.
logging.captureWarnings(True)

from .metrics import receivers as metrics_receivers  # noqa: E402,F401  (Prometheus metrics)
