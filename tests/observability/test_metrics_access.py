"""/metrics on the API and the worker/beat metrics servers: open by default, or restricted to
an address allowlist (METRICS_ALLOWED_CIDRS) and/or basic auth (METRICS_BASIC_AUTH)."""

import base64
import hashlib
import ipaddress
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.test import Client

from observability.metrics import exposition

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "scrape-me-please"
DIGEST = hashlib.sha256(PASSWORD.encode()).hexdigest()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def allowlist(settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.fixture
def basic_auth(settings):
    settings.METRICS_BASIC_AUTH_CREDENTIALS = ("prometheus", DIGEST)


def test_api_metrics_are_open_by_default():
    response = Client().get("/metrics", REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 200
    assert b"# TYPE" in response.content


def test_api_metrics_refuse_addresses_outside_the_allowlist(allowlist):
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    for outsider in ["198.51.100.4", "11.0.0.1", "::2", "", "not-an-address"]:
        response = Client().get("/metrics", REMOTE_ADDR=outsider)
        assert response.status_code == 403, outsider
        assert b"# TYPE" not in response.content
    # The header any client can write does not count.
    assert Client().get("/metrics", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 403


def test_api_metrics_need_the_right_basic_credentials(basic_auth):
    missing = Client().get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Basic")
    assert b"# TYPE" not in missing.content
    for header in [basic("prometheus", "wrong"), basic("other", PASSWORD), basic("prometheus", DIGEST),
                   "Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(),
                   "Bearer " + PASSWORD, basic("prometheus", PASSWORD + "x")]:
        assert Client().get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401, header
    ok = Client().get("/metrics", HTTP_AUTHORIZATION=basic("prometheus", PASSWORD))
    assert ok.status_code == 200 and b"# TYPE" in ok.content


def test_allowlist_and_basic_auth_together(allowlist, basic_auth):
    good = basic("prometheus", PASSWORD)
    assert Client().get("/metrics", REMOTE_ADDR="10.0.0.5", HTTP_AUTHORIZATION=good).status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="198.51.100.4", HTTP_AUTHORIZATION=good).status_code == 403
    assert Client().get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 401


@pytest.fixture
def metrics_server(settings):
    settings.METRICS_BIND_ADDRESS = "127.0.0.1"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = exposition.serve(port, "security-test")
    assert server is not None
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    server.server_close()


def test_worker_and_beat_server_is_open_by_default(metrics_server):
    response = httpx.get(metrics_server, timeout=5)
    assert response.status_code == 200 and "# TYPE" in response.text


def test_worker_and_beat_server_applies_basic_auth(metrics_server, basic_auth):
    refused = httpx.get(metrics_server, timeout=5)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    assert "# TYPE" not in refused.text
    assert httpx.get(metrics_server, auth=("prometheus", "nope"), timeout=5).status_code == 401
    ok = httpx.get(metrics_server, auth=("prometheus", PASSWORD), timeout=5)
    assert ok.status_code == 200 and "# TYPE" in ok.text


def test_worker_and_beat_server_applies_the_allowlist(metrics_server, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert httpx.get(metrics_server, timeout=5).status_code == 403  # the test connects from 127.0.0.1
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    assert httpx.get(metrics_server, timeout=5).status_code == 200


def settings_from(env_overrides):
    env = {key: value for key, value in os.environ.items() if not key.startswith("METRICS_")}
    env.update(DJANGO_SETTINGS_MODULE="birthday.settings", **env_overrides)
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.METRICS_ALLOWED_NETWORKS, settings.METRICS_BASIC_AUTH_CREDENTIALS)")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.integration  # runs the system's processes
def test_settings_are_parsed_from_the_environment(tmp_path):
    password_file = tmp_path / "metrics-password"
    password_file.write_text(PASSWORD + "\n")
    result = settings_from({"METRICS_ALLOWED_CIDRS": "10.0.0.0/8, 2001:db8::/32,192.168.1.7",
                            "METRICS_BASIC_AUTH_USER": "prometheus",
                            "METRICS_BASIC_AUTH_PASSWORD_FILE": str(password_file)})
    assert result.returncode == 0, result.stderr
    assert "IPv4Network('10.0.0.0/8')" in result.stdout and "IPv6Network('2001:db8::/32')" in result.stdout
    assert "IPv4Network('192.168.1.7/32')" in result.stdout
    assert f"('prometheus', '{DIGEST}')" in result.stdout
    combined = settings_from({"METRICS_BASIC_AUTH": f"prometheus:{DIGEST.upper()}"})
    assert f"('prometheus', '{DIGEST}')" in combined.stdout


@pytest.mark.parametrize("env", [
    {"METRICS_ALLOWED_CIDRS": "10.0.0.0/33"},
    {"METRICS_ALLOWED_CIDRS": "intranet"},
    {"METRICS_BASIC_AUTH": "prometheus:plaintext-password"},
    {"METRICS_BASIC_AUTH": f":{DIGEST}"},
    {"METRICS_BASIC_AUTH_USER": "prometheus", "METRICS_BASIC_AUTH_PASSWORD_FILE": "/nonexistent/password"},
    {"METRICS_BASIC_AUTH_PASSWORD_FILE": __file__},
])
@pytest.mark.integration  # runs the system's processes
def test_bad_settings_stop_the_process(env):
    result = settings_from(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "METRICS_" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_metrics_answers_reads_only(method):
    """A scrape is a read: any other method is a 405 naming GET and HEAD, plain text like the
    endpoint's other refusals (it was Django's HTML CSRF page, a 403 that blamed a cookie)."""
    response = getattr(Client(enforce_csrf_checks=True), method)("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response["Content-Type"].startswith("text/plain")
    head = Client().head("/metrics")
    assert head.status_code == 200 and head["Content-Type"].startswith("text/plain; version=")
