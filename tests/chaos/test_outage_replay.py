"""A day-long outage: the service stops, the clock moves on 24 hours, the service returns.

Every occasion that fell due while it was down is sent once it is back, within a bound;
occasions older than the catch-up window are marked `expired`, counted, and never sent.
Children see the later clock through CLOCK_OFFSET_SECONDS; this process builds the state
the service left behind with `core.clock.frozen`.
"""

import datetime
import time

import pytest

from messaging.models import Message
from core import calendar, clock
from scheduler.models import Occasion
from tests.conftest import wait_until
from tests.factories import make_user
from tests.support import FAST, due_within, duplicates, spread_zones

from .conftest import SUMMARY
from .private_services import free_port
from .test_chaos import scrape

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

OUTAGE = datetime.timedelta(hours=24)
SEND_HOUR = 9
CATCH_UP_WINDOW_HOURS = 72
DUE_DURING_OUTAGE = 360
STALE = 40
# Generous: measured about 10 s for 360 messages on two shared cores (docs/reliability.md).
REPLAY_BOUND_SECONDS = 60


def test_everything_due_during_a_24_hour_outage_is_sent_when_the_service_returns(
        simulator, purge_queues, processes, settings, tmp_path):
    settings.SEND_HOUR = SEND_HOUR
    went_down = clock.now()
    comes_back = went_down + OUTAGE
    # A zone whose clocks change that day may have no SEND_HOUR in a 24-hour window.
    zones = [z for z in spread_zones(120) if due_within(z, went_down, comes_back, SEND_HOUR)]

    # The moment the service went down: each user's next birthday falls inside the outage.
    due_during = []
    with clock.frozen(went_down):
        for i in range(DUE_DURING_OUTAGE):
            zone = zones[i % len(zones)]
            local_date = due_within(zone, went_down, comes_back, SEND_HOUR)
            due_during.append(make_user(birthday=local_date.replace(year=1960 + 4 * (i % 10)), timezone=zone))
    # Occasion rows four days old when the service returns (say, restored from an old backup):
    # far beyond the catch-up window, so sending them now would be a birthday wish days late.
    four_days_before = comes_back - datetime.timedelta(days=4)
    stale_window_end = four_days_before + datetime.timedelta(hours=23)
    stale_zones = [z for z in zones if due_within(z, four_days_before, stale_window_end, SEND_HOUR)]
    stale = []
    with clock.frozen(four_days_before):
        for i in range(STALE):
            zone = stale_zones[i % len(stale_zones)]
            local_date = due_within(zone, four_days_before, stale_window_end, SEND_HOUR)
            stale.append(make_user(birthday=local_date.replace(year=1980), timezone=zone))

    occasions = {o.user_id: o.due_at for o in Occasion.objects.all()}
    assert all(went_down < occasions[u.id] <= comes_back for u in due_during)
    window_floor = comes_back - datetime.timedelta(hours=CATCH_UP_WINDOW_HOURS)
    assert all(occasions[u.id] < window_floor for u in stale)
    assert len({u.timezone for u in due_during}) >= 100

    env = dict(FAST, SEND_HOUR=str(SEND_HOUR), CATCH_UP_WINDOW_HOURS=str(CATCH_UP_WINDOW_HOURS),
               CLOCK_OFFSET_SECONDS=str(OUTAGE.total_seconds()))
    metrics_ports = [free_port(), free_port()]
    returned = time.monotonic()
    processes.beat(extra_env=dict(env, BEAT_METRICS_PORT=str(free_port())))
    for i, port in enumerate(metrics_ports):
        processes.worker(extra_env=dict(env, WORKER_METRICS_PORT=str(port),
                                        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"metrics-{i}")))

    wait_until(lambda: Message.objects.filter(status="sent").count() == DUE_DURING_OUTAGE,
               timeout=REPLAY_BOUND_SECONDS, interval=0.25, message="the outage's messages sent")
    replay_seconds = time.monotonic() - returned
    # The expired count operators see: the tick ran in a worker; sum both workers' counters.
    expired_counted = sum(scrape(port)["birthday_scheduler_messages_failed_total"] for port in metrics_ports)
    processes.stop_all()  # with the workers and beat gone, no late duplicate can still arrive

    accepted = simulator.accepted()
    assert duplicates(accepted) == {"by_key": {}, "by_content": {}}
    assert {(a["email"], a["message"]) for a in accepted} == {
        (u.email, f"Hey, {u.first_name} {u.last_name} it's your birthday") for u in due_during}
    sent = Message.objects.filter(status="sent")
    assert {str(k) for k in sent.values_list("idempotency_key", flat=True)} == {a["idempotency_key"] for a in accepted}
    for message in sent.select_related("user"):
        assert message.occasion_date == calendar.local_today(message.user.timezone, message.due_at)
    expired = Message.objects.filter(status="expired")
    assert set(expired.values_list("user_id", flat=True)) == {u.id for u in stale}
    assert not expired.filter(attempts__gt=0).exists()
    assert Message.objects.count() == DUE_DURING_OUTAGE + STALE
    assert expired_counted == STALE

    SUMMARY.append(f"outage replay: {DUE_DURING_OUTAGE} messages due during a 24 h outage sent "
                   f"{replay_seconds:.1f}s after the service returned; {STALE} expired")

