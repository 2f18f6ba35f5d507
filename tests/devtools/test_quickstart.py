"""What bin/run prints: the addresses in use, the simulator's log, and a curl for a user due now."""

import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from devtools import quickstart
from tests.conftest import ROOT, wait_until
from tests.system import free_port

instants = st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1),
                        timezones=st.just(datetime.UTC))


@given(now=instants, send_hour=st.integers(min_value=0, max_value=23))
def test_the_due_now_zone_is_past_the_send_hour_with_the_day_not_over(now, send_hour):
    zone = quickstart.due_now_zone(now, send_hour)
    local = now.astimezone(zoneinfo.ZoneInfo(zone))
    assert (local.hour, local.minute) >= (send_hour, 0)
    left = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), datetime.time(),
                                     tzinfo=local.tzinfo) - local
    assert left > (quickstart.MARGIN if send_hour < 23 else datetime.timedelta(0))


@given(now=instants)
def test_the_user_is_due_today_at_the_send_hour_already_passed(now):
    user = quickstart.due_now_user(now, 9)
    local = now.astimezone(zoneinfo.ZoneInfo(user["timezone"]))
    birthday = datetime.date.fromisoformat(user["birthday"])
    assert (birthday.month, birthday.day) == (local.month, local.day) and birthday.year < local.year
    assert local.hour >= 9


def test_a_29_february_birthday_is_in_a_leap_year():
    now = datetime.datetime(2028, 2, 29, 12, tzinfo=datetime.UTC)
    assert quickstart.birthday_today("Europe/London", now) == datetime.date(1992, 2, 29)


@pytest.mark.parametrize(("bind", "url"), [
    ("127.0.0.1:8000", "http://127.0.0.1:8000"), ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    (":9000", "http://127.0.0.1:9000"), ("[::]:8000", "http://[::1]:8000"), ("api.local:80", "http://api.local:80"),
    ("unix:/run/birthday.sock", "unix:/run/birthday.sock"),
])
def test_the_api_address_follows_the_bind(bind, url):
    assert quickstart.http_address(bind) == url


def test_the_bind_is_gunicorns_own(monkeypatch):
    monkeypatch.setenv("API_BIND", "127.0.0.1:18123")
    assert quickstart.gunicorn_bind() == "127.0.0.1:18123"


def test_the_banner_has_the_addresses_the_log_and_a_working_curl():
    now = datetime.datetime(2026, 5, 4, 12, 30, tzinfo=datetime.UTC)
    text = quickstart.banner(api="http://127.0.0.1:18000", metrics_host="127.0.0.1", worker_port=19101,
                             beat_port=19102, vendor="http://127.0.0.1:18025", simulator_log="/tmp/x/accepted.jsonl",
                             credentials={"admin login": "admin / pw", "API token": "secret-token"}, send_hour=9,
                             tick_seconds=60, now=now)
    for expected in ("http://127.0.0.1:18000/api/docs/", "http://127.0.0.1:19101/metrics",
                     "http://127.0.0.1:19102/metrics", "http://127.0.0.1:18025", "/tmp/x/accepted.jsonl"):
        assert expected in text
    (line,) = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
    words = shlex.split(line)
    assert words[words.index("-X") + 1] == "POST" and "http://127.0.0.1:18000/user" in words
    assert "Authorization: Bearer secret-token" in words
    body = json.loads(words[words.index("-d") + 1])
    assert body == quickstart.due_now_user(now, 9)


@pytest.mark.integration  # runs bin/run: gunicorn, worker, beat and the simulator
def test_bin_run_prints_what_it_uses_and_its_curl_gets_a_message_out(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL",
                                                            "VENDOR_BASE_URL", "PROMETHEUS_MULTIPROC_DIR"}}
    api_port, vendor_port, worker_port, beat_port = free_port(), free_port(), free_port(), free_port()
    env.update(BIRTHDAY_VAR_DIR=str(tmp_path / "var"), API_BIND=f"127.0.0.1:{api_port}",
               VENDOR_SIMULATOR_PORT=str(vendor_port), WORKER_METRICS_PORT=str(worker_port),
               BEAT_METRICS_PORT=str(beat_port), SCHEDULER_TICK_SECONDS="2", DISPATCH_INTERVAL_SECONDS="1",
               PYTHONUNBUFFERED="1")
    out = open(tmp_path / "bin-run.log", "w+")
    proc = subprocess.Popen([str(ROOT / "bin" / "run")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def printed():
        out.seek(0)
        return out.read()

    try:
        wait_until(lambda: "curl -sS" in printed() or proc.poll() is not None, timeout=240, interval=0.5,
                   message="bin/run's banner")
        text = printed()
        assert proc.poll() is None, text[-4000:]
        for expected in (f"http://127.0.0.1:{api_port}/api/docs/", f"http://127.0.0.1:{worker_port}/metrics",
                         f"http://127.0.0.1:{beat_port}/metrics", f"http://127.0.0.1:{vendor_port}"):
            assert expected in text, text[-4000:]
        assert ":8000" not in text
        log = Path(re.search(r"accepted log\s+(\S+)", text).group(1))
        assert log == tmp_path / "var" / "simulator-accepted.jsonl"

        (curl,) = [line.strip() for line in text.splitlines() if line.strip().startswith("curl -sS")]
        created = subprocess.run(["bash", "-c", curl + " -w '\\n%{http_code}'"], capture_output=True, text=True,
                                 timeout=60)
        assert created.stdout.strip().endswith("201"), created.stdout + created.stderr
        email = json.loads(shlex.split(curl)[shlex.split(curl).index("-d") + 1])["email"]

        def accepted():
            lines = log.read_text().splitlines() if log.exists() else []
            return [json.loads(line) for line in lines if line.strip()]

        wait_until(lambda: any(a["email"] == email for a in accepted()), timeout=120, interval=0.5,
                   message="the curl's user's message accepted by the simulator")
        assert [a["email"] for a in accepted()] == [email]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
