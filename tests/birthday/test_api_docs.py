"""The API docs (Swagger UI) work with no network: every asset comes from the project itself
(drf-spectacular-sidecar), and a headless browser renders the operations."""

import re
import shutil
import subprocess

import pytest
from django.contrib.staticfiles import finders

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_docs_without_the_slash_redirect_to_the_docs(client):
    response = client.get("/api/docs")
    assert response.status_code == 301
    assert response["Location"] == "/api/docs/"


def test_the_docs_page_loads_nothing_from_elsewhere(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any("swagger-ui-bundle" in url for url in assets), assets
    for url in assets:
        assert not re.match(r"(https?:)?//", url), f"{url} is not served by the project"
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"


@pytest.mark.integration  # runs Chromium against a live server
def test_a_browser_renders_the_operations_offline(live_server, tmp_path):
    # No DNS for anything but this machine: a page that fetched a CDN would render nothing.
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=20000", "--dump-dom", f"{live_server.url}/api/docs/"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'class="swagger-ui"' in dom, (dom[:3000], done.stderr[-3000:])
    operations = re.findall(r'class="opblock opblock-(get|post|put|patch|delete)', dom)
    assert operations, dom[:3000]
    assert "/user" in dom and "birthday API" in dom
