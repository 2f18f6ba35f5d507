"""What every hot-path endpoint shares: screening a request as Django would before it reaches a
view, the token and the rate limit in one Redis round trip, and the framing of the answer (request
id, security headers, RED, security and API-key metrics) that Django's middleware would give."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from http import HTTPStatus

import psycopg
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import resolve
from django_guid.utils import generate_guid, validate_guid
from rest_framework.exceptions import Throttled

from apiauth import services as tokens
from apiauth import throttling
from birthday.exceptions import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE
from observability import request_id
from observability.metrics import http as http_metrics
from observability.metrics import labels
from observability.metrics.definitions import (
    API_CONCURRENT,
    API_KEY_USAGE,
    CACHE_HITS,
    CACHE_MISSES,
    CACHE_OPERATION_DURATION,
    RATE_LIMIT_EXCEEDED,
)

from .connection import DATABASE

log = logging.getLogger("birthday.hot_path")

JSON = ("Content-Type", "application/json")
# Accept headers DRF answers with its compact JSON. Not "": an Accept header present and empty
# admits nothing, and DRF answers 406.
PLAIN_ACCEPT = frozenset({None, "*/*", "application/json"})
# What an endpoint's work returns when Django must answer after all.
DECLINE = object()
# Token ids this process remembers (by cache key); forgotten all at once when full.
KNOWN_TOKENS = 10_000


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


@dataclasses.dataclass(frozen=True)
class Caller:
    """A request that passed the screening: over HTTPS or not, and its token."""

    secure: bool
    cache_key: str
    token_id: int


def render(document) -> bytes:
    # DRF's JSONRenderer with the project's settings: compact, UTF-8, no NaN.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def django_security_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to an API answer,
    from those middlewares themselves, for a request over HTTPS or not."""
    request = HttpRequest()
    request.META = {"wsgi.url_scheme": "https" if secure else "http", "SERVER_NAME": "api", "SERVER_PORT": "443"}
    response = HttpResponse()
    SecurityMiddleware(lambda r: response).process_response(request, response)
    XFrameOptionsMiddleware(lambda r: response).process_response(request, response)
    return [(name, value) for name, value in response.items() if name.lower() != "content-type"]


def database_unavailable():
    return 503, render(DATABASE_UNAVAILABLE), [("Retry-After", str(DATABASE_RETRY_AFTER_SECONDS))]


