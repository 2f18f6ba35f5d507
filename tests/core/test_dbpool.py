"""After a failed connection the pool tries again at a constant, short interval (core/dbpool.py),
not with psycopg_pool's doubling backoff: the API is back soon after the database is."""

import pytest
from psycopg_pool.base import AttemptWithBackoff

from core.dbpool import reconnect_every


@pytest.fixture
def restored():
    saved = AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF
    yield
    AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF = saved


def delays(attempts: int) -> list[float]:
    attempt = AttemptWithBackoff(timeout=300)
    out = []
    for n in range(attempts):
        attempt.update_delay(now=float(n))
        out.append(attempt.delay)
    return out


def test_retries_stay_at_the_interval(restored):
    reconnect_every(0.5)
    assert all(0.45 <= d <= 0.55 for d in delays(10)), delays(10)


def test_the_settings_apply_it_at_start(settings):
    # The test settings run on the pool (PostgreSQL) or not (SQLite); with the pool, CoreConfig.ready
    # has set the interval, without it psycopg_pool's own schedule stands.
    pooled = bool(settings.DATABASES["default"].get("OPTIONS", {}).get("pool"))
    first = delays(4)
    if pooled:
        assert max(first) <= settings.DB_POOL_RECONNECT_SECONDS * 1.1
    else:
        assert first[-1] > 4 * first[0]
