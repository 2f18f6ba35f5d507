"""The correlation id: one per API request (or per Celery task chain started outside a request).

An `X-Request-ID` sent by a caller or a proxy is kept when it is safe to echo into logs and
headers; anything else is replaced, so a client cannot inject log lines or oversized values.
Tasks published while an id is current carry it in a message header, so a request's (or a
tick's) whole fan-out shares one id across processes.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# Name of the Celery message header; Celery exposes unknown headers as task.request attributes.
TASK_HEADER = "request_id"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,128}")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("birthday_request_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def sanitize(candidate: object) -> str | None:
    """The candidate if it is an acceptable id, else None."""
    if isinstance(candidate, bytes):
        try:
            candidate = candidate.decode("ascii")
        except UnicodeDecodeError:
            return None
    if isinstance(candidate, str) and _VALID.fullmatch(candidate):
        return candidate
    return None


def get() -> str | None:
    return _current.get()


def set_current(value: str | None) -> contextvars.Token:
    return _current.set(value)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def bound(value: str | None) -> Iterator[str | None]:
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """Binds the request's id for everything the request does and returns it to the caller."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sanitize(request.META.get(META_KEY)) or new_id()
        request.request_id = request_id
        # Django logs 4xx/5xx responses after the middleware chain has returned; the log
        # filter reads the ids from the request those records carry.
        request.trace_ids = _tag_server_span(request_id)
        # For the server's access line, written after this request's context is gone
        # (birthday/server.py); request.META is the WSGI environ the server logs from.
        request.META["birthday.request_id"] = request_id
        if request.trace_ids:
            request.META["birthday.trace_ids"] = request.trace_ids
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


def _tag_server_span(request_id: str) -> tuple[str, str] | None:
    # Lets a trace found in the tracing UI be matched to the caller's own request id.
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("http.request.header.x-request-id", (request_id,))
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
