"""`GET /user/<id>` answered before Django: a WSGI application in front of Django's (birthday/wsgi.py).

Django and DRF cost about 2 ms of CPU a request before an endpoint does anything
(docs/performance.md, "The floor"); the API's most frequent request needs a fraction of that. This
module answers it with the pieces Django's path uses, called directly:

- the token's cached answer (`apiauth.services.active_from_cache`), never the database, read in
  one Redis pipeline with the request counted in the rate limit's windows, the same ones DRF's
  throttle counts in (`apiauth.throttling.window_keys`, `decide`);
- one SELECT of the user and its occasions on a connection of its own (psycopg, autocommit),
  timed by the same query metrics as Django's (`observability.metrics.database.query_wrapper`);
- the same rendering (`users.serializers.render_user`), JSON bytes, error bodies and headers
  (the security headers are Django's own middleware's, computed once);
- the same RED, security and API-key metrics and the same access line.

It answers only when its answer is the one Django would give, and otherwise returns None and
Django answers: embedded mode (SQLite, no Redis), tracing on (Django's spans are the traced
path), a method or path other than `GET /user/<digits>`, a query string, a Host Django would
refuse, a request Django would redirect to HTTPS, an Accept header DRF would
negotiate (anything but none, `*/*` and `application/json`), an Authorization header
that is not one Bearer token, a token the cache does not vouch for (unknown, revoked, not cached
yet: Django looks it up and caches it), a token whose `last_used_at` is due for its write (once a
minute per token and process), and for DATABASE_RETRY_AFTER_SECONDS after its connection failed.
Statuses it gives itself, once it has counted the request against the rate limit (as DRF does
after authenticating): 200, 404, 429 and 503 (tests/birthday/test_server.py stops a real
PostgreSQL under it).

It costs two round trips, one to Redis (the token's cached answer and the throttle's counters in
one pipeline) and one to PostgreSQL, on a connection per server thread; after a database failure
it steps aside, so that Django's path (its pool, its 503) takes over until the database is back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
import types
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
from observability.metrics.database import query_wrapper
from observability.metrics.definitions import (
    API_CONCURRENT,
    API_KEY_USAGE,
    CACHE_HITS,
    CACHE_MISSES,
    CACHE_OPERATION_DURATION,
    RATE_LIMIT_EXCEEDED,
)
from observability.tracing import tracing_enabled
from users.models import User
from users.selectors import parse_user_id
from users.serializers import render_user
from users.views import USER_NOT_FOUND, UserDetailView

log = logging.getLogger(__name__)

_PATH = re.compile(r"/user/([0-9]{1,19})")
_JSON = ("Content-Type", "application/json")
# Accept headers DRF answers with its compact JSON.
_PLAIN_ACCEPT = frozenset({None, "", "*/*", "application/json"})
# What _authorise_and_count returns when Django must answer (a wait of None means "allowed").
DECLINE = object()
# Token ids this process remembers (by cache key); forgotten all at once when full.
KNOWN_TOKENS = 10_000


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Application:
    """The WSGI application: the hot path's answer when it has one, Django's otherwise."""

    def __init__(self, hot_path: "UserReads", django_application):
        self.hot_path = hot_path
        self.django = django_application

    def __call__(self, environ, start_response):
        try:
            answer = self.hot_path.serve(environ)
        except Exception:
            # A bug here must not cost the caller an answer: Django gives the one it would have.
            log.exception("the API's hot path failed; Django answers instead")
            answer = None
        if answer is None:
            return self.django(environ, start_response)
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", answer.headers)
        return [answer.body]


def build():
    """The hot path for this process, or None where it must not run."""
    if not settings.API_HOT_PATH:
        return None
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return None
    if getattr(getattr(cache, "_cache", None), "get_client", None) is None:  # not Redis
        return None
    if tracing_enabled():
        return None
    return UserReads()


def _render(document) -> bytes:
    # DRF's JSONRenderer with the project's settings: compact, UTF-8, no NaN.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _django_security_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to an API answer,
    from those middlewares themselves, for a request over HTTPS or not."""
    request = HttpRequest()
    request.META = {"wsgi.url_scheme": "https" if secure else "http", "SERVER_NAME": "api", "SERVER_PORT": "443"}
    response = HttpResponse()
    SecurityMiddleware(lambda r: response).process_response(request, response)
    XFrameOptionsMiddleware(lambda r: response).process_response(request, response)
    return [(name, value) for name, value in response.items() if name.lower() != "content-type"]


