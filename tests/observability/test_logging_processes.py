"""Worker and beat logs in real processes: JSON lines, one correlation id per tick's fan-out."""

import json
import re

import pytest

from messaging.models import Message
from core import calendar, clock
from tests.conftest import wait_until
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {"SEND_HOUR": "0", "SCHEDULER_TICK_SECONDS": "1", "DISPATCH_INTERVAL_SECONDS": "1"}


def json_lines(text: str) -> list[dict]:
    return [json.loads(raw) for raw in text.splitlines() if raw.startswith("{")]


def test_a_ticks_fan_out_shares_one_request_id_in_json_logs(settings, simulator, purge_queues, processes):
    settings.SEND_HOUR = 0
    user = make_user(birthday=calendar.local_today("UTC", clock.now()).replace(year=1991), timezone="UTC",
                     email="Hidden.Person@example.com")
    beat = processes.beat(extra_env=FAST)
    worker = processes.worker(concurrency=1, extra_env=FAST)
    wait_until(lambda: Message.objects.filter(user=user, status="sent").exists(), timeout=30, message="message sent")

    def finished(task_name):
        return [line for line in json_lines(processes.output(worker))
                if line.get("task_name") == task_name and "succeeded" in line["message"]]

    wait_until(lambda: finished("messaging.deliver"), timeout=10, message="the delivery's log line")
    (delivered,) = finished("messaging.deliver")
    ticks = {line["task_id"]: line for line in finished("scheduler.tick")}
    dispatches = {line["task_id"]: line for line in finished("scheduler.dispatch")}
    # Beat started the task that published the delivery: each such task has a request id of its
    # own, and the one that published the delivery handed its id to it.
    started_by_beat = list(ticks.values()) + list(dispatches.values())
    assert all(re.fullmatch(r"[0-9a-f]{32}", line["request_id"]) for line in started_by_beat)
    assert delivered["request_id"] in {line["request_id"] for line in started_by_beat}
    assert delivered["trace_id"] is None  # tracing is off unless configured

    for proc, name in ((worker, "worker"), (beat, "beat")):
        output = processes.output(proc)
        lines = json_lines(output)
        assert lines, f"{name} wrote no JSON log lines"
        assert {line["service"] for line in lines} == {"birthday"}
        assert all({"timestamp", "level", "logger", "message", "environment", "trace_id", "span_id",
                    "request_id"} <= set(line) for line in lines)
        assert "hidden.person@example.com" not in output.lower()
    assert any(line["logger"] == "celery.beat" for line in json_lines(processes.output(beat)))


def test_debug_mode_logs_readable_text(processes):
    beat = processes.beat(extra_env={"DJANGO_DEBUG": "true"})
    (starting,) = [raw for raw in processes.output(beat).splitlines() if "beat: Starting" in raw]
    assert not starting.startswith("{")
    assert "INFO" in starting and "celery.beat" in starting
