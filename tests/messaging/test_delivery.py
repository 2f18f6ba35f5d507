"""Delivery in-process against the vendor simulator, on real PostgreSQL, RabbitMQ and Redis."""

import datetime
import uuid

import pytest

from messaging import delivery, outbox
from messaging.circuit_breaker import vendor_breaker
from messaging.models import DeliveryAttempt, Message
from core import clock
from scheduler import services
from tests.factories import make_user, utc
from tests.queues import drain_task_args

pytestmark = pytest.mark.django_db(transaction=True)


def queue_due_messages(count: int, **user_fields) -> tuple[list, list[int]]:
    """Users whose birthday is today (UTC), and their messages' ids, published and taken off the queue."""
    today = clock.now().date()
    users = [make_user(birthday=today.replace(year=1990), now=clock.now() - datetime.timedelta(days=1), **user_fields)
             for _ in range(count)]
    services.run_tick()
    return users, sorted(mid for batch in drain_task_args() for mid in batch)


def queue_due_message(**user_fields):
    [user], ids = queue_due_messages(1, **user_fields)
    message = Message.objects.get(user=user, kind="birthday")
    assert ids == [message.id]
    return user, message


@pytest.fixture(autouse=True)
def _early_morning_is_past(settings):
    settings.SEND_HOUR = 0  # messages for today are due already, whatever the hour


def test_a_due_message_is_sent_once_with_its_exact_text_and_idempotency_key(simulator, purge_queues):
    user, message = queue_due_message(first_name="Ada", last_name="Lovelace")

    result = delivery.deliver_batch([message.id])

    assert (result.claimed, result.sent) == (1, 1)
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 1 and message.dispatch_after is None
    [accepted] = simulator.accepted()
    assert accepted["message"] == "Hey, Ada Lovelace it's your birthday"
    assert accepted["email"] == user.email
    assert accepted["idempotency_key"] == str(message.idempotency_key)
    assert message.vendor_message_id == accepted["messageId"]
    attempt = DeliveryAttempt.objects.get(message=message)
    assert (attempt.number, attempt.outcome, attempt.http_status) == (1, "sent", 200)


def test_a_second_task_for_a_sent_message_sends_nothing(simulator, purge_queues):
    _user, message = queue_due_message()
    delivery.deliver_batch([message.id])
    result = delivery.deliver_batch([message.id])
    assert (result.claimed, result.skipped) == (0, 1)
    assert len(simulator.accepted()) == 1


def test_the_text_uses_the_users_current_name(simulator, purge_queues):
    user, message = queue_due_message(first_name="Old")
    user.first_name = "New"
    user.save()
    delivery.deliver_batch([message.id])
    assert simulator.accepted()[0]["message"].startswith("Hey, New ")


def test_a_user_deleted_after_enqueue_gets_nothing(simulator, purge_queues):
    user, message = queue_due_message()
    user.delete()
    result = delivery.deliver_batch([message.id])
    assert result.claimed == 0 and simulator.accepted() == []


def test_a_birthday_moved_after_enqueue_is_not_sent(simulator, purge_queues):
    user, message = queue_due_message()
    # Bypass the service that would have removed the message: the worker's own check must hold.
    user.birthday = user.birthday + datetime.timedelta(days=3)
    user.save()
    result = delivery.deliver_batch([message.id])
    assert result.sent == 0 and simulator.accepted() == []
    assert not Message.objects.filter(pk=message.pk).exists()


def test_a_rejected_request_fails_permanently_without_retry(simulator, purge_queues):
    _user, message = queue_due_message(email="not-an-address")
    delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert message.status == "failed" and message.dispatch_after is None and message.attempts == 1
    assert outbox.dispatch_ready() == 0


def test_server_errors_retry_with_backoff_then_go_dead(simulator, purge_queues, settings):
    settings.MAX_DELIVERY_ATTEMPTS = 3
    simulator.configure(error_rate=1.0)
    _user, message = queue_due_message()
    for attempt in range(1, 4):
        before = clock.now()
        delivery.deliver_batch([message.id])
        message.refresh_from_db()
        assert message.attempts == attempt and message.failures == attempt
        if attempt < 3:
            assert message.status == "retry"
            ceiling = settings.RETRY_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
            assert before <= message.dispatch_after <= clock.now() + datetime.timedelta(seconds=ceiling)
            Message.objects.filter(pk=message.pk).update(status="queued")  # as the dispatcher would
    assert message.status == "dead" and message.dispatch_after is None
    assert DeliveryAttempt.objects.filter(message=message).count() == 3


def test_rate_limiting_waits_retry_after_without_spending_the_budget(simulator, purge_queues):
    simulator.configure(rate_limit_rate=1.0, retry_after=7)
    _user, message = queue_due_message()
    before = clock.now()
    delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert (message.status, message.attempts, message.failures) == ("retry", 1, 0)
    assert before + datetime.timedelta(seconds=7) <= message.dispatch_after <= clock.now() + datetime.timedelta(seconds=7)


def test_timeouts_are_retried_and_the_idempotency_key_prevents_a_duplicate(simulator, purge_queues, settings):
    settings.VENDOR_READ_TIMEOUT_SECONDS = 0.3
    from messaging import vendor

    vendor.reset_client()
    simulator.configure(timeout_rate=1.0, hang_after_accept_ratio=1.0, hang_seconds=2)
    _user, message = queue_due_message()
    delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert message.status == "retry" and message.failures == 1
    assert len(simulator.accepted()) == 1  # the vendor took it; we never heard back

    simulator.configure(timeout_rate=0.0)
    Message.objects.filter(pk=message.pk).update(status="queued")
    delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert message.status == "sent"
    assert len(simulator.accepted()) == 1
    assert message.vendor_message_id == simulator.accepted()[0]["messageId"]


