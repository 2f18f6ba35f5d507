"""The private servers start from a plain PATH: as root, PostgreSQL runs through `runuser`, which
Debian keeps in /usr/sbin, outside the PATH of `env -i PATH=/usr/bin:/bin` or a non-login shell."""

import os
import pwd

import pytest

from tests.chaos import private_services

pytestmark = pytest.mark.integration


def test_commands_run_as_postgres_without_sbin_on_the_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    done = private_services._as_postgres(["id", "-un"])
    expected = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert done.stdout.strip() == expected
