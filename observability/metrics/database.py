"""Database metrics from inside Django: every query through an execute wrapper (installed on each
new connection), transactions through `atomic`, and the PostgreSQL connection pool's figures
(wait for a connection, lent out, idle, size, queue) whenever a connection is taken or returned.

Query labels are bounded: the statement's verb (select/insert/update/delete/other) and the first
table it names, if that table belongs to an installed model; anything else is "other".
"""

import functools
import re
import threading
import time

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from .definitions import (
    DB_CONNECTIONS,
    DB_DEADLOCKS,
    DB_POOL_SIZE,
    DB_POOL_WAIT,
    DB_POOL_WAITING,
    DB_QUERY_DURATION,
    DB_ROWS_AFFECTED,
    DB_SLOW_QUERIES,
    DB_TRANSACTION_DURATION,
)

_VERBS = ("select", "insert", "update", "delete")
_TABLE = re.compile(r'\b(?:from|into|update|join)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)
_known_tables: frozenset[str] | None = None


def known_tables() -> frozenset[str]:
    global _known_tables
    if _known_tables is None:
        names = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
        names.add("django_migrations")
        _known_tables = frozenset(names)
    return _known_tables


@functools.lru_cache(maxsize=2048)
def classify(sql: str) -> tuple[str, str]:
    """(query_type, table) for a statement."""
    head = sql.lstrip(" (\n\t").split(None, 1)
    verb = head[0].lower() if head else ""
    if verb == "with":
        # A CTE: a statement that writes is a write (the first of its writes decides, as the
        # table below is the first it names); otherwise the main statement's verb.
        found = (re.search(r"\bas\s*\(\s*(insert|update|delete)\b", sql, re.IGNORECASE)
                 or re.search(r"\)\s*(select|insert|update|delete)\b", sql, re.IGNORECASE))
        verb = found.group(1).lower() if found else "select"
    query_type = verb if verb in _VERBS else "other"
    table = "other"
    for candidate in _TABLE.findall(sql[:2000]):
        if candidate.lower() in known_tables():
            table = candidate.lower()
            break
    return query_type, table


def is_deadlock(exc: BaseException) -> bool:
    try:
        from psycopg.errors import DeadlockDetected
    except ImportError:  # SQLite has no deadlocks to detect
        return False
    seen = exc
    while seen is not None:
        if isinstance(seen, DeadlockDetected):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def query_wrapper(execute, sql, params, many, context):
    started = time.perf_counter()
    try:
        result = execute(sql, params, many, context)
    except Exception as exc:
        if is_deadlock(exc):
            DB_DEADLOCKS.inc()
        raise
    finally:
        elapsed = time.perf_counter() - started
        query_type, table = classify(sql)
        DB_QUERY_DURATION.labels(query_type, table).observe(elapsed)
        if elapsed > settings.DB_SLOW_QUERY_SECONDS:
            DB_SLOW_QUERIES.labels(query_type, table).inc()
    if query_type in ("insert", "update", "delete"):
        rowcount = getattr(context.get("cursor"), "rowcount", -1)
        if rowcount is not None and rowcount >= 0:
            DB_ROWS_AFFECTED.labels(query_type, table).observe(rowcount)
    return result


@receiver(connection_created, dispatch_uid="metrics.database.wrapper")
def _install_wrapper(sender, connection, **kwargs):
    if query_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(query_wrapper)


# --- transactions and connection set-up (wrapped once, on Django's own classes) ------------------

_transaction_started = threading.local()
_patched = False


def pool_figures(pool) -> None:
    """The pool's own count of lent-out and idle connections, its size and its queue."""
    stats = pool.get_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    DB_CONNECTIONS.labels("default", "active").set(max(0, size - available))
    DB_CONNECTIONS.labels("default", "idle").set(available)
    DB_POOL_SIZE.labels("default").set(pool.max_size)
    DB_POOL_WAITING.labels("default").set(stats.get("requests_waiting", 0))


def _timed_get_new_connection(original):
    @functools.wraps(original)
    def get_new_connection(self, conn_params):
        pool = self.pool
        if pool is None:
            return original(self, conn_params)
        started = time.perf_counter()
        try:
            return original(self, conn_params)
        finally:
            # Only the wait for a pooled connection; opening one is the pool's background work.
            DB_POOL_WAIT.observe(time.perf_counter() - started)
            pool_figures(pool)

    return get_new_connection


def _returned_to_pool(original):
    @functools.wraps(original)
    def _close(self):
        try:
            return original(self)
        finally:
            pool = self.pool
            if pool is not None:
                pool_figures(pool)

    return _close


_inherited_pools: list = []


def forget_inherited_pools() -> None:
    """After a fork: a pool opened by the parent has no worker threads here and shares its
    sockets with the parent. Each process opens its own; the parent's stays referenced, so
    collecting it never closes the parent's connections."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    _inherited_pools.extend(DatabaseWrapper._connection_pools.values())
    DatabaseWrapper._connection_pools.clear()


def _timed_enter(original):
    @functools.wraps(original)
    def __enter__(self):
        from django.db import connections

        if not connections[self.using or "default"].in_atomic_block:
            starts = getattr(_transaction_started, "starts", None)
            if starts is None:
                starts = _transaction_started.starts = {}
            starts[self.using or "default"] = time.perf_counter()
        return original(self)

    return __enter__


def _timed_exit(original):
    @functools.wraps(original)
    def __exit__(self, exc_type, exc_value, traceback):
        from django.db import connections

        try:
            return original(self, exc_type, exc_value, traceback)
        finally:
            alias = self.using or "default"
            starts = getattr(_transaction_started, "starts", {})
            if alias in starts and not connections[alias].in_atomic_block:
                operation = "rollback" if exc_type is not None else "commit"
                DB_TRANSACTION_DURATION.labels(operation).observe(time.perf_counter() - starts.pop(alias))

    return __exit__


def install() -> None:
    global _patched
    if _patched:
        return
    _patched = True
    from django.db.backends.postgresql.base import DatabaseWrapper

    DatabaseWrapper.get_new_connection = _timed_get_new_connection(DatabaseWrapper.get_new_connection)
    DatabaseWrapper._close = _returned_to_pool(DatabaseWrapper._close)
    transaction.Atomic.__enter__ = _timed_enter(transaction.Atomic.__enter__)
    transaction.Atomic.__exit__ = _timed_exit(transaction.Atomic.__exit__)
