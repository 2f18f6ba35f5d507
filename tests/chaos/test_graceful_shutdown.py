"""SIGTERM to a worker mid-delivery (Celery's warm shutdown, what Kubernetes and systemd send):
the batches it is running finish and are recorded, the tasks it had only reserved go back to
RabbitMQ, and a new worker sends the rest: each message exactly once, and nothing waits for a
lease to expire."""

import os
import signal
import time

import pytest

from messaging.models import Message
from tests.conftest import wait_until
from tests.support import FAST, birthdays_today, duplicates

from .private_services import free_port

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

USERS = 300
# Long enough that a row left `sending` by the stopped worker would visibly stall the test:
# the replacement must finish well inside it.
LEASE_SECONDS = 60
# Five vendor calls at a time per batch of 50 at 300 ms each: a batch takes about 3 s, so the
# SIGTERM lands in the middle of deliveries.
ENV = dict(FAST, DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS), QUEUED_STALE_SECONDS="30", DELIVERY_CONCURRENCY="5")


@pytest.fixture(autouse=True)
def _send_at_midnight(settings):
    settings.SEND_HOUR = 0


def test_sigterm_finishes_or_requeues_what_the_worker_holds(simulator, purge_queues, processes, tmp_path):
    simulator.configure(latency_ms=300)
    users = birthdays_today(USERS)
    processes.beat(extra_env=dict(ENV, BEAT_METRICS_PORT=str(free_port())))
    leaving = processes.worker(name="leaving", concurrency=2, extra_env=dict(
        ENV, WORKER_METRICS_PORT=str(free_port()), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics-leaving")))
    wait_until(lambda: len(simulator.accepted()) >= 10, timeout=60, message="deliveries under way")

    in_flight = Message.objects.filter(status="sending").count()
    # To the main process only, as Kubernetes does (and systemd with KillMode=mixed): a pool
    # child that gets SIGTERM itself dies mid-task, which is the SIGKILL case, not this one.
    os.kill(leaving.pid, signal.SIGTERM)
    assert leaving.wait(timeout=LEASE_SECONDS / 2) == 0, processes.output(leaving)[-3000:]
    held_after_exit = Message.objects.filter(status="sending").count()
    sent_by_leaving = Message.objects.filter(status="sent").count()

    processes.worker(name="replacement", concurrency=2, extra_env=dict(
        ENV, WORKER_METRICS_PORT=str(free_port()), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics-replacement")))
    wait_until(lambda: Message.objects.filter(status="sent").count() == USERS, timeout=LEASE_SECONDS * 0.75,
               message=f"{USERS} messages sent after the warm shutdown")
    processes.stop_all()  # with the worker and beat gone, no late duplicate can still arrive

    assert in_flight > 0, "the SIGTERM should have caught deliveries in flight"
    assert held_after_exit == 0, "a warm shutdown must not leave messages leased to a departed worker"
    assert 0 < sent_by_leaving < USERS
    accepted = simulator.accepted()
    assert duplicates(accepted) == {"by_key": {}, "by_content": {}}
    assert {a["email"] for a in accepted} == {u.email for u in users}
    assert {a["idempotency_key"] for a in accepted} == {
        str(k) for k in Message.objects.values_list("idempotency_key", flat=True)}
