"""HTTP client for the email vendor's `POST /send-email` API.

`VendorClient.send` turns every answer, and every way of not getting one, into a
`VendorResult`; it never raises for vendor trouble, so the delivery code has one place to
decide what to do next. The client keeps a pool of keep-alive connections; `get_client` hands
out one client per process and builds a fresh one after a fork, because sockets inherited from
the parent must not be shared.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import math
import os
import threading
import time

import httpx

from .models import DeliveryAttempt

Outcome = DeliveryAttempt.Outcome

DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 3600.0
MAX_ERROR_CHARS = 300

# Outcomes that say nothing about the message itself, only about the vendor's health.
_RETRYABLE_OUTCOMES = frozenset({Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.CONNECTION_ERROR})


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
    def retryable(self) -> bool:
        """True when the same request may succeed later. Rate limiting is False here: the
        caller waits `retry_after` instead of spending its retry budget."""
        return self.outcome in _RETRYABLE_OUTCOMES

    @property
    def sent(self) -> bool:
        return self.outcome == Outcome.SENT


class VendorClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int = 100,
        vendor_name: str = "email-service",
    ):
        self.base_url = base_url.rstrip("/")
        self.vendor_name = vendor_name
        self.url = f"{self.base_url}/send-email"
        # Waiting for a free pooled connection is bounded like a connect: a saturated pool
        # must surface as a timeout, not block a worker forever.
        timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout + read_timeout
        )
        self._http = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=30.0,
            ),
            headers={"User-Agent": "birthday/1.0", "Accept": "application/json"},
            follow_redirects=False,
        )

    def send(self, email: str, message: str, idempotency_key: str) -> VendorResult:
        started = time.perf_counter()
        try:
            response = self._http.post(
                self.url,
                json={"email": email, "message": message},
                headers={"Idempotency-Key": str(idempotency_key)},
            )
        except httpx.TimeoutException as exc:
            return _failure(Outcome.TIMEOUT, None, "timeout", _describe(exc, "no answer in time"), started)
        except httpx.DecodingError as exc:
            return _failure(Outcome.SERVER_ERROR, None, "invalid_response", _describe(exc, "undecodable body"), started)
        except httpx.TransportError as exc:
            # Refused, reset, closed without an answer, TLS failure: the vendor never answered.
            return _failure(Outcome.CONNECTION_ERROR, None, "connection_error", _describe(exc, "connection failed"), started)
        return classify(response.status_code, response.content, response.headers, started)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def classify(status: int, body: bytes, headers: httpx.Headers, started: float) -> VendorResult:
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


def _describe(exc: Exception, fallback: str) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else f"{type(exc).__name__}: {fallback}"


def _json_object(body: bytes) -> dict | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
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


def _retry_after(payload: dict | None, headers: httpx.Headers) -> float:
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
                max_connections=max(100, settings.DELIVERY_CONCURRENCY),
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
