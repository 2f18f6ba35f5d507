"""Bearer tokens: issuing, checking, revoking, caching, and the per-token rate limit."""

import datetime
import hashlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apiauth import services
from apiauth.models import ApiToken
from core import clock

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def issue(name="crm") -> str:
    out = io.StringIO()
    call_command("create_api_token", name, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def client_with(token: str | None = None, header: str | None = None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def assert_401(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["error"] in {"not_authenticated", "authentication_failed"}
    assert body["detail"]


def test_create_command_prints_the_token_last_and_stores_only_its_hash():
    token = issue("crm")
    assert token.startswith("bdy_") and len(token) >= 40
    row = ApiToken.objects.get(name="crm")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(row.prefix)
    stored = " ".join(str(value) for value in ApiToken.objects.values_list().get(pk=row.pk))
    assert token not in stored
    assert client_with(token).get("/user").status_code == 200


# The child process commits its token through its own connection: only a transactional test's
# flush removes it again.
@pytest.mark.django_db(transaction=True)
def test_create_command_as_a_subprocess_prints_the_token_last(service_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "shell-script"],
        cwd=ROOT, env=service_env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert ApiToken.objects.get(name="shell-script").token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_tokens_are_unique_and_names_too():
    first, second = issue("a"), issue("b")
    assert first != second
    with pytest.raises(CommandError, match="already exists"):
        issue("a")


def test_a_revoked_tokens_name_is_not_reused_and_the_error_says_so():
    issue("old-crm")
    call_command("revoke_api_token", "old-crm", stdout=io.StringIO())
    with pytest.raises(CommandError, match="'old-crm' belonged to a revoked token.*another name") as refused:
        issue("old-crm")
    assert "revoke it" not in str(refused.value)
    assert ApiToken.objects.filter(name="old-crm").count() == 1


# Two connections that both commit: a transactional test.
@pytest.mark.django_db(transaction=True)
def test_creating_a_name_another_creation_is_inserting_is_the_same_already_exists_error():
    from tests.races import uncommitted

    # The other creation has inserted its row and not committed: this one cannot see it, and
    # its insert waits on the name's unique index until the other commits.
    with uncommitted(lambda: services.create_token("race")):
        with pytest.raises(CommandError, match="A token named 'race' already exists"):
            issue("race")
    assert ApiToken.objects.filter(name="race").count() == 1


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Bearer bdy_wrong", "Bearer a b", "Token bdy_x", "Basic dXNlcjpwYXNz",
     "bearer bdy_" + "x" * 300, "Bearer \u00e9t\u00e9"],
)
def test_missing_or_malformed_or_wrong_token_is_401(header):
    issue("crm")
    client = APIClient() if header is None else client_with(header=header)
    assert_401(client.get("/user"))
    assert_401(client.post("/user", {}, format="json"))


def test_revoked_token_is_401_even_when_its_lookup_was_cached(django_capture_on_commit_callbacks):
    token = issue("crm")
    client = client_with(token)
    assert client.get("/user").status_code == 200  # now cached
    # The cache is updated when the revoke commits; the test's transaction never does.
    with django_capture_on_commit_callbacks(execute=True):
        call_command("revoke_api_token", "crm", stdout=io.StringIO())
    assert ApiToken.objects.get(name="crm").revoked_at is not None
    assert_401(client.get("/user"))


def test_revoke_command_reports_unknown_and_repeated_revokes():
    issue("crm")
    with pytest.raises(CommandError, match="No token named"):
        call_command("revoke_api_token", "nope", stdout=io.StringIO())
    out = io.StringIO()
    call_command("revoke_api_token", "crm", stdout=out)
    call_command("revoke_api_token", "crm", stdout=out)
    assert "already revoked" in out.getvalue()


# The command's own commit must run the cache update, as in production: a transactional test.
@pytest.mark.django_db(transaction=True)
def test_revoke_command_says_when_the_cache_still_vouches_for_the_token(settings):
    from django.test import override_settings

    from tests.ports import free_port

    token = issue("crm")
    client = client_with(token)
    assert client.get("/user").status_code == 200  # its answer is now in the cache
    nothing_listens = {"default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/9"}}
    out = io.StringIO()
    with override_settings(CACHES=nothing_listens):
        with pytest.raises(CommandError) as failed:
            call_command("revoke_api_token", "crm", stdout=out)
    # The revocation is kept, and the operator is told it does not take effect at once, and why.
    assert ApiToken.objects.get(name="crm").revoked_at is not None
    assert "Revoked API token 'crm'" in out.getvalue()
    assert failed.value.returncode == 3
    message = str(failed.value)
    assert "cache could not be updated" in message
    assert f"up to {services.TOKEN_CACHE_SECONDS} seconds" in message and "again" in message
    # What it warns about: the cache still answers for the token...
    assert client.get("/user").status_code == 200
    # ...until the command is run again with the cache reachable.
    out = io.StringIO()
    call_command("revoke_api_token", "crm", stdout=out)
    assert "already revoked" in out.getvalue()
    assert_401(client.get("/user"))


