"""The API's two most frequent requests answered before Django: a WSGI application in front of
Django's (birthday/wsgi.py).

Django and DRF cost about 2 ms of CPU a request before an endpoint does anything
(docs/performance.md, "The floor"); `GET /user/<id>` (reads.py) and `POST /user` (creates.py) need
a fraction of that. They are answered with the pieces Django's path uses, called directly:

- the token's cached answer (`apiauth.services.active_from_cache`), never the database, read in
  one Redis pipeline with the request counted in the rate limit's windows, the same ones DRF's
  throttle counts in (`apiauth.throttling.window_keys`, `decide`);
- the serializer's own validation, and the same rendering (`users.serializers.render_user`), JSON
  bytes, error bodies and headers (the security headers are Django's own middleware's, computed
  once);
- one statement on a connection of the server thread's own (psycopg, autocommit), timed by the
  same query metrics as Django's (`observability.metrics.database.query_wrapper`);
- the same RED, security, API-key and user metrics and the same access line.

An endpoint answers only when its answer is the one Django would give, and otherwise returns None
and Django answers: embedded mode (SQLite, no Redis), tracing on (Django's spans are the traced
path), a method or path it does not serve, a query string, a Host Django would refuse, a request
Django would redirect to HTTPS, an Accept header DRF would negotiate (anything but none, `*/*` and
`application/json`), an Authorization header that is not one Bearer token, a token the cache does
not vouch for (unknown, revoked, not cached yet: Django looks it up and caches it), a token whose
`last_used_at` is due for its write (once a minute per token and process), a body the serializer
refuses or whose email is taken (Django's 400 and 409), and for DATABASE_RETRY_AFTER_SECONDS after
its connection failed (Django's path, its pool and its 503, take over until the database is back).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

from observability.tracing import tracing_enabled

from .connection import close_connections
from .creates import UserCreates
from .reads import UserReads

__all__ = ["Application", "UserCreates", "UserReads", "build", "close_connections"]

log = logging.getLogger("birthday.hot_path")


class Application:
    """The WSGI application: an endpoint's answer when one has it, Django's otherwise."""

    def __init__(self, endpoints, django_application):
        self.endpoints = list(endpoints)
        self.django = django_application

    def __call__(self, environ, start_response):
        answer = None
        try:
            for endpoint in self.endpoints:
                answer = endpoint.serve(environ)
                if answer is not None:
                    break
        except Exception:
            # A bug here must not cost the caller an answer: Django gives the one it would have.
            log.exception("the API's hot path failed; Django answers instead")
            answer = None
        if answer is None:
            return self.django(environ, start_response)
        start_response(answer.status_line, answer.headers)
        return [answer.body]


def build() -> list | None:
    """This process's hot-path endpoints, or None where they must not run."""
    if not settings.API_HOT_PATH:
        return None
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return None
    if getattr(getattr(cache, "_cache", None), "get_client", None) is None:  # not Redis
        return None
    if tracing_enabled():
        return None
    return [UserReads(), UserCreates()]