def test_an_open_circuit_defers_without_spending_attempts(simulator, purge_queues):
    breaker = vendor_breaker()
    for _ in range(breaker.failure_threshold):
        breaker.record(successes=0, failures=1)
    assert breaker.state() == "open"
    _user, message = queue_due_message()
    result = delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert result.deferred == 1
    assert (message.status, message.attempts, message.failures) == ("retry", 0, 0)
    assert message.dispatch_after > clock.now()
    assert simulator.accepted() == []


def test_a_message_in_another_workers_hands_is_left_alone_until_its_lease_expires(simulator, purge_queues):
    _user, message = queue_due_message()
    lease = clock.now() + datetime.timedelta(seconds=60)
    Message.objects.filter(pk=message.pk).update(status="sending", lease_expires_at=lease, dispatch_after=lease)
    assert delivery.deliver_batch([message.id]).claimed == 0

    Message.objects.filter(pk=message.pk).update(lease_expires_at=clock.now() - datetime.timedelta(seconds=1))
    assert delivery.deliver_batch([message.id]).sent == 1


def test_a_dead_worker_is_replaced_by_the_dispatcher_after_its_lease(simulator, purge_queues):
    _user, message = queue_due_message()
    expired = clock.now() - datetime.timedelta(seconds=1)
    Message.objects.filter(pk=message.pk).update(status="sending", lease_expires_at=expired, dispatch_after=expired)
    assert outbox.dispatch_ready() == 1
    assert drain_task_args() == [[message.id]]


def test_a_crash_between_commit_and_publish_loses_nothing(simulator, purge_queues, monkeypatch):
    """Publishing happens inside the transaction that marks rows queued: if it fails (or the
    process dies) the rows stay pending and the next dispatch publishes them."""
    today = clock.now().date()
    make_user(birthday=today.replace(year=1990), now=clock.now() - datetime.timedelta(days=1))

    def broker_gone(ids):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(outbox, "_publish", broker_gone)
    with pytest.raises(ConnectionError):
        services.run_tick()
    message = Message.objects.get()
    assert message.status == "pending"

    monkeypatch.undo()
    assert outbox.dispatch_ready() == 1
    ids = [mid for batch in drain_task_args() for mid in batch]
    delivery.deliver_batch(ids)
    assert Message.objects.get().status == "sent" and len(simulator.accepted()) == 1


def test_a_task_published_by_a_rolled_back_dispatch_is_harmless(simulator, purge_queues, monkeypatch):
    today = clock.now().date()
    make_user(birthday=today.replace(year=1990), now=clock.now() - datetime.timedelta(days=1))
    real_publish = outbox._publish

    def publish_then_die(ids):
        real_publish(ids)
        raise SystemError("killed after publishing, before commit")

    monkeypatch.setattr(outbox, "_publish", publish_then_die)
    with pytest.raises(SystemError):
        services.run_tick()
    monkeypatch.undo()
    stray = [mid for batch in drain_task_args() for mid in batch]
    assert delivery.deliver_batch(stray).claimed == 0  # still pending: not claimable
    outbox.dispatch_ready()
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    assert len(simulator.accepted()) == 1


def test_the_retry_budget_is_reset_by_an_operator(simulator, purge_queues, settings):
    from messaging import operations

    settings.MAX_DELIVERY_ATTEMPTS = 1
    simulator.configure(error_rate=1.0)
    _user, message = queue_due_message()
    delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert message.status == "dead"
    simulator.configure(error_rate=0.0)
    assert operations.retry_messages([message.id]) == 1
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    message.refresh_from_db()
    assert message.status == "sent" and message.failures == 0


def test_a_task_that_outruns_its_dispatchers_commit_waits_for_it_and_sends(simulator, purge_queues):
    """The dispatcher publishes inside the transaction that marks rows `queued`; a fast worker
    can receive the task before that commit and must not skip the message as not ready."""
    import threading

    from django.db import connection, transaction

    _user, message = queue_due_message()
    Message.objects.filter(id=message.id).update(status="pending")
    locked, release = threading.Event(), threading.Event()

    def dispatcher():
        try:
            with transaction.atomic():
                list(Message.objects.select_for_update().filter(id=message.id))
                locked.set()
                release.wait(10)
                Message.objects.filter(id=message.id).update(status="queued")
        finally:
            connection.close()

    thread = threading.Thread(target=dispatcher)
    thread.start()
    assert locked.wait(10)
    threading.Timer(0.5, release.set).start()
    result = delivery.deliver_batch([message.id])
    thread.join(10)

    assert (result.claimed, result.sent, result.skipped) == (1, 1, 0)
    assert len(simulator.accepted()) == 1


def test_a_batch_costs_the_same_statements_whatever_its_size(simulator, purge_queues):
    """Claim, re-read, outcomes and attempts are one statement each for the whole batch: a
    statement per message would cost a round trip per message at full speed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (2, 12):
        _users, ids = queue_due_messages(size)
        with CaptureQueriesContext(connection) as captured:
            result = delivery.deliver_batch(ids)
        assert (result.claimed, result.sent) == (size, size)
        assert Message.objects.filter(id__in=ids, status="sent", attempts=1).count() == size
        assert DeliveryAttempt.objects.filter(message_id__in=ids, number=1, outcome="sent").count() == size
        counts.append(len(captured))
    assert counts[0] == counts[1]
