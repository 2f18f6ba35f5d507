"""The test run's own database, Redis db and vhost (tests/environment.py): a developer's data in
the `birthday` database, Redis db 0 and vhost `/` survives a test run."""

import os

import pytest

from tests.environment import DEFAULTS, isolation_problems


def test_bin_test_defaults_are_isolated():
    assert isolation_problems(DEFAULTS) == []


@pytest.mark.parametrize(("name", "url", "word"), [
    ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/birthday", "DATABASE_URL"),
    ("DATABASE_URL", "postgresql://u:p@db/birthday", "DATABASE_URL"),
    ("REDIS_URL", "redis://127.0.0.1:6379/0", "REDIS_URL"),
    ("REDIS_URL", "redis://127.0.0.1:6379", "REDIS_URL"),
    ("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/", "CELERY_BROKER_URL"),
    ("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672", "CELERY_BROKER_URL"),
])
def test_development_targets_are_refused(name, url, word):
    (problem,) = isolation_problems(dict(DEFAULTS, **{name: url}))
    assert problem.startswith(word)


def test_embedded_defaults_need_no_isolation():
    assert isolation_problems({}) == []
    assert isolation_problems({"DATABASE_URL": "sqlite:///var/birthday.sqlite3", "CELERY_BROKER_URL": "filesystem://"}) == []


def test_the_suite_runs_on_its_own_database_redis_db_and_vhost(db, settings):
    from django.core.cache import cache
    from django.db import connection

    from birthday.celery import app

    assert connection.settings_dict["NAME"].startswith("test_")
    assert connection.settings_dict["NAME"] != "test_birthday"
    assert isolation_problems(dict(os.environ)) == []
    if settings.REDIS_URL:
        client = cache._cache.get_client()
        assert client.connection_pool.connection_kwargs.get("db", 0) != 0
    if app.conf.broker_url.startswith("amqp"):
        with app.connection_for_read() as conn:
            assert conn.virtual_host not in {"", "/"}
