"""Issue 11, "Admin, for an operator's day": a message's page is read-only history with Retry /
Send now buttons that confirm first and report the outcome; attempts and times read plainly."""

import datetime

import pytest

from messaging.models import DeliveryAttempt, Message
from core import clock
from tests.factories import make_user, utc
from tests.queues import drain_task_args

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queues(purge_queues):
    """The broker's queues exist and are empty (drain_task_args reads the deliveries queue)."""
    from birthday.celery import app
    from messaging.broker import declare_topology

    declare_topology(app)
    purge_queues()
    return purge_queues


@pytest.fixture
def recipient():
    return make_user(birthday=datetime.date(1990, 3, 4), timezone="Asia/Kathmandu", email="ann@example.com")


def message(user, status, **fields):
    """A message due an hour ago (inside the catch-up window, so a retry is not expired)."""
    due_at = clock.now() - datetime.timedelta(hours=1)
    defaults = {"kind": "birthday", "occasion_date": due_at.date(), "due_at": due_at}
    if status == "sent":
        defaults["sent_at"] = due_at + datetime.timedelta(seconds=2)
    return Message.objects.create(user=user, status=status, **{**defaults, **fields})


def page(admin_client, msg):
    response = admin_client.get(f"/admin/messaging/message/{msg.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_message_page_has_no_save_or_delete_buttons(admin_client, recipient):
    html = page(admin_client, message(recipient, "dead"))
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "/delete/" not in html
    # What is left posts nowhere: a change or a delete is refused, not offered.
    msg = Message.objects.get()
    assert admin_client.post(f"/admin/messaging/message/{msg.pk}/change/", {"status": "sent"}).status_code == 403
    assert admin_client.post(f"/admin/messaging/message/{msg.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Message.objects.get().status == "dead"


def test_attempts_are_labelled_by_number_and_outcome(admin_client, recipient):
    msg = message(recipient, "dead", attempts=2)
    DeliveryAttempt.objects.create(message=msg, number=1, started_at=utc(2026, 3, 4, 3, 15), duration_ms=30,
                                   outcome="server_error", http_status=500, error="boom")
    DeliveryAttempt.objects.create(message=msg, number=2, started_at=utc(2026, 3, 4, 3, 16), duration_ms=5000,
                                   outcome="timeout")
    html = page(admin_client, msg)
    assert "DeliveryAttempt object" not in html
    assert "attempt 1: Server Error, HTTP 500" in html and "attempt 2: Timeout" in html


def test_due_and_sent_are_shown_in_utc_and_the_recipients_local_time(admin_client, recipient):
    html = page(admin_client, message(recipient, "sent", due_at=utc(2026, 3, 4, 3, 15), sent_at=utc(2026, 3, 4, 3, 15, 2)))
    assert "2026-03-04 03:15:00 UTC" in html and "2026-03-04 09:00:00 Asia/Kathmandu (UTC+05:45)" in html
    assert "2026-03-04 03:15:02 UTC" in html and "2026-03-04 09:00:02 Asia/Kathmandu (UTC+05:45)" in html


def test_the_message_list_shows_due_times_with_their_zone(admin_client, recipient):
    message(recipient, "sent", due_at=utc(2026, 3, 4, 3, 15), sent_at=utc(2026, 3, 4, 3, 15, 2))
    html = admin_client.get("/admin/messaging/message/").content.decode()
    assert "2026-03-04 03:15:00 UTC" in html and "Asia/Kathmandu (UTC+05:45)" in html


def test_retry_is_a_button_with_a_confirmation_and_the_outcome_as_a_message(admin_client, recipient, queues):
    msg = message(recipient, "dead", failures=5, attempts=5, last_error="HTTP 500")
    assert f"/admin/messaging/message/{msg.pk}/retry/" in page(admin_client, msg)

    confirm = admin_client.get(f"/admin/messaging/message/{msg.pk}/retry/")
    assert confirm.status_code == 200 and "Yes, retry" in confirm.content.decode()
    assert Message.objects.get().status == "dead"  # asking is not doing

    done = admin_client.post(f"/admin/messaging/message/{msg.pk}/retry/", follow=True)
    assert done.redirect_chain[-1][0] == f"/admin/messaging/message/{msg.pk}/change/"
    assert f"Message {msg.pk}: retry done" in done.content.decode()
    msg.refresh_from_db()
    assert msg.status == "queued" and msg.failures == 0
    assert drain_task_args() == [[msg.pk]]


def test_send_now_is_a_button_for_a_message_waiting_to_retry(admin_client, recipient, queues):
    msg = message(recipient, "retry", dispatch_after=utc(2099, 1, 1))
    html = page(admin_client, msg)
    assert f"/admin/messaging/message/{msg.pk}/send-now/" in html and f"{msg.pk}/retry/" not in html
    done = admin_client.post(f"/admin/messaging/message/{msg.pk}/send-now/", follow=True)
    assert f"Message {msg.pk}: send now done" in done.content.decode()
    assert drain_task_args() == [[msg.pk]]
    assert Message.objects.count() == 1


@pytest.mark.parametrize("action", ["retry", "send-now"])
def test_a_sent_message_offers_no_button_and_is_never_sent_again(admin_client, recipient, queues, action):
    msg = message(recipient, "sent")
    html = page(admin_client, msg)
    assert "/retry/" not in html and "/send-now/" not in html
    confirm = admin_client.get(f"/admin/messaging/message/{msg.pk}/{action}/")
    assert confirm.status_code == 200 and "does not apply" in confirm.content.decode()
    done = admin_client.post(f"/admin/messaging/message/{msg.pk}/{action}/", follow=True)
    assert "nothing was queued" in done.content.decode()
    assert drain_task_args() == []
    assert list(Message.objects.values_list("status", flat=True)) == ["sent"]


def test_an_unknown_message_is_404(admin_client):
    assert admin_client.get("/admin/messaging/message/999999/retry/").status_code == 404
    assert admin_client.post("/admin/messaging/message/abc/send-now/").status_code == 404


def test_the_buttons_need_a_logged_in_operator(client, recipient):
    msg = message(recipient, "dead")
    response = client.post(f"/admin/messaging/message/{msg.pk}/retry/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Message.objects.get().status == "dead"


def test_messages_cannot_be_deleted_from_the_list_either(admin_client, recipient):
    msg = message(recipient, "sent")
    listed = admin_client.get("/admin/messaging/message/")
    assert "delete_selected" not in listed.content.decode()
    admin_client.post("/admin/messaging/message/", {"action": "delete_selected", "_selected_action": [msg.pk],
                                                    "post": "yes"})
    assert Message.objects.filter(pk=msg.pk).exists()


def test_deleting_a_recipient_still_deletes_their_messages(admin_client, recipient):
    message(recipient, "sent")
    response = admin_client.post(f"/admin/users/user/{recipient.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Message.objects.exists()


# An operator's POST to the admin, made in a process of its own whose broker URL names a port
# nothing listens on; prints the answer's status and the messages the admin showed.
ADMIN_POST = """
import json, os
from django.test.utils import setup_test_environment
setup_test_environment()
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username=os.environ["ADMIN_USERNAME"]))
answer = client.post(os.environ["ADMIN_PATH"], json.loads(os.environ["ADMIN_DATA"]), follow=True)
print(json.dumps({"status": answer.status_code, "messages": [str(m) for m in answer.context["messages"]]}))
"""


def admin_post_with_the_broker_down(service_env, admin_user, path: str, data: dict) -> dict:
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.ports import free_port

    env = {**service_env, "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/none",
           "ADMIN_USERNAME": admin_user.username, "ADMIN_PATH": path, "ADMIN_DATA": json.dumps(data)}
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", ADMIN_POST], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.integration  # the admin in a child process, against a broker that is not there
@pytest.mark.parametrize("action, status", [("retry", "dead"), ("send-now", "retry")])
def test_a_button_pressed_while_the_broker_is_down_says_what_was_saved(service_env, admin_user, recipient, action,
                                                                        status):
    """The change commits before it is published; the publish raised out of the view (a 500)."""
    msg = message(recipient, status, failures=5, attempts=5, dispatch_after=utc(2099, 1, 1))
    done = admin_post_with_the_broker_down(service_env, admin_user, f"/admin/messaging/message/{msg.pk}/{action}/", {})
    assert done["status"] == 200
    assert any("broker cannot be reached" in text for text in done["messages"]), done
    msg.refresh_from_db()
    assert msg.status == "pending" and msg.dispatch_after <= clock.now()


@pytest.mark.integration
def test_the_retry_list_action_while_the_broker_is_down_says_what_was_saved(service_env, admin_user, recipient):
    msg = message(recipient, "dead", failures=5, attempts=5)
    done = admin_post_with_the_broker_down(service_env, admin_user, "/admin/messaging/message/",
                                           {"action": "retry_selected", "_selected_action": [msg.pk]})
    assert done["status"] == 200 and any("broker cannot be reached" in text for text in done["messages"]), done
    msg.refresh_from_db()
    assert msg.status == "pending"


def test_send_now_on_several_selected_messages_sends_each_once_and_makes_no_other(admin_client, queues):
    """The list action sent each selected message through send_now(user, kind); the first call's
    dispatch published every ready message, so for the others send_now found none unsent and
    made next year's, due now: two birthday messages each, a day apart from nothing."""
    users = [make_user(birthday=datetime.date(1990, 3, 4), email=f"u{i}@example.com") for i in range(3)]
    selected = [message(user, "pending", dispatch_after=clock.now()) for user in users]
    done = admin_client.post("/admin/messaging/message/", {
        "action": "send_selected_now", "_selected_action": [m.pk for m in selected]}, follow=True)
    assert "3 message(s) queued now" in [str(m) for m in done.context["messages"]][0]
    assert Message.objects.count() == 3
    assert set(Message.objects.values_list("status", flat=True)) == {"queued"}
    assert sorted(mid for batch in drain_task_args() for mid in batch) == sorted(m.pk for m in selected)
