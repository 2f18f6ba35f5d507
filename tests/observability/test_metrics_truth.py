"""Each figure means what its name says (issue 15): zeros before the first event, deliveries
behind schedule, the connection pool's own figures, the population gauges, cost per user, the
breaker read at scrape time, host-wide figures exported once, rejected unknown tasks."""

import datetime
import subprocess
import sys
import threading
import time
import types

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.db.models import Count
from prometheus_client import REGISTRY, generate_latest

from messaging.models import Message
from observability.metrics import cost, users
from observability.metrics.exposition import registry_for
from core import clock
from scheduler.models import Occasion
from scheduler.services import run_tick
from tests.conftest import wait_until
from tests.factories import make_user

pytestmark = pytest.mark.integration


def value(name, labels=None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def text_of(service: str) -> str:
    return generate_latest(registry_for(service)).decode()


def test_failure_counters_are_at_zero_before_the_first_failure():
    # A process of its own: in this one, other tests have already counted failures.
    code = ("from prometheus_client import generate_latest;"
            "from observability.metrics import initial;"
            "from observability.metrics.exposition import registry_for;"
            "initial.initialise('api');"
            "print(generate_latest(registry_for('api')).decode())")
    text = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=django_settings.BASE_DIR,
                          capture_output=True, text=True, check=True, timeout=60).stdout
    for line in (
        'birthday_scheduler_messages_failed_total{error_type="rejected",message_type="birthday",retry_count="9"} 0.0',
        'birthday_scheduler_messages_failed_total{error_type="expired",message_type="anniversary",retry_count="0"} 0.0',
        'birthday_scheduler_external_api_errors_total{error_type="invalid_response",vendor="email-service"} 0.0',
        'birthday_scheduler_api_requests_total{method="POST",path="user",status="500"} 0.0',
        'birthday_scheduler_messages_due_total{message_type="anniversary"} 0.0',
        # The webhook worker publishes its retries to its own queue; the series was missing until then.
        'birthday_scheduler_queue_messages_published_total{queue_name="webhooks"} 0.0',
    ):
        assert line in text, line


def test_worker_error_types_are_a_known_set_started_at_zero():
    from observability.metrics import initial

    initial.worker("node@test")
    for error_type in initial.TASK_ERROR_TYPES:
        assert REGISTRY.get_sample_value("birthday_scheduler_worker_errors_total",
                                         {"worker_id": "node@test", "error_type": error_type}) == 0.0


@pytest.mark.django_db(transaction=True)
def test_a_materialised_message_counts_as_due(settings):
    settings.SEND_HOUR = 0
    now = clock.now()
    make_user(birthday=now.date().replace(year=1990), timezone="UTC", now=now - datetime.timedelta(days=1))
    before = value("birthday_scheduler_messages_due_total", {"message_type": "birthday"})
    run_tick(now=now + datetime.timedelta(minutes=1))
    assert value("birthday_scheduler_messages_due_total", {"message_type": "birthday"}) == before + 1


@pytest.mark.django_db(transaction=True)
def test_overdue_counts_unfinished_messages_and_unmaterialised_occasions(settings):
    from observability.metrics import overdue

    settings.OVERDUE_AFTER_SECONDS = 600
    now = clock.now()
    late, recent = now - datetime.timedelta(minutes=20), now - datetime.timedelta(minutes=2)
    user = make_user()
    other = make_user()
    Message.objects.create(user=user, kind="birthday", occasion_date=late.date(), due_at=late, status="retry")
    Message.objects.create(user=other, kind="birthday", occasion_date=late.date(), due_at=late, status="sent",
                           sent_at=now)
    Message.objects.create(user=user, kind="birthday", occasion_date=recent.date() - datetime.timedelta(days=400),
                           due_at=recent, status="pending")
    Occasion.objects.filter(user=other, kind="birthday").update(due_at=late)  # the tick has not run
    assert overdue.counts(now) == {"birthday": 2, "anniversary": 0}
    overdue.refresh(now)
    assert value("birthday_scheduler_messages_overdue", {"message_type": "birthday"}) == 2


@pytest.mark.django_db
def test_overdue_queries_are_index_range_scans():
    from observability.metrics import overdue

    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    cutoff = clock.now()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty table would otherwise be scanned
    plans = [query.values("kind").annotate(n=Count("id")).order_by().explain() for query in (overdue.overdue_messages(cutoff), overdue.overdue_occasions(cutoff))]
    assert "messaging_message_status_idx" in plans[0], plans[0]
    assert "scheduler_occasion_due_idx" in plans[1], plans[1]
    assert not any("Seq Scan" in plan for plan in plans), plans


@pytest.mark.django_db(transaction=True)
def test_active_users_have_an_occasion_due_within_the_window(settings):
    settings.USERS_ACTIVE_WINDOW_DAYS = 30
    now = clock.now()
    soon, later = make_user(), make_user()
    Occasion.objects.filter(user=soon).update(due_at=now + datetime.timedelta(days=5))
    Occasion.objects.filter(user=later).update(due_at=now + datetime.timedelta(days=200))
    users.refresh_population(now)
    assert value("birthday_scheduler_users_active_total", {"message_type": "birthday"}) == 1
    assert value("birthday_scheduler_users_inactive_total") == 1


@pytest.mark.django_db(transaction=True)
def test_active_users_are_counted_by_an_index_range():
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    now = clock.now()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    try:
        plan = Occasion.objects.filter(due_at__gte=now, due_at__lt=now + datetime.timedelta(days=30)) \
            .values("user_id").distinct().explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    assert "scheduler_occasion_due_idx" in plan and "Seq Scan" not in plan, plan


