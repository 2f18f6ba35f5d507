"""Issue 11: the operations overview in a real browser. Headless Chromium (Debian's `chromium`;
bin/test installs it) loads the page from a live server as a logged-in operator; the charts are
drawn (their SVG bars are in the rendered DOM); a screenshot is kept in var/test-artifacts/.

Chromium cannot be handed a cookie on its command line, so it talks to a small local proxy
that adds the operator's session cookie to each request it forwards to the live server.
Nothing else is reachable: every host name but 127.0.0.1 resolves to nothing.
"""

import datetime
import http.client
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from messaging.models import DeliveryAttempt, Message
from scheduler.models import Occasion
from tests.factories import make_user

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


class CookieProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, cookie: str):
        self.upstream = urlsplit(upstream)
        self.cookie = cookie
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        proxy = self.server
        proxy.paths.append(self.path)
        upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("cookie", "connection")}
        headers["Cookie"] = proxy.cookie
        upstream.request("GET", self.path, headers=headers)
        response = upstream.getresponse()
        body = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        upstream.close()

    def log_message(self, *args):
        pass


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=1280,1500", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture
def busy_day():
    """Something to draw: occasions due over the next two days, vendor calls over the last two."""
    from core import clock

    now = clock.now().replace(minute=0, second=0, microsecond=0)
    owner = make_user()
    for i in range(60):
        user = make_user()
        Occasion.objects.filter(user=user).update(due_at=now + datetime.timedelta(hours=1 + (i * 7) % 47))
    for i in range(40):
        started = now - datetime.timedelta(hours=(i * 5) % 47)
        message = Message.objects.create(user=owner, kind="birthday", occasion_date=datetime.date(1900 + i, 1, 1),
                                         due_at=started, status="sent" if i % 4 else "dead",
                                         sent_at=started if i % 4 else None)
        DeliveryAttempt.objects.create(message=message, number=1, started_at=started, duration_ms=40,
                                       outcome="sent" if i % 4 else "server_error", http_status=200 if i % 4 else 500)


def test_the_overview_draws_its_charts_in_headless_chromium(live_server, client, busy_day, tmp_path):
    assert Path(CHROMIUM).exists(), "no chromium: bin/test installs Debian's chromium package (apt-get install chromium)"
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "a-long-password-1")
    client.force_login(operator)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    proxy = CookieProxy(live_server.url, cookie)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        url = f"{proxy.url}/admin/operations/"
        dom = chromium(tmp_path / "profile-dom", "--dump-dom", url)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "operations-overview.png"
        shot.unlink(missing_ok=True)
        screenshot = chromium(tmp_path / "profile-shot", f"--screenshot={shot}", url)
    finally:
        proxy.shutdown()
        proxy.server_close()

    html = dom.stdout
    assert "Operations overview" in html, (dom.returncode, dom.stderr[-2000:])
    assert "Log in" not in html.split("<title>")[1].split("</title>")[0]
    due_bars = re.findall(r'<rect class="bar due"', html)
    delivery_bars = re.findall(r'<rect class="bar (?:sent|failed)"', html)
    assert len(due_bars) > 10 and len(delivery_bars) > 10
    assert re.search(r'<svg class="chart"[^>]*data-chart="due"', html)
    # Everything the page needed came from the service itself (its static files included).
    assert any(path.startswith("/static/admin/css/") for path in proxy.paths), proxy.paths
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert shot.exists() and shot.stat().st_size > 10_000, (screenshot.returncode, screenshot.stderr[-2000:])
    print(f"screenshot of the operations overview: {shot}")
