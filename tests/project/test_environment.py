"""The test run's own database, Redis db and vhost (tests/environment.py): a developer's data in
the `birthday` database, Redis db 0 and vhost `/` survives a test run."""

import os
from pathlib import Path

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


def test_the_rabbitmq_cli_is_found_outside_a_clean_path(monkeypatch):
    # Debian installs rabbitmq-plugins in /usr/sbin; `env -i PATH=/usr/bin:/bin bin/test` on a
    # broker without its plugins stopped with "lacks the management or Prometheus plugin"
    # instead of enabling them.
    from tests.environment import system_program

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    installed = next((Path(d) / "rabbitmq-plugins" for d in ("/usr/sbin", "/sbin")
                      if (Path(d) / "rabbitmq-plugins").is_file()), None)
    if installed is None:
        assert system_program("rabbitmq-plugins") is None
    else:
        assert system_program("rabbitmq-plugins") == str(installed)
