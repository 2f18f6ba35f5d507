"""Series counts stay bounded by the code, not by the data: 10,000 users in 400 time zones, many
distinct ids in URLs, and every endpoint stays under a fixed bound (docs/metrics.md)."""

import datetime
import zoneinfo

import httpx
import pytest

from tests.conftest import wait_until
from tests.observability.test_metric_inventory import parse, scrape, series_count
from tests.system import start_stack

pytestmark = pytest.mark.integration

USERS = 10_000
ZONES = 400
DUE_NOW = 600
# Per endpoint. The largest data-driven families are bounded by the IANA zone list (~600):
# messages_scheduled{timezone} on the worker, users_by_timezone on beat.
BOUNDS = {"api": 800, "worker": 1500, "beat": 1000}


@pytest.mark.django_db(transaction=True)
def test_series_stay_bounded_with_many_users_and_zones(processes, purge_queues, tmp_path):
    from django.db.models import Count

    from apiauth import services as tokens
    from messaging.models import Message
    from devtools.vendor_simulator import VendorSimulator
    from core import calendar
    from scheduler.models import Occasion
    from users.models import User

    zones = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})[:ZONES]
    now = datetime.datetime.now(datetime.UTC)

    def birthday(i: int) -> datetime.date:
        if i < DUE_NOW:  # today, where the user lives: due now (SEND_HOUR is 0 in the services)
            today = now.astimezone(zoneinfo.ZoneInfo(zones[i % ZONES])).date()
            return today.replace(year=1992)
        return datetime.date(1990, 1, 1) + datetime.timedelta(days=i % 365)

    users = User.objects.bulk_create(
        [User(first_name="Many", last_name=str(i), email=f"many{i}@example.com",
              birthday=birthday(i), timezone=zones[i % ZONES]) for i in range(USERS)],
        batch_size=2000,
    )
    occasions = []
    for i, user in enumerate(users):
        local_date = birthday(i).replace(year=now.year) if i < DUE_NOW else now.date() + datetime.timedelta(days=30)
        due_at = calendar.due_instant(local_date, user.timezone, 0) if i < DUE_NOW else now + datetime.timedelta(days=30)
        occasions.append(Occasion(user=user, kind="birthday", local_date=local_date, due_at=due_at))
    Occasion.objects.bulk_create(occasions, batch_size=2000)
    simulator = VendorSimulator("127.0.0.1", 0, seed=3, error_rate=0.05, rate_limit_rate=0.05).start()
    try:
        stack = start_stack(processes, simulator.url, tmp_path)
        _, token = tokens.create_token("cardinality")
        with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            for user in users[:35]:
                client.get(f"/user/{user.id}")
            for i in range(5):
                client.get(f"/no/such/{i}/path")
        wait_until(lambda: Message.objects.filter(status="sent").count() >= DUE_NOW * 0.8 or print(dict(Message.objects.values_list("status").annotate(n=Count("id")).order_by())),
                   timeout=40, interval=1, message="most due messages sent")
        wait_until(lambda: "users_by_timezone" in scrape(stack.beat + "/metrics"), timeout=10)
        texts = {name: scrape(url + "/metrics") for name, url in
                 (("api", stack.api), ("worker", stack.worker), ("beat", stack.beat))}
    finally:
        simulator.stop()

    counts = {name: series_count(text) for name, text in texts.items()}
    print("series per endpoint:", counts)
    for name, count in counts.items():
        assert count < BOUNDS[name], f"{name}: {count} series, bound {BOUNDS[name]}"

    # The zones did reach the metrics (the bound was tested against real spread), as labels
    # from the fixed IANA list, while ids in URLs did not.
    scheduled = parse(texts["worker"])["birthday_scheduler_messages_scheduled"]
    assert len({s.labels["timezone"] for s in scheduled.samples}) > 300
    by_zone = parse(texts["beat"])["birthday_scheduler_users_by_timezone"]
    assert len(by_zone.samples) == ZONES
    paths = {s.labels["path"] for s in parse(texts["api"])["birthday_scheduler_api_requests"].samples}
    # Route templates only (every route starts at 0 for the SLIs), never a raw path or an id.
    from django.urls import get_resolver
    from observability.metrics.http import api_routes
    from observability.metrics.labels import UNMATCHED

    templates = {template for template, _ in api_routes(get_resolver().url_patterns)} | {UNMATCHED}
    assert "user/<str:id>" in paths and paths <= templates, paths - templates
    assert not [p for p in paths if any(str(user.id) in p for user in users[:35])]
