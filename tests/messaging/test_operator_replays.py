"""Operator commands that replay or push messages must never lose or double one (issue 11,
defects 1-3): schedule_due for a past instant delivers, for a future one refuses; send_now
sends the next occurrence early, exactly once, on PostgreSQL and on SQLite; retry_dead with an
unknown id is an error."""

import datetime
import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from core import clock
from messaging import delivery
from messaging.models import Message
from scheduler import services
from scheduler.models import Occasion
from tests.conftest import ROOT
from tests.factories import make_user
from tests.queues import drain_task_args
from tests.messaging.test_operator_tools import dead_message  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def run(command, *args) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def deliver_published() -> None:
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])


def at(day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)


def test_schedule_due_for_a_past_instant_replays_and_the_message_is_delivered(simulator, purge_queues):
    yesterday = clock.now().date() - datetime.timedelta(days=1)
    user = make_user(birthday=yesterday.replace(year=1990), now=at(yesterday, 0))
    assert "scheduled=1" in run("schedule_due", "--now", at(yesterday, 10).isoformat())
    deliver_published()
    message = Message.objects.get(user=user)
    assert message.status == "sent" and message.occasion_date == yesterday
    assert [a["email"] for a in simulator.accepted()] == [user.email]


def test_schedule_due_refuses_a_future_instant_and_changes_nothing(simulator, purge_queues):
    tomorrow = clock.now().date() + datetime.timedelta(days=1)
    user = make_user(birthday=tomorrow.replace(year=1990), timezone="America/New_York")
    before = Occasion.objects.get(user=user, kind="birthday")
    with pytest.raises(CommandError, match="in the future.*CLOCK_OFFSET_SECONDS"):
        run("schedule_due", "--now", at(tomorrow, 14).isoformat())
    assert not Message.objects.exists()
    after = Occasion.objects.get(user=user, kind="birthday")
    assert (after.local_date, after.due_at) == (before.local_date, before.due_at)


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+05:00",
                                     "1899-12-31T23:59:59Z"])
def test_schedule_due_refuses_an_instant_before_1900_and_changes_nothing(purge_queues, instant):
    user = make_user(birthday=datetime.date(1990, 1, 1))
    before = Occasion.objects.get(user=user, kind="birthday")
    with pytest.raises(CommandError, match="--now .* is before 1900-01-01T00:00:00\\+00:00"):
        run("schedule_due", "--now", instant)
    assert not Message.objects.exists()
    after = Occasion.objects.get(user=user, kind="birthday")
    assert (after.local_date, after.due_at) == (before.local_date, before.due_at)


def test_send_now_sends_the_next_occurrence_early_exactly_once(simulator, purge_queues):
    soon = clock.now().date() + datetime.timedelta(days=3)
    user = make_user(birthday=soon.replace(year=1990))
    output = run("send_now", str(user.pk))
    assert f"birthday of {soon}" in output and f"will not be sent again on {soon}" in output
    deliver_published()
    message = Message.objects.get(user=user)
    assert message.status == "sent" and message.occasion_date == soon
    # Asked again, the next occurrence is next year's.
    assert f"of {soon.replace(year=soon.year + 1)}" in run("send_now", str(user.pk))
    deliver_published()
    assert len(simulator.accepted()) == 2
    # The real date comes: the tick finds the row and neither creates nor sends a second.
    with clock.frozen(at(soon, 12)):
        result = services.run_tick()
    assert (result.scheduled, result.duplicates) == (0, 1)
    deliver_published()
    assert Message.objects.filter(user=user).count() == 2 and len(simulator.accepted()) == 2
    assert Occasion.objects.get(user=user, kind="birthday").local_date == soon.replace(year=soon.year + 1)


