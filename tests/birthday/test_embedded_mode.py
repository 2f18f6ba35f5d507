"""The embedded default (no DATABASE_URL, CELERY_BROKER_URL or REDIS_URL): SQLite, a filesystem
broker shared by separate processes, and a file cache. A worker and a beat in their own
processes deliver every due message exactly once, as on the production setup."""

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import ROOT, ProcessGroup, wait_until
from tests.system import free_port

# Worker, beat and simulator in child processes.
pytestmark = pytest.mark.integration

SEED_USERS = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
django.setup()
from core import calendar, clock
from tests.factories import make_user
for i, zone in enumerate(["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati"]):
    make_user(birthday=calendar.local_today(zone, clock.now()).replace(year=1980 + i), timezone=zone)
"""

COUNT_SENT = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
django.setup()
from messaging.models import Message
print(Message.objects.filter(status="sent").count(), Message.objects.count())
"""


def test_the_embedded_default_runs_the_whole_pipeline_across_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    vendor_port = free_port()
    env.update(
        BIRTHDAY_VAR_DIR=str(tmp_path / "var"),
        SEND_HOUR="0",
        SCHEDULER_TICK_SECONDS="1",
        DISPATCH_INTERVAL_SECONDS="1",
        VENDOR_BASE_URL=f"http://127.0.0.1:{vendor_port}",
        WORKER_METRICS_PORT=str(free_port()),
        BEAT_METRICS_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([sys.executable, "-c", SEED_USERS], cwd=ROOT, env=env, check=True)

    group = ProcessGroup(env, tmp_path)
    try:
        group.start([sys.executable, "-m", "devtools.vendor_simulator", "--port", str(vendor_port)], "simulator",
                    ready_text="listening")
        worker = group.worker(concurrency=2)
        beat = group.beat()

        def sent_count():
            out = subprocess.run([sys.executable, "-c", COUNT_SENT], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            return out == ["5", "5"]

        wait_until(sent_count, timeout=60, interval=1, message="5 messages sent in embedded mode")
        group.stop(worker, beat)  # once they are gone, no late duplicate can still arrive
        with urllib.request.urlopen(f"http://127.0.0.1:{vendor_port}/_simulator/accepted") as response:
            accepted = json.load(response)
        assert len(accepted) == 5
        assert len({a["idempotency_key"] for a in accepted}) == 5
        assert all(a["message"].endswith("it's your birthday") for a in accepted)
    finally:
        group.stop_all()
