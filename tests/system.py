"""The running system for the end-to-end monitoring tests: API (gunicorn), Celery worker and beat,
the vendor simulator and the Celery exporter as child processes on free ports, and the workload
that moves their metrics (API traffic with errors, birthdays due now, vendor faults)."""

import datetime
import re
import sys
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import wait_until
from tests.ports import free_port  # noqa: F401 (the tests import it from here)

ZONES = [
    "Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Melbourne", "America/Sao_Paulo",
    "Africa/Nairobi", "Asia/Kolkata", "Pacific/Auckland", "Europe/Berlin", "America/Los_Angeles",
]
USERS = 20


@dataclass
class Stack:
    api: str
    worker: str
    beat: str
    tmp: Path


def start_stack(processes, simulator_url: str, tmp_path: Path, extra_env=None) -> Stack:
    worker_port, beat_port = free_port(), free_port()
    env = {
        "BIRTHDAY_VAR_DIR": str(tmp_path / "var"),
        "VENDOR_BASE_URL": simulator_url,
        "WORKER_METRICS_PORT": str(worker_port),
        "BEAT_METRICS_PORT": str(beat_port),
        "METRICS_BIND_ADDRESS": "127.0.0.1",
        "SEND_HOUR": "0",
        "SCHEDULER_TICK_SECONDS": "2",
        "DISPATCH_INTERVAL_SECONDS": "1",
        "MAX_DELIVERY_ATTEMPTS": "2",
        "RETRY_BACKOFF_BASE_SECONDS": "0.1",
        "RETRY_BACKOFF_MAX_SECONDS": "0.3",
        "VENDOR_READ_TIMEOUT_SECONDS": "0.5",
        "API_RATE_LIMIT": "40/minute",
        "CIRCUIT_FAILURE_THRESHOLD": "1000",
        "METRICS_FLEET_REFRESH_SECONDS": "1",
        # Low enough that ordinary queries of the workload count as slow.
        "DB_SLOW_QUERY_SECONDS": "0.0005",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    env.update(extra_env or {})
    api, _proc = start_api(processes, env, api_workers="2")
    processes.worker(extra_env=env)
    processes.beat(extra_env=env)
    stack = Stack(api, f"http://127.0.0.1:{worker_port}", f"http://127.0.0.1:{beat_port}", tmp_path)
    for url in (stack.worker + "/metrics", stack.beat + "/metrics"):
        wait_until(lambda url=url: reachable(url), timeout=30, message=url)
    return stack


def start_api(processes, extra_env=None, name="api", api_workers="1"):
    """The API under gunicorn on a free port, answering; returns its base URL and process."""
    port = free_port()
    env = {"API_BIND": f"127.0.0.1:{port}", "API_WORKERS": api_workers, **(extra_env or {})}
    proc = processes.start(
        [sys.executable, "-m", "gunicorn", "birthday.wsgi", "-c", "python:birthday.gunicorn_config"],
        name, extra_env=env, ready_text="Booting worker",
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: reachable(base + "/healthz"), timeout=30, message=f"{name} answering")
    return base, proc


def start_simulator(processes, *faults: str) -> str:
    """`python -m devtools.vendor_simulator` in a child process; returns its base URL."""
    port = free_port()
    processes.start([sys.executable, "-m", "devtools.vendor_simulator", "--port", str(port), "--seed", "7", *faults],
                    "vendor", ready_text="Vendor simulator listening")
    return f"http://127.0.0.1:{port}"


def start_exporter(processes) -> str:
    """bin/celery-exporter on a free port; returns its base URL. The first run builds its
    virtual environment, hence the long timeout."""
    port = free_port()
    processes.start(["bin/celery-exporter"], "exporter", extra_env={"CELERY_EXPORTER_PORT": str(port)},
                    ready_text="Started celery-exporter", timeout=240)
    return f"http://127.0.0.1:{port}"


def reachable(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def local_today(zone: str) -> datetime.date:
    return datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date()


def api_workload(api: str, token: str, hammer_token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=auth, timeout=10) as client:
        created = []
        for i in range(USERS):
            zone = ZONES[i % len(ZONES)]
            today = local_today(zone)
            birthday = today.replace(year=1990) if (today.month, today.day) != (2, 29) else datetime.date(1992, 2, 29)
            response = client.post("/user", json={
                "first_name": f"Metric{i}", "last_name": "Workload", "email": f"metric{i}@example.com",
                "birthday": birthday.isoformat(), "timezone": zone,
            })
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
        assert client.get(f"/user/{created[0]}").status_code == 200
        assert client.get("/user").status_code == 200
        assert client.get("/user/not-a-number").status_code == 404
        assert client.get("/no/such/route").status_code == 404
        client.get("/user", params={"q": "1' OR 1=1 --"})
        client.get("/user", params={"file": "../../etc/passwd"})
    assert httpx.get(f"{api}/user", timeout=5).status_code == 401
    assert httpx.get(f"{api}/user", headers={"Authorization": "Bearer bdy_wrong"}, timeout=5).status_code == 401
    assert httpx.get(f"{api}/user", headers={"Host": "evil.example"}, timeout=5).status_code == 400
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {hammer_token}"}, timeout=10) as client:
        statuses = {client.get("/user").status_code for _ in range(45)}
        assert 429 in statuses


def admin_workload(api: str, username: str, password: str) -> None:
    with httpx.Client(base_url=api, timeout=10, follow_redirects=False) as client:
        # No CSRF token: a CSRF violation.
        assert client.post("/admin/login/", data={"username": username, "password": "x"}).status_code == 403
        page = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        bad = client.post("/admin/login/", data={"csrfmiddlewaretoken": token, "username": username,
                                                 "password": "wrong", "next": "/admin/"})
        assert bad.status_code == 200  # the form again, with an error
        page = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        good = client.post("/admin/login/", data={"csrfmiddlewaretoken": token, "username": username,
                                                  "password": password, "next": "/admin/"})
        assert good.status_code == 302, good.text[:500]
        # Staff without model permissions: the admin denies the change list.
        assert client.get("/admin/users/user/").status_code == 403


def full_workload(stack: Stack) -> None:
    """API traffic (with 4xx, auth failures, throttling, a CSRF violation, an admin denial), a
    malformed task for the worker's error path, and USERS birthdays due now. Needs the database."""
    from django.contrib.auth.models import User as Operator

    from apiauth import services as tokens
    from birthday.celery import app

    _, token = tokens.create_token("metrics-workload")
    _, hammer = tokens.create_token("metrics-hammer")
    Operator.objects.create_user("auditor", password="auditor-pass-1", is_staff=True)
    api_workload(stack.api, token, hammer)
    app.send_task("messaging.deliver", args=[["not-an-id"]])
    # One user whose birthday is ten days away: active (users_active_total), no message yet.
    from core import clock
    from tests.factories import make_user

    make_user(birthday=(clock.now() + datetime.timedelta(days=10)).date().replace(year=1992))
    admin_workload(stack.api, "auditor", "auditor-pass-1")


def wait_deliveries_settled(timeout: float = 40) -> dict:
    """Until every workload message has been tried at least once and both outcomes (sent, dead)
    exist; messages waiting to retry may remain."""
    from django.db.models import Count

    from messaging.models import Message

    def settled():
        counts = dict(Message.objects.values_list("status").annotate(n=Count("id")).order_by())
        untried = sum(counts.get(status, 0) for status in ("pending", "queued", "sending"))
        done = counts.get("sent", 0) and counts.get("dead", 0) and sum(counts.values()) == USERS
        return counts if done and not untried else False

    return wait_until(settled, timeout=timeout, interval=1, message="deliveries settled")
