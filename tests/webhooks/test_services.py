"""The webhook outbox on the real database and broker: events written with the status change,
published to the webhooks queue, delivered signed to a local receiver, retried, given up."""

import datetime
import json

import pytest
from django.db import transaction

from messaging import delivery, outbox
from messaging.models import Message
from core import clock
from scheduler import services as scheduler_services
from tests.factories import make_user
from tests.webhooks.receiver import Receiver
from webhooks import policy, services
from webhooks.models import Endpoint, Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    rec = Receiver().start()
    yield rec
    rec.stop()


def drain_webhook_tasks() -> list[list]:
    from birthday.celery import app

    taken = []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue="webhooks", no_ack=True)) is not None:
            taken.append(json.loads(message.body)[0])
    return taken


def deliver_published() -> list:
    reports = []
    for event_ids, token in drain_webhook_tasks():
        reports.append(services.deliver(event_ids=event_ids, token=token))
    return reports


def send_one_birthday(simulator, settings, error_rate=0.0) -> Message:
    settings.SEND_HOUR = 0
    simulator.configure(error_rate=error_rate)
    make_user(birthday=clock.now().date().replace(year=1990), now=clock.now() - datetime.timedelta(days=1))
    scheduler_services.run_tick()
    from tests.queues import drain_task_args

    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    return Message.objects.get()


def test_sent_message_writes_one_event_per_subscribed_endpoint(simulator, purge_queues, settings):
    everything = services.create_endpoint(url="http://127.0.0.1:9/a")
    services.create_endpoint(url="http://127.0.0.1:9/b", event_types=["message.dead"])
    services.create_endpoint(url="http://127.0.0.1:9/c", is_active=False)
    message = send_one_birthday(simulator, settings)
    assert message.status == "sent"
    event = Event.objects.get()
    assert event.endpoint == everything and event.type == "message.sent" and event.status == "pending"
    data = event.payload["data"]["message"]
    assert data["id"] == message.id and data["status"] == "sent" and data["user_id"] == message.user_id
    assert event.payload["id"] == str(event.id) and data["sent_at"].endswith("Z")


def test_dead_message_event(simulator, purge_queues, settings):
    settings.MAX_DELIVERY_ATTEMPTS = 1
    services.create_endpoint(url="http://127.0.0.1:9/a")
    message = send_one_birthday(simulator, settings, error_rate=1.0)
    assert message.status == "dead"
    assert list(Event.objects.values_list("type", flat=True)) == ["message.dead"]


def test_expired_events_from_the_tick_and_the_dispatcher(purge_queues, settings):
    settings.SEND_HOUR = 0
    services.create_endpoint(url="http://127.0.0.1:9/a")
    now = clock.now()
    # Due five days ago, materialised only now: past the 72 h catch-up window at creation.
    make_user(birthday=(now - datetime.timedelta(days=5)).date().replace(year=1990), now=now - datetime.timedelta(days=6))
    scheduler_services.run_tick(now)
    assert Message.objects.get().status == "expired"
    # A pending message whose window closes while it waits: the dispatcher expires it.
    user = make_user(email="late@example.com")
    outbox.create_messages([outbox.NewMessage(user_id=user.id, kind="birthday", occasion_date=datetime.date(2020, 1, 1),
                                              due_at=now - datetime.timedelta(days=4))], now)
    outbox.dispatch_ready(now)
    assert sorted(Event.objects.values_list("type", "message_id")) == sorted(
        ("message.expired", m) for m in Message.objects.values_list("id", flat=True))


def test_no_event_without_the_status_change(purge_queues):
    """The outbox rows are in the status change's transaction: a rollback takes both away."""
    services.create_endpoint(url="http://127.0.0.1:9/a")
    user = make_user()
    now = clock.now()
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.create_messages([outbox.NewMessage(user_id=user.id, kind="birthday", occasion_date=datetime.date(2020, 1, 1),
                                                  due_at=now - datetime.timedelta(days=10), expired=True)], now)
        assert Event.objects.count() == 1
        raise RuntimeError("crash before commit")
    assert Event.objects.count() == 0 and Message.objects.count() == 0


def make_event(endpoint, **fields) -> Event:
    before = set(Event.objects.values_list("id", flat=True))
    services.record_message_events(rows=[dict(id=1, user_id=2, kind="birthday", occasion_date=datetime.date(2026, 1, 1),
                                              due_at=clock.now(), status="sent", attempts=1, sent_at=clock.now())])
    event = Event.objects.exclude(id__in=before).get(endpoint=endpoint)
    Event.objects.filter(pk=event.pk).update(**fields)
    return event