def test_revoking_one_token_leaves_others_working(django_capture_on_commit_callbacks):
    kept, revoked = issue("kept"), issue("gone")
    assert client_with(revoked).get("/user").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_by_name("gone")
    assert client_with(kept).get("/user").status_code == 200
    assert_401(client_with(revoked).get("/user"))


def test_lookup_is_served_from_the_cache(django_assert_num_queries):
    token = issue("crm")
    client = client_with(token)
    assert client.get("/user").status_code == 200
    # Only the list's own COUNT: no token query, no last_used_at write.
    with django_assert_num_queries(1):
        assert client.get("/user").status_code == 200


def test_unknown_tokens_are_cached_too(django_assert_num_queries):
    client = client_with("bdy_not-a-token")
    assert_401(client.get("/user"))
    with django_assert_num_queries(0):
        assert_401(client.get("/user"))


def test_last_used_at_is_written_at_most_once_a_minute():
    token = issue("crm")
    client = client_with(token)
    first = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)
    with clock.frozen(first):
        client.get("/user")
    assert ApiToken.objects.get(name="crm").last_used_at == first
    with clock.frozen(first + datetime.timedelta(seconds=30)):
        client.get("/user")
    assert ApiToken.objects.get(name="crm").last_used_at == first
    # The window is a cache entry; once it has expired the next request writes again.
    cache.delete(services._used_key(ApiToken.objects.get(name="crm").pk))
    later = first + datetime.timedelta(minutes=2)
    with clock.frozen(later):
        client.get("/user")
    assert ApiToken.objects.get(name="crm").last_used_at == later


def test_deleted_token_stops_working_at_once(django_capture_on_commit_callbacks):
    token = issue("crm")
    client = client_with(token)
    assert client.get("/user").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_tokens(list(ApiToken.objects.filter(name="crm")))
    assert_401(client.get("/user"))


@pytest.fixture
def low_rate(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/minute"}}


def test_rate_limit_per_token_gives_429_with_retry_after(low_rate):
    busy, other = client_with(issue("busy")), client_with(issue("other"))
    assert [busy.get("/user").status_code for _ in range(3)] == [200, 200, 200]
    response = busy.get("/user")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["error"] == "throttled"
    # Another integrator has its own budget.
    assert other.get("/user").status_code == 200


def test_health_endpoints_are_not_throttled_or_authenticated(low_rate):
    client = APIClient()
    assert [client.get("/healthz").status_code for _ in range(6)] == [200] * 6
    assert [client.get("/readyz").status_code for _ in range(6)] == [200] * 6


def test_unauthenticated_callers_are_throttled_by_ip_on_open_endpoints(low_rate):
    client = APIClient()
    statuses = [client.get("/api/schema/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/api/schema/", REMOTE_ADDR="10.0.0.9").status_code == 200
