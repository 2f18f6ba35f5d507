"""gunicorn pieces (named in birthday/gunicorn_config.py): the worker class and the access log.

- Requests gunicorn rejects before the application sees them (a request line over
  `limit_request_line`, a header with control characters, a malformed chunk) get the API's JSON
  error shape, an `X-Request-ID`, an access line and, with tracing on, a span, instead of
  gunicorn's HTML page. gunicorn has no setting for its error bodies, so the worker replaces the
  one function that writes them, once, when the worker process starts.
- An answer that leaves more of the request body unread than gunicorn drains says
  `Connection: close`, since gunicorn closes that connection after it.
- A second quit signal while the first is being handled (Ctrl-C's SIGINT, then the master's
  SIGQUIT) is ignored instead of deadlocking the worker until the master kills it.
- Access lines go through the JSON log format with the request's `request_id` and `trace_id`.
  gunicorn writes them after the application has returned, when the request's context is gone;
  RequestIdMiddleware leaves both ids in the WSGI environ, which gunicorn hands to the logger.
"""

from __future__ import annotations

import datetime
import json
import re
import threading

from gunicorn import glogging, util
from gunicorn.http import wsgi
from gunicorn.workers import gthread

from observability import request_id

ENVIRON_REQUEST_ID = "birthday.request_id"
ENVIRON_TRACE_IDS = "birthday.trace_ids"

# Machine-readable codes for the statuses gunicorn answers itself.
_CODES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("forbidden", "The request is forbidden."),
    414: ("uri_too_long", "The request line is too long."),
    417: ("expectation_failed", "The Expect header cannot be met."),
    431: ("headers_too_large", "The request headers are too large."),
    500: ("server_error", "Internal server error."),
    501: ("not_implemented", "The request uses a transfer coding the server does not support."),
}
_REASONS = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 417: "Expectation Failed",
            431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented"}
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def json_error_response(status: int, current_request_id: str | None) -> bytes:
    code, detail = _CODES.get(status, ("error" if status < 500 else "server_error", _REASONS.get(status, "Error")))
    body = json.dumps({"error": code, "detail": detail}).encode()
    # The client's own message is not echoed: it can hold the very header that was refused.
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Connection: close",
            "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if current_request_id:
        head.append(f"{request_id.HEADER}: {current_request_id}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# What handle_error is doing in this thread: the worker's logger, the client address, and
# whether gunicorn wrote an access line (it does not when the request line itself was refused).
_rejecting = threading.local()


def _write_json_error(sock, status_int, reason, mesg):
    rejecting = getattr(_rejecting, "log", None)
    if rejecting is not None and not _rejecting.logged:
        rejecting.rejected(int(status_int), _rejecting.addr, datetime.datetime.now() - _rejecting.started)
    util.write_nonblock(sock, json_error_response(int(status_int), request_id.get()))


# gunicorn drains at most this much of a request body the application left unread (a 413, a
# 401 before the body) before it reads the next request on the connection, and closes the
# connection when more is left (gunicorn.http.parser's _DRAIN_MAX_BYTES).
DRAINED_BEFORE_KEEPALIVE = 64 * 1024
_gunicorn_should_close = wsgi.Response.should_close


def _should_close(response) -> bool:
    # The answer's Connection header comes from this; without it gunicorn announced keep-alive
    # and then dropped the connection, and the client's next request on it failed.
    if _gunicorn_should_close(response):
        return True
    unread = getattr(getattr(response.req.body, "reader", None), "length", 0)
    return isinstance(unread, int) and unread > DRAINED_BEFORE_KEEPALIVE


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker, with JSON bodies for the errors gunicorn answers itself."""

    _quitting = False

    def init_process(self):
        util.write_error = _write_json_error
        wsgi.Response.should_close = _should_close
        super().init_process()

    def handle_quit(self, sig, frame):
        # Ctrl-C reaches every worker from the terminal, then SIGQUIT comes from the master. A
        # second handler run inside the first (mid ThreadPoolExecutor.shutdown, which holds the
        # pool's lock) would wait on that lock for ever, until the master's SIGKILL; the first
        # handler is already stopping the worker, so the second has nothing to add.
        if self._quitting:
            return
        self._quitting = True
        super().handle_quit(sig, frame)

    def handle_error(self, req, client, addr, exc):
        from opentelemetry import trace

        # The ids the access line and the response carry; a span when tracing is on, so a
        # rejected request shows in the traces like any other.
        tracer = trace.get_tracer("birthday.server")
        with tracer.start_as_current_span("HTTP rejected by server", kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("error.type", type(exc).__name__)
            _rejecting.log, _rejecting.addr, _rejecting.logged = self.log, addr, False
            _rejecting.started = datetime.datetime.now()
            try:
                with request_id.bound(request_id.new_id()):
                    super().handle_error(req, client, addr, exc)
            finally:
                _rejecting.log = None


def _trace_ids(environ) -> tuple[str | None, str | None]:
    ids = environ.get(ENVIRON_TRACE_IDS)
    if ids:
        return ids
    # Not traced here (tracing off, or rejected before the application): a caller's W3C trace
    # context still ties the line to the caller's trace.
    match = _TRACEPARENT.fullmatch(environ.get("HTTP_TRACEPARENT", "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1), match.group(2)
    return None, None


class AccessLogger(glogging.Logger):
    """One JSON access line per request, with request_id and trace_id (logger gunicorn.access)."""

    def access(self, resp, req, environ, request_time):
        _rejecting.logged = True
        if not self.access_log_enabled or not self.access_log.isEnabledFor(20):
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        trace_id, span_id = _trace_ids(environ)
        extra = {
            "http_method": environ.get("REQUEST_METHOD"),
            "path": environ.get("RAW_URI") or environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "response_bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": environ.get(ENVIRON_REQUEST_ID) or request_id.get(),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        self._write(extra)

    def rejected(self, status: int, addr, request_time) -> None:
        """The access line of a request refused before its request line could be read."""
        if not self.access_log_enabled or not self.access_log.isEnabledFor(20):
            return
        self._write({
            "http_method": None, "path": None, "status": status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3), "response_bytes": None,
            "remote_addr": addr[0] if addr else None, "user_agent": None,
            "request_id": request_id.get(), "trace_id": None, "span_id": None,
        })

    def _write(self, extra: dict) -> None:
        if extra["trace_id"] is None:
            # Rejected by the server itself: the span handle_error opened, if tracing is on.
            from opentelemetry import trace

            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                extra["trace_id"], extra["span_id"] = format(context.trace_id, "032x"), format(context.span_id, "016x")
        try:
            self.access_log.info("%s %s %s", extra["http_method"] or "-", extra["path"] or "-", extra["status"],
                                 extra=extra)
        except Exception:
            self.exception("could not write the access line")
