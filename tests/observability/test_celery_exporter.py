"""The Celery exporter sidecar (bin/celery-exporter) against the real RabbitMQ and a worker."""

import subprocess

import httpx
import pytest

from tests.conftest import ROOT, wait_until
from tests.system import free_port

pytestmark = pytest.mark.integration


def test_embedded_broker_mode_declines_and_says_why():
    result = subprocess.run(["bin/celery-exporter"], cwd=ROOT, env={"PATH": "/usr/bin:/bin",
                            "CELERY_BROKER_URL": "filesystem://"}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "embedded filesystem broker" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_exporter_sees_the_worker_and_its_tasks(processes, purge_queues):
    port = free_port()
    processes.start(["bin/celery-exporter"], "exporter", extra_env={"CELERY_EXPORTER_PORT": str(port)},
                    ready_text="Started celery-exporter", timeout=240)
    processes.worker(extra_env={"WORKER_METRICS_PORT": str(free_port())})

    from birthday.celery import app

    def metrics():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return ""

    wait_until(lambda: "celery_worker_up{" in metrics() and '} 1.0' in metrics(), timeout=60,
               message="the exporter to see the worker")
    app.send_task("scheduler.dispatch")
    wait_until(lambda: 'celery_task_succeeded_total{' in metrics() and 'name="scheduler.dispatch"' in metrics(),
               timeout=60, message="the exporter to count the task")
