"""What the integration tests run against, checked and prepared before they start.

`bin/test` runs `python -m tests.environment`: one line per service that does not answer (which,
where, how to start it) and a non-zero exit, instead of hundreds of connection errors; then the
test database, the RabbitMQ vhost and plugins are made ready. The conftest refuses an integration
run whose settings point at a developer's own data (the `birthday` database, Redis db 0, the
default vhost), which the tests would flush or purge.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

# bin/test's defaults: the local servers, with a database, a Redis db and a vhost of the tests' own.
DEFAULTS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/birthday_test",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/birthday_test",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}
# What a developer runs the system on (README: "on PostgreSQL, RabbitMQ and Redis").
DEVELOPMENT_DATABASE = "birthday"
DEVELOPMENT_REDIS_DB = 0
PLUGINS = ("rabbitmq_management", "rabbitmq_prometheus")


def database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def redis_db(url: str) -> int:
    path = urlsplit(url).path.lstrip("/")
    return int(path) if path else 0


def vhost(url: str) -> str:
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def isolation_problems(env: dict) -> list[str]:
    """Why these settings would let the tests flush or purge a developer's data ([] if they don't)."""
    problems = []
    database, broker, redis = env.get("DATABASE_URL", ""), env.get("CELERY_BROKER_URL", ""), env.get("REDIS_URL", "")
    if database.startswith(("postgres://", "postgresql://")) and database_name(database) == DEVELOPMENT_DATABASE:
        problems.append(f"DATABASE_URL names the development database {DEVELOPMENT_DATABASE!r}; "
                        f"the tests use their own (bin/test: {database_name(DEFAULTS['DATABASE_URL'])!r})")
    if redis.startswith(("redis://", "rediss://")) and redis_db(redis) == DEVELOPMENT_REDIS_DB:
        problems.append("REDIS_URL names Redis db 0, the development cache, which the tests flush; "
                        f"use another db (bin/test: {redis_db(DEFAULTS['REDIS_URL'])})")
    if broker.startswith(("amqp://", "amqps://", "pyamqp://")) and vhost(broker) == "/":
        problems.append("CELERY_BROKER_URL names the default vhost '/', whose queues the tests purge; "
                        f"use a vhost of their own (bin/test: {vhost(DEFAULTS['CELERY_BROKER_URL'])!r})")
    return problems


def _where(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or default_port}"


def _local(url: str) -> bool:
    return (urlsplit(url).hostname or "127.0.0.1") in {"127.0.0.1", "localhost", "::1"}


def _postgres_hint() -> str:
    clusters = sorted(p.name for p in Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if clusters:
        return f"pg_ctlcluster {clusters[-1]} main start"
    return "start PostgreSQL (e.g. systemctl start postgresql)"


def check_postgres(url: str) -> str | None:
    import psycopg

    parts = urlsplit(url)
    try:
        with psycopg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                             user=unquote(parts.username or "postgres"), password=unquote(parts.password or "") or None,
                             dbname="postgres", connect_timeout=3, autocommit=True) as conn:
            name = database_name(url)
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        return (f"PostgreSQL does not answer at {_where(url, 5432)} (DATABASE_URL): {reason}. "
                f"Start it: {_postgres_hint()}")
    return None


def _answers(url: str, auth=None) -> int | None:
    import httpx

    try:
        return httpx.get(url, auth=auth, timeout=3).status_code
    except httpx.HTTPError:
        return None


def system_program(name: str) -> str | None:
    """A program by name, looked up in /usr/sbin and /sbin too: Debian keeps rabbitmq-plugins and
    runuser there, and a clean environment's PATH may not hold them."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def check_rabbitmq(url: str, management_url: str | None = None) -> str | None:
    """The broker answers; its management and Prometheus plugins are on; the vhost exists.
    The HTTP APIs answer in milliseconds; the Erlang CLI (seconds a call) only fixes what is off."""
    import httpx
    import kombu

    parts = urlsplit(url)
    host, name = parts.hostname or "127.0.0.1", vhost(url)
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    start = "Start it: rabbitmq-server -detached"
    if not _local(url):
        start = "Start the broker it names"
    management = (management_url or f"http://{host}:15672").rstrip("/")
    auth = (user, password)
    cli = system_program("rabbitmq-plugins") if _local(url) else None
    if _answers(f"{management}/api/overview", auth) != 200 or _answers(f"http://{host}:15692/metrics") != 200:
        if cli is None:
            return (f"RabbitMQ at {_where(url, 5672)} lacks the management or Prometheus plugin (ports 15672, "
                    f"15692): rabbitmq-plugins enable {' '.join(PLUGINS)}")
        enabled = subprocess.run([cli, "-q", "enable", *PLUGINS], capture_output=True, text=True, timeout=180)
        if enabled.returncode != 0:
            return (f"RabbitMQ does not answer at {_where(url, 5672)} (CELERY_BROKER_URL). {start}")
    vhost_url = f"{management}/api/vhosts/{quote(name, safe='')}"
    if _answers(vhost_url, auth) == 404:
        httpx.put(vhost_url, auth=auth, json={}, timeout=10).raise_for_status()
        permissions = vhost_url.replace("/api/vhosts/", "/api/permissions/") + f"/{user}"
        httpx.put(permissions, auth=auth, json={"configure": ".*", "write": ".*", "read": ".*"},
                  timeout=10).raise_for_status()
    try:
        with kombu.Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as error:  # kombu raises the transport's own errors
        return (f"RabbitMQ does not accept {_where(url, 5672)} vhost {name!r} (CELERY_BROKER_URL): "
                f"{type(error).__name__}: {str(error).strip()[:200]}. {start}")
    return None


def check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        return (f"Redis does not answer at {_where(url, 6379)} (REDIS_URL): {error}. "
                "Start it: redis-server --daemonize yes")
    return None


def prepare(env: dict) -> list[str]:
    """One line per thing that stops the integration tests from running ([] when ready)."""
    problems = isolation_problems(env)
    if problems:
        return problems
    checks = (("DATABASE_URL", ("postgres://", "postgresql://"), check_postgres),
              ("CELERY_BROKER_URL", ("amqp://", "amqps://", "pyamqp://"), check_rabbitmq),
              ("REDIS_URL", ("redis://", "rediss://"), check_redis))
    for name, schemes, check in checks:
        url = env.get(name, "")
        if url.startswith(schemes):
            problem = check(url, env.get("RABBITMQ_MANAGEMENT_URL")) if check is check_rabbitmq else check(url)
            if problem:
                problems.append(problem)
    return problems


def main() -> int:
    problems = prepare(dict(os.environ))
    for problem in problems:
        print(f"bin/test: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
