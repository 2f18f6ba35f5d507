"""Webhooks in real processes (beat, a delivery worker, a webhook worker on its own queue) against
a local receiver that hangs, then fails and hangs at random: message delivery completes while
every webhook attempt is still hanging, and then every event arrives, signed, at least once."""

import pytest

from messaging.models import Message
from tests.conftest import wait_until
from tests.support import FAST, birthdays_today
from tests.webhooks.receiver import Receiver
from webhooks import services
from webhooks.models import Event

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEBHOOK_FAST = {
    **FAST,
    "WEBHOOK_DISPATCH_INTERVAL_SECONDS": "1",
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",  # the receiver listens on 127.0.0.1
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "1",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
    "WEBHOOK_BACKOFF_MAX_SECONDS": "1",
    "WEBHOOK_MAX_ATTEMPTS": "1000",
    "WEBHOOK_LEASE_SECONDS": "5",
    "WEBHOOK_CONCURRENCY": "4",
    "WEBHOOK_BATCH_SIZE": "4",
}
COUNT = 120


@pytest.fixture
def receiver():
    rec = Receiver(seed=11).start()
    yield rec
    rec.stop()


def test_a_hanging_endpoint_never_holds_up_delivery_and_every_event_arrives(
    simulator, purge_queues, processes, receiver, settings
):
    settings.SEND_HOUR = 0
    receiver.mode = "hang"
    endpoint = services.create_endpoint(url=receiver.url)
    receiver.secrets = [endpoint.secret]
    birthdays_today(COUNT // 2)
    processes.beat(extra_env=WEBHOOK_FAST)
    processes.worker(concurrency=2, extra_env=WEBHOOK_FAST)
    processes.worker(name="webhooks", queues="webhooks", concurrency=1,
                     extra_env={**WEBHOOK_FAST, "WORKER_METRICS_PORT": "0"})
    wait_until(lambda: receiver.answers["hang"] > 0, timeout=120, message="webhook attempts hanging")

    # The second half is due while the webhook worker is stuck on the hanging endpoint.
    birthdays_today(COUNT - COUNT // 2)
    hangs_before = receiver.answers["hang"]
    wait_until(lambda: Message.objects.filter(status="sent").count() == COUNT, timeout=120,
               message=f"{COUNT} messages sent while the webhook endpoint hangs")
    # Every message went out while every webhook attempt was hanging: none answered yet.
    assert receiver.received == [] and receiver.answers["ok"] == 0
    assert Event.objects.filter(status="delivered").count() == 0
    assert receiver.answers["hang"] >= hangs_before
    expected = {str(e) for e in Event.objects.values_list("id", flat=True)}
    assert len(expected) == COUNT
    assert set(Event.objects.values_list("message_id", flat=True)) == set(Message.objects.values_list("id", flat=True))

    receiver.mode = "random"  # 30 % answer 500, 20 % hang past the timeout, the rest 204
    wait_until(lambda: receiver.event_ids() >= expected, timeout=180, message="every event received at least once")
    wait_until(lambda: Event.objects.filter(status="delivered").count() == COUNT, timeout=60,
               message="every event recorded delivered")
    assert receiver.bad_signatures == 0
    assert receiver.answers["fail"] > 0 and receiver.answers["hang"] > 0
    got = {r["event"]["id"]: r for r in receiver.received}
    for event in Event.objects.all():
        assert got[str(event.id)]["event"] == event.payload
        assert got[str(event.id)]["headers"]["Birthday-Event-Type"] == "message.sent"