@pytest.mark.django_db
def test_cost_per_user_includes_the_infrastructure(settings):
    settings.INFRA_COST_COMPUTE_USD_HOURLY = 1.0
    settings.INFRA_COST_DATABASE_USD_HOURLY = 0.5
    settings.INFRA_COST_QUEUE_USD_HOURLY = 0.0
    # No messages at all: the month's infrastructure (1.5 USD/h * 24 * 30) over 10 users.
    assert cost.trailing_cost_per_user(clock.now(), 10) == pytest.approx(108.0)


@pytest.mark.django_db(transaction=True)
def test_the_breaker_gauge_follows_the_state_machine_without_traffic(settings):
    from messaging.circuit_breaker import vendor_breaker

    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    settings.CIRCUIT_OPEN_SECONDS = 1
    breaker = vendor_breaker()
    breaker.reset()
    try:
        breaker.record(successes=0, failures=1)
        state = 'birthday_scheduler_external_api_circuit_breaker_state{vendor="email-service"} '
        assert state + "1.0" in text_of("worker")
        assert 'birthday_scheduler_circuit_breaker_open{service_name="email-service"} 1.0' in text_of("worker")
        # No call moves it: the open period ends and the next scrape says half-open.
        wait_until(lambda: state + "2.0" in text_of("worker"), timeout=10, message="half-open at scrape time")
        assert 'birthday_scheduler_circuit_breaker_open{service_name="email-service"} 0.0' in text_of("worker")
    finally:
        breaker.reset()


@pytest.mark.django_db(transaction=True)
def test_host_wide_network_bytes_are_exported_by_beat_only():
    assert "birthday_scheduler_network_io_bytes_total" not in text_of("api")
    assert "birthday_scheduler_network_io_bytes_total" not in text_of("worker")
    assert 'birthday_scheduler_network_io_bytes_total{direction="in"}' in text_of("beat")


def test_an_unknown_task_counts_as_rejected():
    from celery import signals

    from observability.metrics import workers

    workers.node.queues = frozenset({"deliveries"})
    labels = {"queue_name": "deliveries", "status": "reject"}
    before = value("birthday_scheduler_queue_messages_consumed_total", labels)
    message = types.SimpleNamespace(delivery_info={"routing_key": "deliveries"})
    signals.task_unknown.send(sender=None, message=message, exc=KeyError("x"), name="no.such.task", id="1")
    assert value("birthday_scheduler_queue_messages_consumed_total", labels) == before + 1


@pytest.mark.django_db(transaction=True)
def test_pool_wait_is_the_wait_for_a_free_connection(settings):
    pool = connection.pool
    if pool is None:
        pytest.skip("the pool is PostgreSQL's")
    release = threading.Event()
    started = []

    def hold():
        connections["default"].ensure_connection()
        started.append(1)
        release.wait(30)
        connections["default"].close()

    holders = [threading.Thread(target=hold) for _ in range(pool.max_size)]
    for thread in holders:
        thread.start()
    connection.close()  # this thread's connection goes back, so the holders get all of them
    wait_until(lambda: len(started) == pool.max_size, timeout=30, message="every connection lent out")
    assert value("birthday_scheduler_database_connections", {"pool_name": "default", "state": "active"}) \
        == pool.max_size
    assert value("birthday_scheduler_database_pool_size", {"pool_name": "default"}) == pool.max_size
    waited_before = value("birthday_scheduler_database_pool_wait_time_seconds_sum")

    def wait_for_one():
        connections["default"].ensure_connection()
        connections["default"].close()

    waiter = threading.Thread(target=wait_for_one)
    waiter.start()
    wait_until(lambda: pool.get_stats().get("requests_waiting", 0) == 1, timeout=10, message="a request waits")
    seen_waiting = time.perf_counter()
    assert value("birthday_scheduler_database_pool_requests_waiting", {"pool_name": "default"}) in (0, 1)
    release.set()
    released = time.perf_counter()
    waiter.join(30)
    for thread in holders:
        thread.join(30)
    # At least the time it was seen waiting: the wait for a free connection, not an open.
    assert value("birthday_scheduler_database_pool_wait_time_seconds_sum") - waited_before >= released - seen_waiting
    assert value("birthday_scheduler_database_connections", {"pool_name": "default", "state": "active"}) == 0


@pytest.mark.django_db(transaction=True)
def test_beat_scrapes_give_their_connection_back_to_the_pool():
    pool = connection.pool
    if pool is None:
        pytest.skip("the pool is PostgreSQL's")
    connection.close()

    def scrape_in_a_new_thread():  # as the metrics server does, one thread per request
        thread = threading.Thread(target=lambda: text_of("beat"))
        thread.start()
        thread.join(60)

    for _ in range(pool.max_size + 2):
        from observability.metrics import fleet

        fleet._last_run.clear()  # every refresher queries on every scrape
        scrape_in_a_new_thread()
    stats = pool.get_stats()
    assert stats["pool_size"] - stats["pool_available"] == 0, stats


def test_api_key_usage_counts_the_requests_a_token_authenticated(db):
    """By the token's id; a request DRF answered before authenticating (an Accept header it
    cannot satisfy) authenticated nothing and counts nothing, and still gets its 406."""
    from django.test import Client

    from apiauth import services as token_services

    token, raw = token_services.create_token("usage-count")
    sample = {"key_id": str(token.id)}

    def used() -> float:
        return REGISTRY.get_sample_value("birthday_scheduler_api_key_usage_total", sample) or 0.0

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    before = used()
    assert client.get("/user").status_code == 200
    assert client.get("/user/999999999").status_code == 404
    assert used() == before + 2
    assert client.get("/user", HTTP_ACCEPT="text/html").status_code == 406
    assert used() == before + 2
