"""Issue 11: the operations overview page: linked from the admin index, its figures right, and
each query bounded by an index (EXPLAIN on PostgreSQL, with enough rows for the planner to
choose between a scan and the index)."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import clock
from messaging import selectors as messages
from messaging.circuit_breaker import vendor_breaker
from messaging.models import DeliveryAttempt, Message
from scheduler import selectors as schedule
from scheduler.models import Occasion
from tests.factories import make_user, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 3, 1, 10, 30)


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(NOW):
        yield


def attempt(message, number, started_at, outcome):
    DeliveryAttempt.objects.create(message=message, number=number, started_at=started_at, duration_ms=20,
                                   outcome=outcome, http_status=200 if outcome == "sent" else 500)


@pytest.fixture
def day():
    """Two occasions due at 14:00 UTC today, one tomorrow 09:00, one beyond 48 h, one overdue;
    messages in several states; vendor calls in the last hours and one too old to count."""
    for due in (utc(2026, 3, 1, 14), utc(2026, 3, 1, 14, 30), utc(2026, 3, 2, 9), utc(2026, 3, 5, 9),
                utc(2026, 3, 1, 9)):
        user = make_user(now=NOW)
        Occasion.objects.filter(user=user).update(due_at=due)
    owner = make_user(now=NOW)
    made = {}
    for n, (status, due) in enumerate((("sent", utc(2026, 3, 1, 9)), ("dead", utc(2026, 2, 28, 9)),
                                       ("retry", utc(2026, 3, 1, 7)), ("pending", utc(2026, 3, 1, 8)))):
        made[status] = Message.objects.create(
            user=owner, kind="birthday", occasion_date=datetime.date(2020 + n, 3, 1), due_at=due, status=status,
            sent_at=due if status == "sent" else None)
    attempt(made["sent"], 1, utc(2026, 3, 1, 9, 0, 1), "server_error")
    attempt(made["sent"], 2, utc(2026, 3, 1, 9, 0, 5), "sent")
    attempt(made["dead"], 1, utc(2026, 2, 28, 9, 0, 1), "timeout")
    attempt(made["dead"], 2, utc(2026, 2, 20, 9), "timeout")  # older than 48 hours
    return made


def test_the_index_links_to_the_overview(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert 'href="/admin/operations/"' in html


def test_the_overview_needs_a_logged_in_operator(client):
    response = client.get("/admin/operations/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_overview_shows_the_figures(admin_client, day):
    response = admin_client.get("/admin/operations/")
    assert response.status_code == 200
    context = response.context
    assert context["waiting"] == 2 and str(context["dead"]) == "1"
    assert context["oldest"].pk == day["retry"].pk and context["oldest_age"] == "3 h 30 min"
    assert str(context["overdue"]) == "1"
    assert context["breaker"]["state"] == "closed"
    assert (context["sent_48h"], context["failed_48h"]) == (1, 2)
    counts = {row["status"]: str(row["count"]) for row in context["statuses"]}
    assert counts == {"pending": "1", "queued": "0", "sending": "0", "retry": "1", "sent": "1", "failed": "0",
                      "dead": "1", "expired": "0"}

    html = response.content.decode()
    due_bars = re.findall(r'<rect class="bar due"[^>]*><title>([^<]*)</title>', html)
    assert due_bars == ["2026-03-01 14:00 UTC: 2 due", "2026-03-02 09:00 UTC: 1 due"]
    delivery_bars = re.findall(r'<rect class="bar (sent|failed)"[^>]*><title>([^<]*)</title>', html)
    assert delivery_bars == [
        ("failed", "2026-02-28 09:00 UTC: 1 failed attempts"),
        ("sent", "2026-03-01 09:00 UTC: 1 sent"),
        ("failed", "2026-03-01 09:00 UTC: 1 failed attempts"),
    ]
    # Nothing on the page comes from another host.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_an_open_breaker_shows_as_open(admin_client, settings):
    breaker = vendor_breaker()
    for _ in range(settings.CIRCUIT_FAILURE_THRESHOLD):
        breaker.record(successes=0, failures=1)
    assert admin_client.get("/admin/operations/").context["breaker"]["state"] == "open"


def test_counts_stop_at_the_cap(day):
    owner = day["sent"].user
    for n in range(3):
        Message.objects.create(user=owner, kind="anniversary", occasion_date=datetime.date(2010 + n, 1, 1),
                               due_at=utc(2020 + n, 1, 1), status="sent", sent_at=utc(2020 + n, 1, 1))
    counts = messages.status_counts(cap=3)
    assert str(counts["sent"]) == "3+" and counts["sent"].capped
    assert str(counts["dead"]) == "1" and not counts["dead"].capped


# --- Query plans at a size where the planner has a choice ----------------------------------------


@pytest.fixture
def many_rows():
    """30,000 recipients with occasions over a year, a message each, an attempt each over 100 days."""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO users_user (first_name, last_name, email, birthday, timezone, created_at, updated_at)
            SELECT 'F', 'L', 'plan' || g || '@example.com', DATE '1990-01-01', 'UTC', now(), now()
            FROM generate_series(1, 30000) AS g""")
        cursor.execute("""
            INSERT INTO scheduler_occasion (user_id, kind, local_date, due_at)
            SELECT id, 'birthday', DATE '2026-03-01' + (id % 365)::int,
                   TIMESTAMPTZ '2026-03-01 00:00Z' + (id % 365) * INTERVAL '1 day' + (id % 24) * INTERVAL '1 hour'
            FROM users_user""")
        cursor.execute("""
            INSERT INTO messaging_message (user_id, kind, occasion_date, due_at, status, attempts, failures,
                                           idempotency_key, sent_at, vendor_message_id, last_error, created_at,
                                           updated_at)
            SELECT id, 'birthday', DATE '2025-03-01' + (id % 365)::int, TIMESTAMPTZ '2025-03-01Z' + (id % 365) * INTERVAL '1 day',
                   CASE WHEN id % 500 = 0 THEN 'dead' WHEN id % 300 = 0 THEN 'pending' ELSE 'sent' END, 1, 0,
                   gen_random_uuid(), TIMESTAMPTZ '2025-03-01Z' + (id % 365) * INTERVAL '1 day', '', '', now(), now()
            FROM users_user""")
        cursor.execute("""
            INSERT INTO messaging_deliveryattempt (message_id, number, started_at, duration_ms, outcome, http_status, error)
            SELECT id, 1, TIMESTAMPTZ '2026-03-01 10:00Z' - (id % 100) * INTERVAL '1 day' - (id % 24) * INTERVAL '1 hour',
                   10, 'sent', 200, ''
            FROM messaging_message""")
        cursor.execute("ANALYZE users_user, scheduler_occasion, messaging_message, messaging_deliveryattempt")