def test_delivered_signed_with_headers(receiver, purge_queues):
    endpoint = services.create_endpoint(url=receiver.url)
    receiver.secrets = [endpoint.secret]
    event = make_event(endpoint)
    assert services.dispatch_due() == 1
    (report,) = deliver_published()
    assert report.delivered == 1
    (got,) = receiver.received
    assert got["event"] == event.payload
    assert got["headers"]["Birthday-Event-Id"] == str(event.id)
    assert got["headers"]["Birthday-Event-Type"] == "message.sent"
    event.refresh_from_db()
    assert event.status == "delivered" and event.next_attempt_at is None and event.attempts == 1
    assert services.dispatch_due() == 0


def test_rotation_signs_with_both_secrets_until_the_overlap_ends(receiver, purge_queues):
    endpoint = services.create_endpoint(url=receiver.url)
    old = endpoint.secret
    endpoint = services.rotate_secret(endpoint_id=endpoint.id, overlap_hours=1)
    for secrets in ([old], [endpoint.secret]):
        receiver.secrets = secrets
        make_event(endpoint)
        services.dispatch_due()
        deliver_published()
    assert len(receiver.received) == 2 and receiver.bad_signatures == 0
    header = receiver.received[0]["headers"]["Birthday-Signature"]
    assert header.count("v1=") == 2
    services.rotate_secret(endpoint_id=endpoint.id, overlap_hours=0)
    endpoint.refresh_from_db()
    assert services.active_secrets(endpoint, clock.now()) == [endpoint.secret]


def test_failures_back_off_then_die(receiver, purge_queues, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 100
    receiver.mode = "random"
    receiver.fail_rate, receiver.hang_rate = 1.0, 0.0
    endpoint = services.create_endpoint(url=receiver.url)
    event = make_event(endpoint)
    for attempt in (1, 2, 3):
        before = clock.now()
        assert services.dispatch_due() == 1
        deliver_published()
        event.refresh_from_db()
        assert event.attempts == attempt and event.last_status_code == 500
        if attempt < 3:
            wait = (event.next_attempt_at - before).total_seconds()
            ceiling = policy.backoff_ceiling(attempt, base=100, cap=settings.WEBHOOK_BACKOFF_MAX_SECONDS)
            assert ceiling / 2 <= wait <= ceiling + 5
            assert services.dispatch_due() == 0  # not before its time
            Event.objects.filter(pk=event.pk).update(next_attempt_at=clock.now())
    assert event.status == "dead" and event.next_attempt_at is None


def test_hanging_and_unreachable_endpoints_time_out_and_retry(receiver, purge_queues, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.mode = "hang"
    hanging = services.create_endpoint(url=receiver.url)
    closed = services.create_endpoint(url="http://127.0.0.1:9/nothing-listens")
    make_event(hanging)
    services.dispatch_due()
    deliver_published()
    outcomes = dict(Event.objects.values_list("endpoint_id", "last_error"))
    assert outcomes[hanging.id].startswith("timeout") and outcomes[closed.id].startswith("ConnectError")
    assert set(Event.objects.values_list("status", flat=True)) == {"pending"}


def test_a_receiver_trickling_its_answer_times_out_with_the_whole_call_bounded(receiver, purge_queues, settings):
    """WEBHOOK_TIMEOUT_SECONDS bounded each read, not the call: headers sent one at a time, each
    within the timeout, held a delivery for as long as the receiver liked (90 s in a probe, past
    the 60 s lease, so the event was published again and a healthy endpoint in the same batch
    got it a second time), and the late 200 counted as delivered."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    trickling = services.create_endpoint(url=receiver.url.replace("/hook", "/drip"))
    healthy = services.create_endpoint(url=receiver.url)
    receiver.secrets = [healthy.secret]
    make_event(trickling)
    services.dispatch_due()
    (task,) = drain_webhook_tasks()
    report = services.deliver(event_ids=task[0], token=task[1])
    assert (report.delivered, report.retrying) == (1, 1)
    outcomes = dict(Event.objects.values_list("endpoint_id", "last_error"))
    assert outcomes[trickling.id].startswith("timeout") and outcomes[healthy.id] == ""
    assert len(receiver.received) == 1


def test_a_stale_task_changes_nothing(receiver, purge_queues):
    endpoint = services.create_endpoint(url=receiver.url)
    receiver.secrets = [endpoint.secret]
    event = make_event(endpoint)
    services.dispatch_due()
    (first,) = drain_webhook_tasks()
    # Lease over: published again under a new token; the first task is now stale.
    Event.objects.filter(pk=event.pk).update(next_attempt_at=clock.now())
    services.dispatch_due()
    report = services.deliver(event_ids=first[0], token=first[1])
    assert report.skipped == 1 and receiver.requests == 0
    deliver_published()
    assert len(receiver.received) == 1


def test_deleting_an_endpoint_drops_its_events():
    endpoint = services.create_endpoint(url="http://127.0.0.1:9/a")
    make_event(endpoint)
    services.delete_endpoint(endpoint_id=endpoint.id)
    assert Endpoint.objects.count() == 0 and Event.objects.count() == 0
