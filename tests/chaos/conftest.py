import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

from .private_services import PrivatePostgres, PrivateRabbit, make_root


# One-line summaries of chaos runs, printed after the test session (even under -q).
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def private_stack():
    """A private PostgreSQL (migrated into a template database) and RabbitMQ node, torn down
    whatever happens. Tests create their own database from the template."""
    postgres = PrivatePostgres(make_root("chaos-pg-"))
    rabbit = PrivateRabbit(make_root("chaos-rabbit-"))
    try:
        postgres.init()
        template_url = postgres.create_database("birthday_template")
        env = dict(os.environ, DATABASE_URL=template_url, CELERY_BROKER_URL=rabbit.url)
        migrated = subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr[-4000:]
        rabbit.init()
        yield postgres, rabbit
    finally:
        rabbit.teardown()
        postgres.teardown()