class Endpoint:
    """One route's hot path. A subclass sets `method`, answers in `serve` and does its work in
    the function it passes to `respond`."""

    method = "GET"

    def __init__(self, view_class, path: str, **view_kwargs):
        self.route = resolve(path).route
        view = view_class()
        view.setup(HttpRequest(), **view_kwargs)  # as for a request: HEAD answered by GET
        allow = ", ".join(view._allowed_methods())
        self.headers = {secure: [JSON, ("Allow", allow), *django_security_headers(secure)]
                        for secure in (False, True)}
        self.db = DATABASE
        self.retry_after_db = DATABASE_RETRY_AFTER_SECONDS
        self.db_failed_at = None
        self.known_tokens: dict[str, int] = {}
        self.proxy_ssl_header = settings.SECURE_PROXY_SSL_HEADER
        self.ssl_redirect = settings.SECURE_SSL_REDIRECT

    # --- deciding whether to answer ----------------------------------------------------------

    def screen(self, environ) -> Caller | None:
        """The caller, if Django would let this request reach the view with a token the cache
        vouches for; None leaves the request to Django."""
        if environ.get("HTTP_ACCEPT") not in PLAIN_ACCEPT:
            return None  # DRF negotiates anything else (a 406, an indented rendering)
        if self.db_failed_at is not None and time.monotonic() - self.db_failed_at < self.retry_after_db:
            return None
        secure = self._secure(environ)
        if (self.ssl_redirect and not secure) or not self._host_allowed(environ):
            return None
        # A repeated Authorization header reaches here joined with a comma: not one token.
        raw = self._bearer(environ.get("HTTP_AUTHORIZATION"))
        if raw is None:
            return None
        key = cache.make_and_validate_key(tokens.cache_key(raw))
        token_id = self._token_id(raw, key)
        if token_id is None or not tokens.use_recorded_recently(token_id):
            return None
        return Caller(secure, key, token_id)

    def _secure(self, environ) -> bool:
        # As HttpRequest.is_secure().
        if self.proxy_ssl_header:
            name, value = self.proxy_ssl_header
            given = environ.get(name)
            if given is not None:
                return given.split(",", 1)[0].strip() == value
        return environ.get("wsgi.url_scheme") == "https"

    @staticmethod
    def _host_allowed(environ) -> bool:
        # As HttpRequest.get_host(), for the requests it would accept without a second look.
        if settings.USE_X_FORWARDED_HOST or not environ.get("HTTP_HOST"):
            return False
        domain, _ = split_domain_port(environ["HTTP_HOST"])
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = [".localhost", "127.0.0.1", "[::1]"]
        return bool(domain) and validate_host(domain, allowed)

    @staticmethod
    def _bearer(header: str | None) -> str | None:
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer" or len(parts[1]) > 256 or not parts[1].isascii():
            return None
        return parts[1]

    def _token_id(self, raw: str, key: str) -> int | None:
        """The id of the token `raw`, remembered by this process once the cache has vouched for it:
        the id names the throttle's counters, which are counted in the same round trip that reads
        the token's cached answer again."""
        token_id = self.known_tokens.get(key)
        if token_id is not None:
            return token_id
        try:
            info = tokens.cached_active_token(raw)
        except Exception:  # the cache is down: Django reads the database
            return None
        if info is None:
            return None
        if len(self.known_tokens) >= KNOWN_TOKENS:
            self.known_tokens.clear()
        self.known_tokens[key] = info.id
        return info.id

    def authorise_and_count(self, caller: Caller):
        """One round trip: the token's cached answer (again: a revoke overwrites it) and the
        request counted in its throttle window. Returns (the throttle's wait, None when allowed;
        the counter it incremented, for `uncount`), or DECLINE (Django answers) if the token is
        no longer vouched for; then the count is taken back, since Django counts the request
        itself."""
        now = time.time()
        rate = throttling.configured_rate()  # per request, as DRF's throttle reads it
        num_requests, duration = rate
        redis_cache = getattr(cache, "_cache", None)
        if getattr(redis_cache, "get_client", None) is None:
            return DECLINE  # the cache in use is not Redis (a test's override)
        client = redis_cache.get_client(write=True)
        current_key = None
        try:
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            pipe.get(caller.cache_key)
            if num_requests is not None:
                current_key, previous_key = (cache.make_and_validate_key(k) for k in
                                             throttling.window_keys(f"token-{caller.token_id}", now, duration))
                pipe.incr(current_key)
                pipe.expire(current_key, 2 * duration)
                pipe.get(previous_key)
            replies = pipe.execute()
            CACHE_OPERATION_DURATION.labels("get").observe(time.perf_counter() - started)
        except Exception:  # the cache is down: Django's path knows what to do
            return DECLINE
        cached = replies[0]
        (CACHE_HITS if cached is not None else CACHE_MISSES).labels("redis").inc()
        info = tokens.active_from_cache(None if cached is None else redis_cache._serializer.loads(cached))
        if info is None or info.id != caller.token_id:
            self.known_tokens.pop(caller.cache_key, None)
            self.uncount(current_key)
            return DECLINE
        if num_requests is None:
            return None, None
        return throttling.decide(int(replies[1]), int(replies[3] or 0), now=now, rate=rate), current_key

    @staticmethod
    def uncount(counter_key: str | None) -> None:
        """Takes back a request counted by `authorise_and_count` that Django will count again."""
        if counter_key is None:
            return
        try:
            cache._cache.get_client(write=True).decr(counter_key)
        except Exception:
            pass

    # --- answering ---------------------------------------------------------------------------

    def respond(self, environ, caller: Caller, wait: float | None, work, *, request_bytes: int = 0):
        """The answer to a screened, counted request: a 429 if the throttle says wait, else what
        `work()` gives as (status, body, extra headers), under the request's id, with its metrics.
        If `work()` returns DECLINE, so does this, having recorded nothing."""
        started = time.perf_counter()
        given_id = environ.get("HTTP_X_REQUEST_ID", "")
        current_id = given_id if given_id and validate_guid(given_id) else generate_guid()
        API_CONCURRENT.inc()
        try:
            with request_id.bound(current_id):
                outcome = self._throttled(wait) if wait is not None else work()
        finally:
            API_CONCURRENT.dec()
        if outcome is DECLINE:
            return DECLINE
        if given_id and current_id != given_id:  # as django-guid reports it
            logging.getLogger("django_guid").warning("%s is not a valid GUID. New GUID is %s", given_id, current_id)
        status, body, extra = outcome
        response_headers = [*self.headers[caller.secure], *extra, ("Content-Length", str(len(body))),
                            (request_id.HEADER, current_id)]
        # For the server's access line (birthday/server.py), as RequestIdMiddleware leaves it.
        environ["birthday.request_id"] = current_id
        http_metrics.record_request(method=self.method, route=self.route, status=status,
                                    seconds=time.perf_counter() - started, request_bytes=request_bytes,
                                    response_bytes=len(body))
        if status == 429:
            RATE_LIMIT_EXCEEDED.labels(self.route, labels.client_networks.label(environ.get("REMOTE_ADDR"))).inc()
        API_KEY_USAGE.labels(str(caller.token_id)).inc()
        return Answer(status, response_headers, body)

    @staticmethod
    def _throttled(wait: float):
        seconds = throttling.retry_after(wait)
        body = render({"error": "throttled", "detail": str(Throttled(wait=seconds).detail)})
        return 429, body, [("Retry-After", str(seconds))]

    def database_failed(self, exc: psycopg.OperationalError):
        """The 503 Django's path gives; Django answers for DATABASE_RETRY_AFTER_SECONDS after it."""
        self.db_failed_at = time.monotonic()
        log.warning("database unavailable, answering 503: %s", exc)
        return database_unavailable()

    def database_answered(self) -> None:
        self.db_failed_at = None
