"""How fast the PostgreSQL connection pool reconnects after the database comes back.

psycopg_pool retries a failed connection with exponential backoff (1 s, 2 s, 4 s, ...), so after
an outage of a few seconds the first request waited up to ~2 s for the pool's next attempt
(measured: 2.25 s). A constant short interval makes the API answer within a second of the
database's return; an attempt against a database that is down costs one refused connection.
psycopg_pool has no option for it: its attempt class's constants are set once, at start.
"""

from psycopg_pool.base import AttemptWithBackoff


def reconnect_every(seconds: float) -> None:
    AttemptWithBackoff.INITIAL_DELAY = seconds
    AttemptWithBackoff.DELAY_BACKOFF = 1.0
