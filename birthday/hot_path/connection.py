"""Each server thread's own PostgreSQL connection for the hot path (psycopg, autocommit).

Django's pool is not used: its connections belong to Django's requests, and a statement here is
one round trip with no transaction around it (a write is one statement, so autocommit is its
transaction)."""

from __future__ import annotations

import threading

import psycopg

from observability.metrics.database import query_wrapper

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


def open_connections() -> list:
    with _open_connections_lock:
        return list(_open_connections)


class ThreadConnection(threading.local):
    """This thread's connection, made on first use and remade after a failure."""

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

    def rows(self, sql: str, params: tuple) -> list[tuple]:
        """The statement's rows, timed by Django's query metrics.

        A connection that had worked and is found broken (the server restarted) is replaced once
        and the statement run again, as CONN_HEALTH_CHECKS does for Django's. A write may be run
        again too: the only one here creates a user, and if the server had committed it before the
        connection broke, the email's unique index refuses the second (Django then answers 409)."""
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
            return self.rows(sql, params)

    def close(self) -> None:
        if self.conn is not None:
            with _open_connections_lock:
                _open_connections.discard(self.conn)
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


# One per thread for every endpoint: a server thread answers one request at a time.
DATABASE = ThreadConnection()
