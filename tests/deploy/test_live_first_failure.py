"""The first failure is seen (issue 15 item 1): a real Prometheus scrapes the worker, which
exports its failure counters at 0 from the start; one vendor rejection then makes `increase()`
over the scrapes around it 1, not 0 (a series born at 1 has no earlier sample to compare)."""

import datetime

import pytest

from tests.conftest import wait_until
from tests.system import free_port, start_simulator, start_stack

from .conftest import tool
from .test_live_prometheus import Prometheus, write_config

pytestmark = pytest.mark.integration

REJECTED = {"message_type": "birthday", "error_type": "rejected", "retry_count": "0"}
SERIES = 'birthday_scheduler_messages_failed_total{message_type="birthday",error_type="rejected",retry_count="0"}'


def scalar(prom: Prometheus, expr: str) -> float | None:
    _, answer = prom.query(expr)
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.django_db(transaction=True)
def test_one_rejection_is_an_increase_of_one(processes, purge_queues, tmp_path, settings):
    from messaging.models import Message
    from core import calendar, clock
    from tests.factories import make_user

    simulator = start_simulator(processes)
    stack = start_stack(processes, simulator, tmp_path)
    config = write_config(tmp_path, {"birthday-scheduler-worker": stack.worker.removeprefix("http://")})
    port = free_port()
    processes.start([tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}"], "prometheus")
    prom = Prometheus(f"http://127.0.0.1:{port}")
    wait_until(prom.ready, timeout=30, message="Prometheus ready")

    # Before any failure the series exists, at 0, and Prometheus has scraped it a few times.
    wait_until(lambda: (scalar(prom, f"count_over_time({SERIES}[1m])") or 0) >= 3, timeout=30,
               message="the zero series scraped")
    assert scalar(prom, SERIES) == 0

    # The stack sends at hour 0 (tests/system.py); the occasion's due time is computed here, so the
    # same hour: due now whatever the time of day.
    settings.SEND_HOUR = 0
    # One message the vendor refuses outright (an address it rejects): rejected, no retry.
    now = clock.now()
    user = make_user(birthday=calendar.local_today("UTC", now).replace(year=1990), timezone="UTC",
                     email="not-an-address", now=now - datetime.timedelta(days=1))
    wait_until(lambda: Message.objects.filter(user=user, status="failed").exists(), timeout=40,
               message="the message rejected")
    # Every sample of the last 3 s at 1: the window below spans scrapes before and after it.
    wait_until(lambda: scalar(prom, f"min_over_time({SERIES}[3s])") == 1, timeout=30, message="the failure scraped")
    increase = scalar(prom, f"increase({SERIES}[30s])")
    # increase() extrapolates to the window's edges: one event over 1 s scrapes reads 1 to ~1.1,
    # more when a busy machine delays scrapes (1.25 seen). It rounds to 1: not 0 (a series born
    # at 1), not 2.
    assert increase is not None and round(increase) == 1, increase
    # And nothing else failed: the delivery-SLO ratio's denominator moved by that one message.
    total = scalar(prom, "sum(increase(birthday_scheduler_messages_failed_total[30s]))")
    assert total is not None and round(total) == 1, total
