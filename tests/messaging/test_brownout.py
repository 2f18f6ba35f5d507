"""A vendor brown-out below any count budget: 80% of calls answer 5xx for a few seconds (the
breaker opens), or 40% (below the breaker's ratio, at default settings), then the vendor
recovers. At the default MAX_DELIVERY_ATTEMPTS every message is sent exactly once and none is
dead (issue 12: the old count budget of 8 killed a share of them).

In-process delivery rounds on real PostgreSQL, RabbitMQ and Redis against the simulator. The
first test shortens the backoff and the breaker's periods so the fault is seconds, not minutes;
the second runs every delivery setting at its default. BROWNOUT_ERROR_RATE and BROWNOUT_SECONDS
(environment) set the second one's fault for the long runs of docs/reliability.md, e.g.
`BROWNOUT_ERROR_RATE=0.95 BROWNOUT_SECONDS=180 TEST_PROCESSES=0 bin/test
tests/messaging/test_brownout.py -k default -s` (1.0 is a full outage).
"""

import datetime
import os
import time

import pytest

from core import clock
from messaging import delivery, outbox
from messaging.models import Message
from scheduler import services
from tests.conftest import wait_until
from tests.factories import make_user
from tests.queues import drain_task_args

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

USERS = 40
FAULT_SECONDS = float(os.environ.get("BROWNOUT_SECONDS", "12"))
ERROR_RATE = float(os.environ.get("BROWNOUT_ERROR_RATE", "0.4"))


def deliver_round() -> bool:
    """One dispatcher pass and every task it published, delivered here; True once nothing is
    left unsent."""
    outbox.dispatch_ready()
    for batch in drain_task_args():
        delivery.deliver_batch(batch)
    return not Message.objects.exclude(status__in=Message.TERMINAL).exists()


def run_brownout(simulator, settings, error_rate: float, fault_seconds: float) -> None:
    """USERS birthdays due now; the vendor fails `error_rate` of calls for `fault_seconds`, then
    recovers. Every message must end sent exactly once, none dead."""
    today = clock.now().date()
    for _ in range(USERS):
        make_user(birthday=today.replace(year=1990), now=clock.now() - datetime.timedelta(days=1))
    simulator.configure(error_rate=error_rate)
    services.run_tick()
    started = time.monotonic()
    fault_ends = started + fault_seconds
    wait_until(lambda: deliver_round() or time.monotonic() >= fault_ends, timeout=fault_seconds + 30,
               interval=0.05, message="the brown-out's end")
    during, faulty_seconds = simulator.stats(), time.monotonic() - started
    simulator.configure(error_rate=0.0)
    # After the fault a message waits out at most one backoff ceiling (and the breaker's open period).
    recovery = 60 + settings.RETRY_BACKOFF_MAX_SECONDS + settings.CIRCUIT_OPEN_SECONDS
    wait_until(deliver_round, timeout=recovery, interval=0.1, message="every message delivered after recovery")
    recovered = time.monotonic() - started - faulty_seconds

    total = simulator.stats()
    max_attempts = max(Message.objects.values_list("attempts", flat=True))
    # The figures docs/reliability.md quotes (shown with -s).
    print(f"brownout {error_rate:.0%} for up to {fault_seconds:.0f}s, {USERS} messages: {during['accepted']} sent "
          f"during the fault's first {faulty_seconds:.0f}s with {during['requests']} calls "
          f"({during['requests'] / faulty_seconds:.1f}/s); {total['requests']} calls in all; the rest sent "
          f"{recovered:.0f}s after the vendor recovered; at most {max_attempts} attempts for one message")
    statuses = list(Message.objects.values_list("status", flat=True))
    assert statuses.count("sent") == USERS and "dead" not in statuses
    accepted = simulator.accepted()
    assert len(accepted) == USERS == len({a["idempotency_key"] for a in accepted})
    # The fault was real: calls during it failed.
    assert during["requests"] > during["accepted"]


def test_a_brownout_ends_with_every_message_sent_once_and_none_dead(simulator, purge_queues, settings):
    """Above the breaker's ratio (it opens and closes again), on a time scale of seconds."""
    settings.SEND_HOUR = 0
    settings.RETRY_BACKOFF_BASE_SECONDS = 0.05
    settings.RETRY_BACKOFF_MAX_SECONDS = 0.5
    settings.CIRCUIT_WINDOW_SECONDS = 2
    settings.CIRCUIT_OPEN_SECONDS = 1
    run_brownout(simulator, settings, 0.8, 6)


@pytest.mark.chaos
@pytest.mark.timeout(FAULT_SECONDS + 900)
def test_a_brownout_at_default_settings_loses_nothing(simulator, purge_queues, settings):
    """The case that killed messages (issue 12): by default 40% of calls failing, too sparse to
    open the breaker (its ratio is 0.5), so each failure spends a retry. Every delivery setting
    at its default (only the send hour moved to now): the retry budget is the catch-up window,
    so none ends dead."""
    settings.SEND_HOUR = 0
    assert settings.MAX_DELIVERY_ATTEMPTS == 0 and settings.CIRCUIT_FAILURE_RATIO == 0.5
    run_brownout(simulator, settings, ERROR_RATE, FAULT_SECONDS)
