"""CPU of the API's hot path in-process, without a server or a load generator:
`python -m bench.hot_path_cost [--calls N] 2>/dev/null` prints JSON.

Against the database and Redis the environment names (DATABASE_URL on PostgreSQL, REDIS_URL; it
creates a token and users there): microseconds of CPU (`time.process_time`) per `GET /user/<id>`
answered by `UserReads.serve`, per `POST /user` answered by `UserCreates.serve` (each body
prepared beforehand), and per access line written by the server's `AccessLogger` through the
logging configuration in use (its lines go to stderr: send that to /dev/null, as a server's
would go to its log)."""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import sys
import time
import uuid


def _environ(method: str, path: str, token: str, body: bytes = b"") -> dict:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "HTTP_HOST": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "HTTP_AUTHORIZATION": f"Bearer {token}", "wsgi.input": io.BytesIO(body),
    }
    if body:
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    return environ


def _cpu_us(calls: list, expected_status: int) -> float:
    started = time.process_time()
    answers = [call() for call in calls]
    spent = time.process_time() - started
    statuses = {getattr(answer, "status", None) for answer in answers}
    if statuses != {expected_status}:
        raise SystemExit(f"expected only {expected_status} answers, got {statuses}: the hot path declined "
                         "(is REDIS_URL set, the database PostgreSQL, tracing off?)")
    return round(spent / len(calls) * 1e6, 1)


def measure(calls: int = 2000) -> dict:
    """{"get_us", "post_us", "access_line_us"}: CPU microseconds per call, `calls` calls each."""
    from apiauth import services as tokens
    from birthday import hot_path
    from birthday.server import AccessLogger
    from users import services

    _, raw = tokens.create_token(f"hot-path-cost-{uuid.uuid4().hex[:8]}")
    tokens.mark_used(tokens.lookup(raw))  # as Django's first request of the token would
    run = uuid.uuid4().hex[:8]
    user = services.create_user({"first_name": "Ann", "last_name": "Lee", "email": f"cost-{run}@example.com",
                                 "birthday": datetime.date(1990, 3, 4), "timezone": "Asia/Kathmandu",
                                 "anniversary_date": datetime.date(2015, 6, 10)})
    reads, creates = hot_path.UserReads(), hot_path.UserCreates()

    def created(n: int) -> bytes:
        return json.dumps({"first_name": "Bo", "last_name": "Ng", "email": f"cost-{run}-{n}@example.com",
                           "birthday": "1990-03-04", "timezone": "Asia/Kathmandu",
                           "anniversary_date": "2015-06-10"}).encode()

    # Each request's environ is built before the clock starts: only the hot path is timed.
    gets = [_environ("GET", f"/user/{user.pk}", raw) for _ in range(calls)]
    posts = [_environ("POST", "/user", raw, created(n)) for n in range(calls)]
    figures = {
        "get_us": _cpu_us([lambda e=e: reads.serve(e) for e in gets], 200),
        "post_us": _cpu_us([lambda e=e: creates.serve(e) for e in posts], 201),
    }

    class Response:
        status, sent = "200 OK", 312

    access = AccessLogger.__new__(AccessLogger)  # only its access line, not gunicorn's set-up
    import logging

    access.access_log = logging.getLogger("gunicorn.access")
    access.error_log = logging.getLogger("gunicorn.error")
    access._access_log_enabled = True
    line = {"REQUEST_METHOD": "GET", "RAW_URI": f"/user/{user.pk}", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": "bench", "birthday.request_id": uuid.uuid4().hex}
    took = datetime.timedelta(microseconds=1234)
    started = time.process_time()
    for _ in range(calls):
        access.access(Response, None, line, took)
    figures["access_line_us"] = round((time.process_time() - started) / calls * 1e6, 1)
    hot_path.close_connections()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
    import django

    django.setup()
    print(json.dumps(measure(args.calls)))


if __name__ == "__main__":
    sys.exit(main())