def test_retry_dead_with_an_unknown_id_is_an_error_and_queues_nothing(dead_message):
    dead = dead_message
    with pytest.raises(CommandError, match="no message with id 999999"):
        run("retry_dead", "999999")
    with pytest.raises(CommandError, match="no message with id 999999"):
        run("retry_dead", str(dead.pk), "999999")
    dead.refresh_from_db()
    assert dead.status == "dead"


def run_with_the_broker_down(service_env, *args) -> subprocess.CompletedProcess:
    """The command in its own process, its broker URL a port nothing listens on."""
    from tests.ports import free_port

    env = {**service_env, "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/fixcmds"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def assert_saved_for_the_dispatcher(done: subprocess.CompletedProcess, message: Message) -> None:
    """What the operator is told, and that it is true: the row waits, ready, and the dispatcher
    publishes it once the broker answers."""
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "broker could not be reached" in done.stderr and "dispatcher publishes" in done.stderr
    message.refresh_from_db()
    assert message.status == "pending" and message.dispatch_after <= clock.now()
    from messaging import outbox

    outbox.dispatch_ready()
    assert drain_task_args() == [[message.id]]


def test_send_now_with_the_broker_down_says_the_message_is_saved_and_not_to_run_it_again(service_env,
                                                                                        purge_queues):
    soon = clock.now().date() + datetime.timedelta(days=3)
    user = make_user(birthday=soon.replace(year=1990))
    done = run_with_the_broker_down(service_env, "send_now", str(user.pk))
    assert "birthday message is saved" in done.stderr and "Do not run send_now again" in done.stderr
    assert_saved_for_the_dispatcher(done, Message.objects.get(user=user))


def test_retry_dead_with_the_broker_down_says_the_retries_are_saved(service_env, dead_message):
    done = run_with_the_broker_down(service_env, "retry_dead", str(dead_message.pk))
    assert "fresh retry budget" in done.stderr
    assert_saved_for_the_dispatcher(done, dead_message)
    dead_message.refresh_from_db()
    assert dead_message.failures == 0


def test_schedule_due_with_the_broker_down_says_the_tick_is_saved(service_env, purge_queues):
    yesterday = clock.now().date() - datetime.timedelta(days=1)
    user = make_user(birthday=yesterday.replace(year=1990), now=at(yesterday, 0))
    done = run_with_the_broker_down(service_env, "schedule_due", "--now", at(yesterday, 10).isoformat())
    assert "the tick's messages are saved" in done.stderr
    assert_saved_for_the_dispatcher(done, Message.objects.get(user=user))


SEND_NOW_ON_SQLITE = """
import datetime, io, json, os
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
django.setup()
from django.core.management import call_command
from django.db import connection
from core import clock
from devtools.vendor_simulator import VendorSimulator
from messaging import delivery
from messaging.models import Message
from scheduler import services
from tests.factories import make_user

with VendorSimulator(port=0) as simulator:
    os.environ["VENDOR_BASE_URL"] = simulator.url
    from django.conf import settings
    settings.VENDOR_BASE_URL = simulator.url
    soon = clock.now().date() + datetime.timedelta(days=3)
    user = make_user(birthday=soon.replace(year=1990))
    out = io.StringIO()
    call_command("send_now", str(user.pk), stdout=out)
    delivery.deliver_batch(list(Message.objects.values_list("id", flat=True)))
    with clock.frozen(datetime.datetime.combine(soon, datetime.time(12), tzinfo=datetime.UTC)):
        tick = services.run_tick()
    print(json.dumps({"vendor": connection.vendor,
                      "statuses": list(Message.objects.values_list("status", flat=True)),
                      "accepted": len(simulator.accepted()), "duplicates": tick.duplicates,
                      "output": out.getvalue()}))
"""


def test_send_now_sends_early_exactly_once_on_sqlite_too(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(BIRTHDAY_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run([sys.executable, "-c", SEND_NOW_ON_SQLITE], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "sqlite"
    assert result["statuses"] == ["sent"] and result["accepted"] == 1 and result["duplicates"] == 1
    assert "will not be sent again" in result["output"]
