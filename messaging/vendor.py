"""HTTP client for the email vendor's `POST /send-email` API.

`VendorClient.send` turns every answer, and every way of not getting one, into a
`VendorResult`; it never raises for vendor trouble, so the delivery code has one place to
decide what to do next. The client keeps one keep-alive connection per sending thread;
`get_client` hands out one client per process and builds a fresh one after a fork, because
sockets inherited from the parent must not be shared.
"""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import json
import math
import os
import select
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping

from .models import DeliveryAttempt

Outcome = DeliveryAttempt.Outcome

DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 3600.0
MAX_ERROR_CHARS = 300
# The vendor's answers are a few hundred bytes; more than this is not its answer (a base URL that
# names something else) and is not read into a worker's memory.
MAX_RESPONSE_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class VendorResult:
    outcome: str
    http_status: int | None
    vendor_message_id: str
    retry_after: float | None
    error: str
    error_type: str | None
    duration_seconds: float

    @property
    def sent(self) -> bool:
        return self.outcome == Outcome.SENT


class VendorClient:
    """Sends over keep-alive HTTP/1.1 connections, one per calling thread.

    Each sending thread owns its connection, so concurrent sends never queue on a shared pool's
    lock; the standard library's `http.client` does the protocol work. Measured on the delivery
    path against the simulator at 50 threads, this costs about a sixth of the CPU per request
    of a shared `httpx.Client` (docs/performance.md), which is what bounded delivery throughput.
    Redirects are not followed and proxy variables are not consulted: the vendor is called
    directly.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive_expiry: float = 30.0,
        vendor_name: str = "email-service",
    ):
        self.base_url = base_url.rstrip("/")
        self.vendor_name = vendor_name
        self.url = f"{self.base_url}/send-email"
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"vendor URL must be http(s)://host[:port][/path]: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl.create_default_context() if self._https else None
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._open_lock = threading.Lock()
        self._headers = {"User-Agent": "birthday/1.0", "Accept": "application/json", "Content-Type": "application/json"}

    def send(self, email: str, message: str, idempotency_key: str) -> VendorResult:
        started = time.perf_counter()
        body = json.dumps({"email": email, "message": message}).encode()
        headers = dict(self._headers, **{"Idempotency-Key": str(idempotency_key)})
        try:
            conn, reused = self._connection()
        except (TimeoutError, socket.timeout) as exc:
            return _failure(Outcome.TIMEOUT, None, "timeout", _describe(exc, "connect timed out", "ConnectTimeout"), started)
        except (OSError, ssl.SSLError) as exc:
            return _failure(Outcome.CONNECTION_ERROR, None, "connection_error",
                            _describe(exc, "connection failed", "ConnectError"), started)
        try:
            try:
                status, content, response_headers, closing = self._exchange(conn, body, headers)
            except _STALE_ERRORS:
                if not reused:
                    raise
                # The vendor closed an idle keep-alive connection as the request went out: send
                # once more on a fresh one (the idempotency key absorbs a request that did land).
                self._discard(conn)
                conn, _ = self._connection()
                status, content, response_headers, closing = self._exchange(conn, body, headers)
        except (TimeoutError, socket.timeout) as exc:
            self._discard(conn)
            return _failure(Outcome.TIMEOUT, None, "timeout", _describe(exc, "no answer in time", "ReadTimeout"), started)
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            # Refused, reset, closed without an answer, garbled status line, TLS failure:
            # the vendor never answered.
            self._discard(conn)
            name = "RemoteProtocolError" if isinstance(exc, http.client.HTTPException) else "ConnectError"
            return _failure(Outcome.CONNECTION_ERROR, None, "connection_error",
                            _describe(exc, "connection failed", name), started)
        if len(content) > MAX_RESPONSE_BYTES:
            self._discard(conn)  # the rest of the body is still on it
            return _failure(Outcome.SERVER_ERROR, status, "invalid_response",
                            f"HTTP {status}: answer larger than {MAX_RESPONSE_BYTES} bytes", started)
        if closing:
            self._discard(conn)
        else:
            self._local.last_used = time.monotonic()
        return classify(status, content, response_headers, started)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's open connection (reused unless idle too long or closed by the vendor)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            idle = time.monotonic() - getattr(self._local, "last_used", 0.0)
            # Readable while idle means the vendor closed it (or sent something unasked for). A
            # connection used within the last second is not polled: servers close idle ones after
            # seconds, and the stale-connection resend in `send` covers the rare race.
            if conn.sock is not None and (idle < _FRESH_SECONDS or (idle < self._keepalive_expiry and not _readable(conn.sock))):
                return conn, True
            self._discard(conn)
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout,
                                               context=self._ssl_context)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        conn.connect()
        conn.sock.settimeout(self._read_timeout)
        self._local.conn = conn
        with self._open_lock:
            self._open.add(conn)
        return conn, False

    def _exchange(self, conn, body: bytes, headers: dict) -> tuple[int, bytes, http.client.HTTPMessage, bool]:
        conn.request("POST", self._path, body=body, headers=headers)
        response = conn.getresponse()
        content = response.read(MAX_RESPONSE_BYTES + 1)
        return response.status, content, response.headers, response.will_close

    def _discard(self, conn) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._open_lock:
            self._open.discard(conn)
        conn.close()

    def close(self) -> None:
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            conn.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_FRESH_SECONDS = 1.0

# A reused keep-alive connection that the vendor had closed fails with one of these before any
# answer byte arrives.
_STALE_ERRORS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()  # not select(): a worker may hold file descriptors past FD_SETSIZE
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def classify(status: int, body: bytes, headers: Mapping[str, str], started: float) -> VendorResult:
    """Map one HTTP answer to a result; `started` is the perf_counter value before the call."""
    payload = _json_object(body)
    if 200 <= status < 300:
        if payload is not None and payload.get("success") is True:
            message_id = payload.get("messageId")
            return VendorResult(
                outcome=Outcome.SENT,
                http_status=status,
                vendor_message_id="" if message_id is None else str(message_id),
                retry_after=None,
                error="",
                error_type=None,
                duration_seconds=time.perf_counter() - started,
            )
        # The vendor did not say it accepted the message, so it may not have: retry, and let
        # the idempotency key absorb the case where it did.
        return _failure(Outcome.SERVER_ERROR, status, "invalid_response", _body_error(status, payload, body, "no success:true"), started)
    if status == 429:
        return _failure(
            Outcome.RATE_LIMITED, status, "rate_limited", _body_error(status, payload, body, "rate limited"), started,
            retry_after=_retry_after(payload, headers),
        )
    if status == 408:
        return _failure(Outcome.TIMEOUT, status, "timeout", _body_error(status, payload, body, "request timeout"), started)
    if status == 400:
        return _failure(Outcome.REJECTED, status, "bad_request", _body_error(status, payload, body, "bad request"), started)
    if 400 <= status < 500:
        return _failure(Outcome.REJECTED, status, "client_error", _body_error(status, payload, body, "client error"), started)
    if status >= 500:
        return _failure(Outcome.SERVER_ERROR, status, "server_error", _body_error(status, payload, body, "server error"), started)
    # 1xx/3xx: not part of the contract (a proxy or a misconfigured base URL); not the message's fault.
    return _failure(Outcome.SERVER_ERROR, status, "invalid_response", _body_error(status, payload, body, "unexpected status"), started)


def _failure(outcome, status, error_type, error, started, retry_after=None) -> VendorResult:
    return VendorResult(
        outcome=outcome,
        http_status=status,
        vendor_message_id="",
        retry_after=retry_after,
        error=error[:MAX_ERROR_CHARS],
        error_type=error_type,
        duration_seconds=time.perf_counter() - started,
    )


def _describe(exc: Exception, fallback: str, kind: str | None = None) -> str:
    """`Kind: detail`; `kind` names the failure the way the delivery log always has (ConnectError,
    ReadTimeout, ...) when the exception's own class name says less (OSError, timeout)."""
    detail = str(exc).strip() or fallback
    name = kind or type(exc).__name__
    if kind and type(exc).__name__ not in (kind, "OSError", "TimeoutError", "timeout"):
        detail = f"{type(exc).__name__}: {detail}"
    return f"{name}: {detail}"


