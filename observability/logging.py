"""Log format for every process (API, workers, beat): one JSON object per line.

Each line carries the service, environment, trace and span ids and the request id, so a line
found in Loki leads to its trace and every other line of the same request or task chain.
Addresses and credentials are masked before anything is written: a filter rewrites the record
(so every handler, Sentry's included, sees the masked text) and the formatter masks again
whatever reached it another way (exception text, `extra` fields).

This module needs no Django settings: gunicorn's master uses it before Django is loaded.
"""

from __future__ import annotations

import datetime
import logging
import os
import re

from opentelemetry import trace
from pythonjsonlogger import json as jsonlogger

from . import request_id

# Credentials inside URLs (amqp://user:secret@host) go first, so their host is not then
# mistaken for an email domain.
# The user may be empty: Redis URLs carry a password alone (redis://:secret@host).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]*:[^/\s@]+@")
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer)\s+[A-Za-z0-9._~+/=-]+")
_API_TOKEN = re.compile(r"\bbdy_[A-Za-z0-9_-]+")
# `%40` too: request lines and URLs carry addresses percent-encoded.
_EMAIL = re.compile(
    r"(?P<first>[A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(?P<at>@|%40)(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)


# Every pattern above needs one of these; most texts (an access line's path, its user agent) have
# none, and one search costs less than the four substitutions.
_MAY_NEED_MASKING = re.compile(r"@|%40|bdy_|bearer", re.IGNORECASE)


def mask(text: str) -> str:
    """`text` with email addresses, bearer and API tokens and URL passwords masked."""
    if not text or not _MAY_NEED_MASKING.search(text):
        return text
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***:***@", text)
    text = _BEARER.sub(r"\g<scheme> ***", text)
    text = _API_TOKEN.sub("bdy_***", text)
    return _EMAIL.sub(r"\g<first>***\g<at>\g<domain>", text)


def _mask_value(value):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _mask_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_value(item) for item in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return mask(str(value))


def service_name() -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or "birthday"


def environment_name() -> str:
    return os.environ.get("BIRTHDAY_ENV") or "development"


CLIENT_FAULT_LOGGERS = "django.security."


class ClientFaultFilter(logging.Filter):
    """Django logs every SuspiciousOperation (a Host header outside ALLOWED_HOSTS, a forged
    signature, too many form fields) at ERROR with its traceback, and answers the request 400.
    It is the client's fault, not the service's: written at WARNING without the traceback, so an
    ERROR line stays a sign of the service failing (the runbooks search for those). They are
    still counted, in suspicious_activity_total."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING and record.name.startswith(CLIENT_FAULT_LOGGERS):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


class RedactFilter(logging.Filter):
    """Masks the rendered message in place, so no handler sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_birthday_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the formatter, which masks its output
            return True
        record.msg = mask(message)
        record.args = None
        record._birthday_masked = True
        return True


class ContextFilter(logging.Filter):
    """Adds service, environment, trace/span ids, the request id and the current task."""

    def __init__(self, name: str = "", service: str | None = None, environment: str | None = None):
        super().__init__(name)
        self.service = service or service_name()
        self.environment = environment or environment_name()

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.environment = self.environment
        # A line written for a request after its context is gone (the server's access line)
        # names its ids itself, with `extra`.
        preset = record.__dict__
        if preset.get("trace_id") is None:
            span_context = trace.get_current_span().get_span_context()
            if span_context.is_valid:
                record.trace_id = format(span_context.trace_id, "032x")
                record.span_id = format(span_context.span_id, "016x")
            else:
                record.trace_id = None
                record.span_id = None
        # django.request logs a failed response after the request's span is gone, but hands
        # over the request, which remembers its ids.
        http_request = getattr(record, "request", None)
        if preset.get("request_id") is None:
            record.request_id = getattr(http_request, "request_id", None) or request_id.get()
        trace_ids = getattr(http_request, "trace_ids", None)
        if record.trace_id is None and trace_ids:
            record.trace_id, record.span_id = trace_ids
        task = _current_task()
        if task is not None:
            record.task_id = task[0]
            record.task_name = task[1]
        return True


def _current_task() -> tuple[str, str] | None:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = current_task
    if not task:
        return None
    task_request = getattr(task, "request", None)
    task_id = getattr(task_request, "id", None)
    if not task_id:
        return None
    return task_id, task.name


_RESERVED = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "service", "environment", "trace_id", "span_id", "request_id",
       "task_id", "task_name", "_birthday_masked", "color_message"}
)