_open_connections: set = set()
_open_connections_lock = threading.Lock()


def close_connections() -> None:
    """Closes every thread's hot-path connection (the test run does, before it drops its database)."""
    with _open_connections_lock:
        connections = list(_open_connections)
        _open_connections.clear()
    for conn in connections:
        try:
            conn.close()
        except Exception:
            pass


class _Connection(threading.local):
    """This server thread's own PostgreSQL connection, made on first use and remade after a
    failure. Django's pool is not used: its connections belong to Django's requests."""

    def __init__(self):
        self.conn = None

    @staticmethod
    def _params() -> dict:
        # Read when connecting, not at import: Django's settings then name the database in use
        # (the test run's own, under pytest).
        from django.db import connection

        params = connection.get_connection_params()
        return {key: value for key, value in params.items()
                if key not in ("cursor_factory", "context", "prepare_threshold", "pool")}

    def rows(self, sql: str, params: tuple):
        if self.conn is not None and self.conn.closed:
            self.conn = None  # closed by close_connections()
        fresh = self.conn is None
        try:
            if fresh:
                self.conn = psycopg.connect(**self._params(), autocommit=True)
                with _open_connections_lock:
                    _open_connections.add(self.conn)
            with self.conn.cursor() as cursor:
                def execute(*_):
                    cursor.execute(sql, params, prepare=True)
                    return cursor.fetchall()

                return query_wrapper(execute, sql, params, False, {"cursor": cursor})
        except psycopg.OperationalError:
            self.close()
            if fresh:
                raise
            # A connection that had worked is broken (the server restarted): one new one, as
            # CONN_HEALTH_CHECKS does for Django's, before answering 503.
            return self.rows(sql, params)

    def close(self):
        if self.conn is not None:
            with _open_connections_lock:
                _open_connections.discard(self.conn)
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