def _json_object(body: bytes) -> dict | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    return payload if isinstance(payload, dict) else None


def _body_error(status: int, payload: dict | None, body: bytes, fallback: str) -> str:
    if payload is not None and (payload.get("error") or payload.get("message")):
        parts = [str(payload[k]) for k in ("error", "message") if payload.get(k)]
        return f"HTTP {status}: " + ": ".join(parts)
    if payload is None and body:
        # An HTML error page or plain text: keep its first line, enough to recognise a proxy.
        snippet = body[:120].decode("utf-8", "replace").strip().splitlines()
        return f"HTTP {status}: {fallback} ({snippet[0] if snippet else ''})"
    return f"HTTP {status}: {fallback}"


def _retry_after(payload: dict | None, headers: Mapping[str, str]) -> float:
    seconds = _seconds(payload.get("retryAfter")) if payload is not None else None
    if seconds is None:
        seconds = _header_seconds(headers.get("Retry-After"))
    if seconds is None:
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _seconds(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def _header_seconds(value: str | None) -> float | None:
    if not value:
        return None
    seconds = _seconds(value.strip())
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return when.timestamp() - time.time()


# --- One client per process ------------------------------------------------

_lock = threading.Lock()
_client: VendorClient | None = None
_client_pid: int | None = None


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held the lock at fork time; the child must not
    # inherit it locked. The old client belongs to the parent and is dropped unused.
    global _lock, _client, _client_pid
    _lock = threading.Lock()
    _client = _client_pid = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_client() -> VendorClient:
    """The process's client, built from settings on first use (and again in a forked child)."""
    global _client, _client_pid
    pid = os.getpid()
    client = _client
    if client is not None and _client_pid == pid:
        return client
    from django.conf import settings

    with _lock:
        if _client is None or _client_pid != pid:
            _client = VendorClient(
                settings.VENDOR_BASE_URL,
                connect_timeout=settings.VENDOR_CONNECT_TIMEOUT_SECONDS,
                read_timeout=settings.VENDOR_READ_TIMEOUT_SECONDS,
                vendor_name=settings.VENDOR_NAME,
            )
            _client_pid = pid
        return _client


def reset_client() -> None:
    """Close and forget the process's client, so the next `get_client` reads settings again."""
    global _client, _client_pid
    with _lock:
        if _client is not None and _client_pid == os.getpid():
            _client.close()
        _client = _client_pid = None
