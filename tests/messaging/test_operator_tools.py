"""What operators use: status counts, retrying dead messages, sending one user's message now,
and the messages admin with its filters, delivery history and actions."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from messaging import delivery, operations
from messaging.models import DeliveryAttempt, Message
from core import clock
from scheduler import services
from scheduler.models import Occasion
from tests.factories import make_user, utc
from tests.queues import drain_task_args

pytestmark = pytest.mark.django_db(transaction=True)


def run(command, *args) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def dead_message(simulator, purge_queues, settings):
    settings.SEND_HOUR = 0
    settings.MAX_DELIVERY_ATTEMPTS = 1
    simulator.configure(error_rate=1.0)
    make_user(birthday=clock.now().date().replace(year=1990), now=clock.now() - datetime.timedelta(days=1))
    services.run_tick()
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    message = Message.objects.get()
    assert message.status == "dead"
    simulator.configure(error_rate=0.0)
    return message


def test_message_status_counts_every_status_and_what_is_due(dead_message):
    make_user(birthday=datetime.date(1990, 1, 1), now=utc(2025, 12, 1))  # due long ago, not materialised
    lines = dict(line.split() for line in run("message_status").splitlines())
    assert lines["dead"] == "1" and lines["sent"] == "0" and lines["due"] == "1"
    assert set(lines) == {*Message.Status.values, "due"}


def test_retry_dead_gives_a_fresh_budget_and_the_message_goes_out(dead_message, simulator):
    assert "queued 1 message(s) again" in run("retry_dead")
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    dead_message.refresh_from_db()
    assert dead_message.status == "sent" and len(simulator.accepted()) == 1


@pytest.mark.parametrize("status, flags", [("dead", []), ("expired", ["--include-expired"])])
def test_retry_dead_sends_a_message_whose_catch_up_window_ran_out(dead_message, simulator, status, flags):
    """With the default MAX_DELIVERY_ATTEMPTS (0: no cap) a message dies only when its catch-up
    window runs out, so that is the message an operator retries. The retry kept its old due
    instant, and the dispatcher it then ran expired it again at once: "queued 1 message(s)
    again", and nothing was sent."""
    long_ago = clock.now() - datetime.timedelta(hours=96)
    Message.objects.filter(pk=dead_message.pk).update(status=status, due_at=long_ago)
    assert "queued 1 message(s) again" in run("retry_dead", *flags)
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    dead_message.refresh_from_db()
    assert dead_message.status == "sent" and len(simulator.accepted()) == 1


def test_retry_dead_leaves_failed_messages_alone_unless_asked(dead_message):
    Message.objects.filter(pk=dead_message.pk).update(status="failed")
    assert "queued 0" in run("retry_dead")
    assert "queued 1" in run("retry_dead", "--include-failed")


def test_send_now_materialises_the_next_occasion_early_and_only_once(simulator, purge_queues):
    user = make_user(birthday=datetime.date(1990, 12, 25), now=utc(2026, 11, 1))
    occasion = Occasion.objects.get(user=user, kind="birthday")
    with clock.frozen(utc(2026, 11, 27, 12)):
        assert f"({'birthday'} of 2026-12-25) queued" in run("send_now", str(user.pk))
    message = Message.objects.get(user=user)
    assert message.occasion_date == occasion.local_date
    assert drain_task_args() == [[message.id]]
    services.run_tick(now=utc(2026, 12, 25, 10))  # the day itself: no second message
    assert Message.objects.filter(user=user).count() == 1


def test_send_now_refuses_an_unknown_user_or_a_missing_occasion():
    user = make_user(birthday=datetime.date(1990, 12, 25))
    with pytest.raises(CommandError, match="no user"):
        run("send_now", "999999")
    with pytest.raises(CommandError, match="no anniversary"):
        run("send_now", str(user.pk), "--kind", "anniversary")


def test_send_now_that_another_send_now_beat_says_so_not_that_there_is_nothing_to_send(purge_queues):
    from tests.races import uncommitted

    soon = clock.now().date() + datetime.timedelta(days=3)
    user = make_user(birthday=soon.replace(year=1990))
    # The other send_now has inserted the message and not committed: this one sees no message,
    # and its insert waits on the (user, kind, date) unique index until the other commits.
    with uncommitted(lambda: operations.send_now(user)):
        with pytest.raises(CommandError, match=f"another process queued user {user.pk}'s birthday of {soon} first"):
            run("send_now", str(user.pk))
    message = Message.objects.get(user=user)
    assert message.occasion_date == soon and message.status == "queued"


@pytest.fixture
def admin_client(client):
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "a-long-password-1")
    client.force_login(operator)
    return client


def test_the_messages_admin_filters_and_shows_the_delivery_history(admin_client, dead_message):
    page = admin_client.get("/admin/messaging/message/", {"status__exact": "dead", "kind": "birthday"})
    assert page.status_code == 200
    assert "dead: 1" in page.content.decode()
    assert dead_message.user.email in page.content.decode()
    assert admin_client.get("/admin/messaging/message/", {"status__exact": "sent"}).context["cl"].result_count == 0

    detail = admin_client.get(f"/admin/messaging/message/{dead_message.pk}/change/")
    assert detail.status_code == 200
    attempt = DeliveryAttempt.objects.get(message=dead_message)
    assert attempt.outcome == "server_error" and "server_error" in detail.content.decode()
    # The history is read-only: no form to change a message.
    assert admin_client.post(f"/admin/messaging/message/{dead_message.pk}/change/", {"status": "sent"}).status_code == 403
    dead_message.refresh_from_db()
    assert dead_message.status == "dead"


def test_the_retry_admin_action_queues_dead_messages_again(admin_client, dead_message, simulator):
    response = admin_client.post(
        "/admin/messaging/message/",
        {"action": "retry_selected", "_selected_action": [dead_message.pk]},
        follow=True,
    )
    assert "1 message(s) queued again" in response.content.decode()
    delivery.deliver_batch([mid for batch in drain_task_args() for mid in batch])
    dead_message.refresh_from_db()
    assert dead_message.status == "sent"


def test_the_occasions_admin_lists_what_the_tick_will_pick_up(admin_client):
    user = make_user(birthday=datetime.date(1990, 12, 25))
    page = admin_client.get("/admin/scheduler/occasion/")
    assert page.status_code == 200 and user.email in page.content.decode()
