"""The correlation id: one per API request, and one per Celery task chain started outside a request.

django-guid keeps it (settings: DJANGO_GUID). Its middleware takes a caller's `X-Request-ID`
when it is a UUID (dashed, or 32 hex digits as nginx's `$request_id`) and makes a new one
otherwise, so nothing a client sends reaches logs or headers unchecked; its Celery integration
carries the current id in a message header to every task published meanwhile, and gives a task
published outside a request (beat's tick) an id of its own, so a request's or a tick's whole
fan-out shares one id across processes.

`RequestIdMiddleware` runs django-guid's request steps and adds what they leave out: the id is
cleared when the request ends (django-guid's own middleware leaves it on the thread for the
next request), and the id and trace ids are put where the lines written after the middleware
chain has returned can find them. This module needs no Django settings: gunicorn's error path
uses it before any request reaches Django.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from django_guid.context import guid as _current

HEADER = "X-Request-ID"


def new_id() -> str:
    return uuid.uuid4().hex


def get() -> str | None:
    return _current.get()


@contextlib.contextmanager
def bound(value: str | None) -> Iterator[str | None]:
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


class RequestIdMiddleware:
    """django-guid's middleware steps (the id chosen, the response header set), the id bound for
    this request only, and the ids kept on the request and in the WSGI environ."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django_guid.middleware import process_incoming_request, process_outgoing_request

        token = _current.set(None)
        try:
            process_incoming_request(request)
            response = self.get_response(self._remember(request))
            process_outgoing_request(response, request)
        finally:
            _current.reset(token)
        return response

    @staticmethod
    def _remember(request):
        request_id = get()
        request.request_id = request_id
        # Django logs 4xx/5xx responses after the middleware chain has returned; the log
        # filter reads the ids from the request those records carry.
        request.trace_ids = _tag_server_span(request_id)
        # For the server's access line, written after this request's context is gone
        # (birthday/server.py); request.META is the WSGI environ the server logs from.
        request.META["birthday.request_id"] = request_id
        if request.trace_ids:
            request.META["birthday.trace_ids"] = request.trace_ids
        return request


def _tag_server_span(request_id: str | None) -> tuple[str, str] | None:
    # Lets a trace found in the tracing UI be matched to the caller's own request id.
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording() and request_id:
        span.set_attribute("http.request.header.x-request-id", (request_id,))
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
