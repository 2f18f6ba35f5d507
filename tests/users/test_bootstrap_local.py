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


def database_state():
    operator = get_user_model().objects.filter(username="admin").first()
    return (operator and operator.password, sorted(ApiToken.objects.values_list("token_hash", flat=True)))


@pytest.mark.parametrize("problem", ["missing directory", "a directory", "not text"])
def test_a_file_it_cannot_use_is_an_error_and_changes_nothing_in_the_database(tmp_path, problem):
    from django.core.management.base import CommandError

    path = {"missing directory": tmp_path / "missing" / "credentials.txt", "a directory": tmp_path,
            "not text": tmp_path / "credentials.txt"}[problem]
    if problem == "not text":
        path.write_bytes(b"\xff\xfe\x00binary\x80")
    # A database the file's credentials do not work in: without the file problem, both are repaired.
    forget_everything()
    get_user_model().objects.create_superuser("admin", "admin@localhost", "set-by-another-checkout")
    before = database_state()

    with pytest.raises(CommandError, match=re.escape(str(path))):
        call_command("bootstrap_local", str(path))

    assert database_state() == before
    if problem == "not text":
        assert path.read_bytes() == b"\xff\xfe\x00binary\x80"


def test_new_credentials_never_reach_a_reader_of_the_old_file(tmp_path):
    """Permissions are checked when a file is opened: whoever opened a world-readable credentials
    file keeps reading it after a chmod. New secrets go to a file that was 0600 from the start."""
    path = tmp_path / "credentials.txt"
    path.write_text("admin login: admin / stale-password\nAPI token: bdy_stale\n")
    path.chmod(0o644)
    with open(path) as reader:
        call_command("bootstrap_local", str(path))
        password, token = read(path)
        reader.seek(0)
        seen = reader.read()
    assert password not in seen and token not in seen
    assert path.stat().st_mode & 0o777 == 0o600
