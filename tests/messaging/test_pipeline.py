"""The whole pipeline in real processes: beat → RabbitMQ → prefork workers → vendor simulator.

Each test asserts the product's promise: every due message accepted by the vendor exactly once,
by idempotency key and by (email, text), whatever runs twice or dies."""

import signal

import pytest

from messaging.models import Message
from tests.conftest import wait_until
from tests.support import FAST, birthdays_today, duplicates

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.SEND_HOUR = 0


def assert_each_accepted_exactly_once(simulator, users, processes):
    # With every beat and worker gone, no late duplicate can still arrive.
    processes.stop_all()
    accepted = simulator.accepted()
    assert duplicates(accepted) == {"by_key": {}, "by_content": {}}
    expected = {str(k) for k in Message.objects.values_list("idempotency_key", flat=True)}
    assert {a["idempotency_key"] for a in accepted} == expected
    assert {a["email"] for a in accepted} == {u.email for u in users}
    assert Message.objects.exclude(status="sent").count() == 0


def all_sent(count):
    return lambda: Message.objects.filter(status="sent").count() == count


def test_two_beats_and_several_workers_send_each_message_once(simulator, purge_queues, processes):
    users = birthdays_today(300)
    processes.beat(extra_env=FAST)
    processes.beat(extra_env=FAST)
    processes.worker(concurrency=2, extra_env=FAST)
    processes.worker(concurrency=2, extra_env=FAST)

    wait_until(all_sent(300), timeout=90, message="300 messages sent")
    assert_each_accepted_exactly_once(simulator, users, processes)


def test_a_faulty_vendor_still_gets_everything_once(simulator, purge_queues, processes):
    simulator.configure(error_rate=0.30, timeout_rate=0.10, rate_limit_rate=0.05, retry_after=1,
                        hang_seconds=1.5, hang_after_accept_ratio=0.5)
    users = birthdays_today(200)
    processes.beat(extra_env=FAST)
    processes.worker(concurrency=2, extra_env=FAST)

    wait_until(all_sent(200), timeout=150, message="200 messages sent through faults")
    simulator.configure(error_rate=0.0, timeout_rate=0.0, rate_limit_rate=0.0)
    assert_each_accepted_exactly_once(simulator, users, processes)
    stats = simulator.stats()
    assert Message.objects.filter(attempts__gt=1).exists(), stats


def test_a_worker_killed_mid_delivery_loses_and_duplicates_nothing(simulator, purge_queues, processes):
    # A batch stays `sending` for the vendor's 300 ms, far longer than the gap between seeing
    # it and killing its worker: the kill always lands mid-delivery.
    simulator.configure(latency_ms=300)
    users = birthdays_today(300)
    processes.beat(extra_env=FAST)
    victim = processes.worker(name="victim", concurrency=2, extra_env=FAST)
    wait_until(lambda: Message.objects.filter(status="sending").exists(), timeout=60, message="deliveries under way")

    processes.kill(victim, signal.SIGKILL)
    in_flight = Message.objects.filter(status="sending").count()
    processes.worker(name="survivor", concurrency=2, extra_env=FAST)

    wait_until(all_sent(300), timeout=120, message="300 messages sent after SIGKILL")
    assert in_flight > 0, "the kill should have caught deliveries in flight"
    assert_each_accepted_exactly_once(simulator, users, processes)