def _timestamp(record: logging.LogRecord) -> str:
    instant = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(jsonlogger.JsonFormatter):
    """python-json-logger's formatter with the fixed fields first and everything masked;
    `extra=` fields are kept (masked) beside the fixed ones."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("reserved_attrs", sorted(_RESERVED))
        kwargs.setdefault("json_ensure_ascii", False)
        kwargs.setdefault("json_default", str)
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        try:
            record.getMessage()
        except Exception as exc:  # a malformed log call must not lose the line
            record.msg = f"{record.msg!r} (unformattable arguments: {type(exc).__name__})"
            record.args = None
        return super().format(record)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        extras: dict = {}
        super().add_fields(extras, record, message_dict)
        log_record.update({
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
            "service": getattr(record, "service", None) or service_name(),
            "environment": getattr(record, "environment", None) or environment_name(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
            "request_id": getattr(record, "request_id", None),
        })
        if getattr(record, "task_id", None):
            log_record["task_id"] = record.task_id
            log_record["task_name"] = record.task_name
        log_record["process"] = record.process
        exception = extras.pop("exc_info", None)
        stack = extras.pop("stack_info", None)
        for key, value in extras.items():
            if key not in log_record:
                log_record[key] = _mask_value(value)
        if exception:
            log_record["exception"] = mask(str(exception))
            if record.exc_info and record.exc_info[0]:
                log_record["exception_type"] = record.exc_info[0].__name__
        if stack:
            log_record["stack"] = mask(str(stack))


class TextFormatter(logging.Formatter):
    """Readable lines for development (DJANGO_DEBUG on), still masked and still correlated."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = mask(super().format(record))
        ids = []
        if getattr(record, "request_id", None):
            ids.append(f"request_id={record.request_id}")
        if getattr(record, "trace_id", None):
            ids.append(f"trace_id={record.trace_id}")
        return f"{line} [{' '.join(ids)}]" if ids else line


def build_logging(debug: bool = False, level: str = "INFO", service: str | None = None,
                  environment: str | None = None, count_security_events: bool = False) -> dict:
    """The dictConfig used by Django (settings.LOGGING), Celery and gunicorn.

    count_security_events: Django's SuspiciousOperation records (django.security.*) also go to
    the suspicious-activity counter. A handler in the configuration itself, because dictConfig
    empties the handlers of every logger under one it configures, and Django configures logging
    again at every django.setup(). Off for gunicorn's master, which has no Django and must not
    load the metrics before its multiprocess directory is set."""
    context = {"()": "observability.logging.ContextFilter"}
    if service:
        context["service"] = service
    if environment:
        context["environment"] = environment
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "text" if debug else "json",
        "filters": ["client_faults", "redact", "context"],
    }
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "client_faults": {"()": "observability.logging.ClientFaultFilter"},
            "redact": {"()": "observability.logging.RedactFilter"},
            "context": context,
        },
        "formatters": {
            "json": {"()": "observability.logging.JsonFormatter"},
            "text": {"()": "observability.logging.TextFormatter"},
        },
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's defaults give these their own plain-text handlers; route them through ours.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
            "py.warnings": {"handlers": [], "propagate": True},
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": level, "propagate": False},
            # django-guid says at INFO, for every request and task, which id it chose.
            "django_guid": {"level": "WARNING"},
            # Per-request lines from the HTTP client would be noise next to the delivery logs.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
    if count_security_events:
        config["handlers"]["security_events"] = {"class": "observability.metrics.security.SecurityLogCounter",
                                                 "level": "WARNING"}
        config["loggers"]["django.security"] = {"handlers": ["security_events"], "propagate": True}
    return config


def configure_from_settings() -> None:
    """Reapplies settings.LOGGING; Celery calls it instead of installing its own handlers."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