class UserReads:
    """GET /user/<id>."""

    def __init__(self):
        self.route = resolve("/user/1").route
        self.retry_after_db = DATABASE_RETRY_AFTER_SECONDS
        view = UserDetailView()
        view.setup(HttpRequest(), id="1")  # as for a request: HEAD answered by GET
        allow = ", ".join(view._allowed_methods())
        self.headers = {secure: [_JSON, ("Allow", allow), *_django_security_headers(secure)]
                        for secure in (False, True)}
        occasion = User.occasions.field.model
        user_columns = ["id", "first_name", "last_name", "email", "birthday", "timezone", "anniversary_date",
                        "created_at", "updated_at"]
        self.user_columns = user_columns
        self.sql = (
            "SELECT " + ", ".join(f'u."{User._meta.get_field(name).column}"' for name in user_columns)
            + ', o."kind", o."local_date", o."due_at"'
            + f' FROM "{User._meta.db_table}" u LEFT JOIN "{occasion._meta.db_table}" o'
            + ' ON o."user_id" = u."id" WHERE u."id" = %s'
        )
        self.db = _Connection()
        self.db_failed_at = None
        self.known_tokens: dict[str, int] = {}
        self.proxy_ssl_header = settings.SECURE_PROXY_SSL_HEADER
        self.ssl_redirect = settings.SECURE_SSL_REDIRECT

    # --- deciding whether to answer ----------------------------------------------------------

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

    def serve(self, environ) -> Answer | None:
        if environ["REQUEST_METHOD"] != "GET" or environ.get("QUERY_STRING"):
            return None
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("HTTP_ACCEPT") not in _PLAIN_ACCEPT:
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
        user_id = parse_user_id(match.group(1))
        if user_id is None:
            return None
        key = cache.make_and_validate_key(tokens.cache_key(raw))
        token_id = self._token_id(raw, key)
        if token_id is None or not tokens.use_recorded_recently(token_id):
            return None
        wait = self._authorise_and_count(key, token_id)
        if wait is DECLINE:
            return None
        return self._answer(environ, secure, token_id, user_id, wait)

    def _authorise_and_count(self, key: str, token_id: int):
        """One round trip: the token's cached answer (again: a revoke overwrites it) and the
        request counted in its throttle window. Returns the throttle's wait (None: allowed), or
        DECLINE (Django answers) if the token is no longer vouched for; then the count is taken
        back, since Django counts the request itself."""
        now = time.time()
        rate = throttling.configured_rate()  # per request, as DRF's throttle reads it
        num_requests, duration = rate
        redis_cache = getattr(cache, "_cache", None)
        if getattr(redis_cache, "get_client", None) is None:
            return DECLINE  # the cache in use is not Redis (a test's override)
        client = redis_cache.get_client(write=True)
        try:
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            pipe.get(key)
            if num_requests is not None:
                current_key, previous_key = (cache.make_and_validate_key(k)
                                             for k in throttling.window_keys(f"token-{token_id}", now, duration))
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
        if info is None or info.id != token_id:
            self.known_tokens.pop(key, None)
            if num_requests is not None:
                try:
                    client.decr(current_key)
                except Exception:
                    pass
            return DECLINE
        if num_requests is None:
            return None
        return throttling.decide(int(replies[1]), int(replies[3] or 0), now=now, rate=rate)

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

    # --- answering ---------------------------------------------------------------------------

    def _answer(self, environ, secure: bool, token_id: int, user_id: int, wait: float | None) -> Answer:
        started = time.perf_counter()
        given_id = environ.get("HTTP_X_REQUEST_ID", "")
        current_id = given_id if given_id and validate_guid(given_id) else generate_guid()
        if given_id and current_id != given_id:  # as django-guid reports it
            logging.getLogger("django_guid").warning("%s is not a valid GUID. New GUID is %s", given_id, current_id)
        API_CONCURRENT.inc()
        try:
            with request_id.bound(current_id):
                if wait is not None:
                    status, body, extra = self._throttled(wait)
                else:
                    status, body, extra = self._read(user_id)
        finally:
            API_CONCURRENT.dec()
        response_headers = [*self.headers[secure], *extra, ("Content-Length", str(len(body))),
                            (request_id.HEADER, current_id)]
        # For the server's access line (birthday/server.py), as RequestIdMiddleware leaves it.
        environ["birthday.request_id"] = current_id
        method = "GET"
        http_metrics.record_request(method=method, route=self.route, status=status, seconds=time.perf_counter() - started,
                            request_bytes=0, response_bytes=len(body))
        if status == 429:
            RATE_LIMIT_EXCEEDED.labels(self.route, labels.client_networks.label(environ.get("REMOTE_ADDR"))).inc()
        API_KEY_USAGE.labels(str(token_id)).inc()
        return Answer(status, response_headers, body)

    @staticmethod
    def _throttled(wait: float):
        seconds = throttling.retry_after(wait)
        body = _render({"error": "throttled", "detail": str(Throttled(wait=seconds).detail)})
        return 429, body, [("Retry-After", str(seconds))]

    def _read(self, user_id: int):
        try:
            rows = self.db.rows(self.sql, (user_id,))
        except psycopg.OperationalError as exc:
            self.db_failed_at = time.monotonic()
            log.warning("database unavailable, answering 503: %s", exc)
            return 503, _render(DATABASE_UNAVAILABLE), [("Retry-After", str(self.retry_after_db))]
        self.db_failed_at = None
        if not rows:
            return 404, _render({"error": "not_found", "detail": USER_NOT_FOUND}), []
        user = types.SimpleNamespace(**dict(zip(self.user_columns, rows[0], strict=False)))
        width = len(self.user_columns)
        occasions = [types.SimpleNamespace(kind=row[width], local_date=row[width + 1], due_at=row[width + 2])
                     for row in rows if row[width] is not None]
        return 200, _render(render_user(user, occasions)), []
