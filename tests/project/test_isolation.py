"""Each pytest-xdist worker runs on data of its own (tests/isolation.py)."""

import pytest

from tests.isolation import isolated

RUN = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/birthday_test",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/birthday_test",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def test_workers_get_their_own_redis_db_and_vhost():
    first, second = isolated(RUN, 0), isolated(RUN, 1)
    assert first == {"REDIS_URL": "redis://127.0.0.1:6379/15",
                     "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/birthday_test-gw0"}
    assert second == {"REDIS_URL": "redis://127.0.0.1:6379/14",
                      "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/birthday_test-gw1"}
    # The database is pytest-django's to suffix (test_birthday_test_gwN).
    assert "DATABASE_URL" not in second


def test_fixed_metrics_ports_move_apart():
    env = dict(RUN, WORKER_METRICS_PORT="19101", BEAT_METRICS_PORT="19102")
    assert isolated(env, 2)["WORKER_METRICS_PORT"] == "19121" and isolated(env, 2)["BEAT_METRICS_PORT"] == "19122"


def test_a_worker_never_lands_on_the_development_redis_db():
    with pytest.raises(RuntimeError, match="db 0"):
        isolated(dict(RUN, REDIS_URL="redis://127.0.0.1:6379/1"), 1)


def test_the_embedded_default_is_left_alone():
    assert isolated({}, 1) == {}