def plans_of(run) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans
    return plans


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans are PostgreSQL's")
def test_every_overview_query_reads_a_bounded_index_range(many_rows):
    window = (NOW, NOW + datetime.timedelta(hours=48))
    (due,) = plans_of(lambda: schedule.due_per_hour(*window))
    print("due per hour:", due, sep="\n")
    assert "scheduler_occasion_due_idx" in due and "Seq Scan" not in due, due
    (attempts,) = plans_of(lambda: messages.attempts_per_hour(NOW - datetime.timedelta(hours=48), NOW))
    print("attempts per hour:", attempts, sep="\n")
    assert "messaging_attempt_started_idx" in attempts and "Seq Scan" not in attempts, attempts
    oldest = plans_of(messages.oldest_unsent)
    assert len(oldest) == len(messages.UNSENT)
    assert all("messaging_message_status_idx" in plan and "Limit" in plan for plan in oldest), oldest
    counts = plans_of(messages.status_counts)
    # Every count stops at the cap; the rare states are read from the index alone.
    assert len(counts) == len(Message.Status.values) and all("Limit" in plan for plan in counts), counts
    rare = [plan for plan, status in zip(counts, Message.Status.values) if status != "sent"]
    assert all("messaging_message_status_idx" in plan for plan in rare), rare
    (overdue,) = plans_of(lambda: messages.CappedCount.of(schedule.overdue(NOW), 1000))
    assert "scheduler_occasion_due_idx" in overdue and "Limit" in overdue, overdue


def test_the_brokers_dead_letter_queue_is_counted(admin_client, settings):
    """Tasks RabbitMQ dead-lettered (redelivered too often) show next to the dead messages."""
    from birthday.celery import app
    from core.queues import DEAD_LETTER_QUEUE
    from messaging.broker import declare_topology

    assert settings.BROKER_IS_AMQP, "integration tests run against RabbitMQ"
    declare_topology(app)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_purge(DEAD_LETTER_QUEUE)
        producer = connection.Producer(channel)
        for _ in range(2):
            producer.publish({"poison": True}, routing_key=DEAD_LETTER_QUEUE, exchange="", serializer="json")
        try:
            assert admin_client.get("/admin/operations/").context["broker_dead"] == 2
        finally:
            channel.queue_purge(DEAD_LETTER_QUEUE)
