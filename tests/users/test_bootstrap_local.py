"""Issue 11, defect 4: the credentials bin/run prints work for the database in use.

`bin/run` calls `bootstrap_local var/credentials.txt` at every start. A checkout switched to
another database (SQLite -> PostgreSQL) keeps the old file; the admin password and token in it
must be made to work in the new database, not printed unchanged.
"""

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from apiauth.models import ApiToken

pytestmark = pytest.mark.django_db


def read(path):
    text = path.read_text()
    password = re.search(r"^admin login: admin / (\S+)$", text, re.M).group(1)
    token = re.search(r"^API token: (\S+)$", text, re.M).group(1)
    return password, token


def login_works(client, password) -> bool:
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": password})
    return response.status_code == 302 and response["Location"] == "/admin/"


def token_works(token) -> bool:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.get("/user").status_code == 200


def forget_everything():
    """What the database of a fresh PostgreSQL looks like next to an old credentials file."""
    get_user_model().objects.all().delete()
    ApiToken.objects.all().delete()


def test_first_start_writes_working_credentials(tmp_path, client):
    path = tmp_path / "credentials.txt"
    call_command("bootstrap_local", str(path))
    password, token = read(path)
    assert login_works(client, password) and token_works(token)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_later_start_keeps_credentials_that_still_work(tmp_path, client):
    path = tmp_path / "credentials.txt"
    call_command("bootstrap_local", str(path))
    before = path.read_text()
    call_command("bootstrap_local", str(path))
    assert path.read_text() == before
    assert ApiToken.objects.count() == 1
    password, token = read(path)
    assert login_works(client, password) and token_works(token)


def test_switching_to_a_database_that_never_saw_the_file_makes_its_credentials_work(tmp_path, client):
    path = tmp_path / "credentials.txt"
    call_command("bootstrap_local", str(path))
    forget_everything()

    call_command("bootstrap_local", str(path))

    password, token = read(path)
    assert token_works(token)
    assert login_works(client, password)


def test_a_database_with_another_admin_password_and_a_lockout_gets_a_working_login(tmp_path, client, settings):
    path = tmp_path / "credentials.txt"
    call_command("bootstrap_local", str(path))
    stale_password, _ = read(path)
    forget_everything()
    get_user_model().objects.create_superuser("admin", "admin@localhost", "set-by-another-checkout")
    # The operator tried the printed (stale) password until the admin locked them out.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert not login_works(client, stale_password)
    assert AccessAttempt.objects.exists()

    call_command("bootstrap_local", str(path))

    password, token = read(path)
    assert login_works(client, password) and token_works(token)


def test_a_revoked_token_is_replaced(tmp_path):
    path = tmp_path / "credentials.txt"
    call_command("bootstrap_local", str(path))
    _, old_token = read(path)
    ApiToken.objects.update(revoked_at="2026-01-01T00:00:00Z")

    call_command("bootstrap_local", str(path))

    password, token = read(path)
    assert token != old_token and token_works(token)
