"""Production mode refuses unsafe settings, and passes Django's deployment checks when configured."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

# Each test starts manage.py in a child process.
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import django; django.setup()"


def run(args, **env_overrides):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "BIRTHDAY_"))}
    env["DJANGO_SETTINGS_MODULE"] = "birthday.settings"
    env.update(env_overrides)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def good_secret() -> str:
    return secrets.token_urlsafe(64)


def test_production_refuses_the_default_secret():
    result = run(["-c", SETUP], BIRTHDAY_ENV="production")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_a_short_secret():
    result = run(["-c", SETUP], BIRTHDAY_ENV="production", DJANGO_SECRET_KEY="short-but-not-default")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_production_refuses_debug():
    result = run(["-c", SETUP], BIRTHDAY_ENV="production", DJANGO_SECRET_KEY=good_secret(), DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_DEBUG" in result.stderr


def test_production_starts_with_a_proper_secret():
    result = run(
        ["-c", SETUP + "; from django.conf import settings; print(settings.PRODUCTION, settings.DEBUG)"],
        BIRTHDAY_ENV="production", DJANGO_SECRET_KEY=good_secret(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True False"


def test_development_starts_with_defaults():
    result = run(["-c", SETUP])
    assert result.returncode == 0, result.stderr


def test_deploy_check_is_clean_in_production():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        BIRTHDAY_ENV="production", DJANGO_SECRET_KEY=good_secret(), DJANGO_ALLOWED_HOSTS="api.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_deploy_check_flags_development_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode != 0
    assert "security.W" in result.stdout + result.stderr


WORKER_POOL = SETUP + "; from birthday.celery import app; print(app.conf.worker_concurrency)"


def test_a_worker_runs_two_processes_per_usable_cpu_unless_told(tmp_path):
    """`celery -A birthday worker` without -c: delivery processes wait on the vendor for part of
    every batch, so on PostgreSQL the default is twice Celery's own one per CPU."""
    default = run(["-c", WORKER_POOL], DATABASE_URL="postgres://postgres@127.0.0.1:5432/birthday_test")
    assert default.returncode == 0, default.stderr
    assert int(default.stdout.strip()) == 2 * len(os.sched_getaffinity(0))
    embedded = run(["-c", WORKER_POOL], DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                   CELERY_BROKER_URL="filesystem://", BIRTHDAY_VAR_DIR=str(tmp_path))
    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stdout.strip() == "2"  # SQLite serialises writers: more processes would wait on it
    told = run(["-c", WORKER_POOL], WORKER_CONCURRENCY="3")
    assert told.returncode == 0, told.stderr
    assert told.stdout.strip() == "3"


def test_a_worker_concurrency_below_one_is_refused():
    result = run(["-c", SETUP], WORKER_CONCURRENCY="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "WORKER_CONCURRENCY" in result.stderr
