"""The monitoring plan's metric inventory, end to end: API (gunicorn), Celery worker and beat on
the real PostgreSQL, RabbitMQ and Redis, a workload through all of them, then every endpoint
scraped. The inventory is the repository's contract, observability/inventory.yaml."""

import re
import time
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from observability import inventory as contract
from tests.system import full_workload, start_stack, wait_deliveries_settled


pytestmark = pytest.mark.integration


# --- scraping -----------------------------------------------------------------------------------


@dataclass
class Family:
    name: str
    type: str
    samples: list = field(default_factory=list)


def family_key(name: str, kind: str | None) -> str:
    return name[: -len("_total")] if kind == "counter" and name.endswith("_total") else name


def scrape(url: str, accept: str | None = None) -> str:
    headers = {"Accept": accept} if accept else {}
    response = httpx.get(url, headers=headers, timeout=10)
    response.raise_for_status()
    return response.text


def parse(text: str) -> dict[str, Family]:
    families = {}
    for metric in text_string_to_metric_families(text):
        key = family_key(metric.name, metric.type)
        families[key] = Family(key, metric.type, list(metric.samples))
    return families


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def total(family: Family) -> float:
    """Counter total, histogram/summary observation count, or the sum of a gauge's series."""
    wanted = {"counter": ("_total",), "histogram": ("_count",), "summary": ("_count",)}.get(family.type)
    values = [s.value for s in family.samples if wanted is None or s.name.endswith(wanted)]
    return sum(v for v in values if v == v)


# Metrics the workload must have moved (non-zero). The rest must exist with the right shape;
# they move on events this workload does not cause (deadlocks, breaker trips, evictions...).
MOVED = {
    "birthday_scheduler_api_requests_total", "birthday_scheduler_api_response_time_seconds",
    "birthday_scheduler_api_request_size_bytes", "birthday_scheduler_api_response_size_bytes",
    "birthday_scheduler_messages_scheduled_total", "birthday_scheduler_messages_sent_total",
    "birthday_scheduler_messages_failed_total", "birthday_scheduler_message_delivery_duration_seconds",
    "birthday_scheduler_message_processing_quantiles", "birthday_scheduler_message_time_to_delivery_seconds",
    "birthday_scheduler_message_retry_attempts", "birthday_scheduler_message_delivery_attempts_total",
    "birthday_scheduler_users_created_total", "birthday_scheduler_users_active_total",
    "birthday_scheduler_users_by_timezone", "birthday_scheduler_user_registration_rate",
    "birthday_scheduler_database_connections", "birthday_scheduler_database_query_duration_seconds",
    "birthday_scheduler_database_transaction_duration_seconds", "birthday_scheduler_database_pool_wait_time_seconds",
    "birthday_scheduler_database_rows_affected",
    "birthday_scheduler_queue_messages_published_total", "birthday_scheduler_queue_messages_consumed_total",
    "birthday_scheduler_queue_message_processing_duration_seconds", "birthday_scheduler_queue_consumers_active",
    "birthday_scheduler_queue_prefetch_count",
    "birthday_scheduler_active_workers", "birthday_scheduler_worker_task_duration_seconds",
    "birthday_scheduler_worker_tasks_completed_total", "birthday_scheduler_worker_restarts_total",
    "birthday_scheduler_worker_idle_time_seconds", "birthday_scheduler_worker_errors_total",
    "birthday_scheduler_database_slow_queries_total",
    "birthday_scheduler_execution_duration_seconds", "birthday_scheduler_cron_job_executions_total",
    "birthday_scheduler_cron_job_last_success_timestamp", "birthday_scheduler_cron_job_messages_scheduled",
    "birthday_scheduler_scheduler_lag_seconds",
    "birthday_scheduler_external_api_requests_total", "birthday_scheduler_external_api_response_time_seconds",
    "birthday_scheduler_external_api_errors_total", "birthday_scheduler_external_api_timeouts_total",
    "birthday_scheduler_external_api_rate_limit_hits_total",
    "birthday_scheduler_rate_limit_exceeded_total", "birthday_scheduler_authentication_failures_total",
    "birthday_scheduler_authorization_denials_total", "birthday_scheduler_suspicious_activity_total",
    "birthday_scheduler_api_key_usage_total", "birthday_scheduler_csrf_violations_total",
    "birthday_scheduler_cache_hits_total", "birthday_scheduler_cache_misses_total",
    "birthday_scheduler_cache_size_bytes", "birthday_scheduler_cache_operation_duration_seconds",
    "birthday_scheduler_api_call_cost_usd", "birthday_scheduler_messages_cost_usd",
    "birthday_scheduler_cost_per_user_usd",
    "process_cpu_user_seconds_total", "process_cpu_system_seconds_total", "process_resident_memory_bytes",
    "process_heap_bytes", "nodejs_gc_duration_seconds",
    "birthday_scheduler_disk_io_bytes_total", "birthday_scheduler_network_io_bytes_total",
    "birthday_scheduler_file_descriptors_used", "birthday_scheduler_thread_count",
}


def load_inventory():
    return contract.load().metrics


def best_families(texts: dict[str, str]) -> dict[str, tuple[str, Family]]:
    """{family: (endpoint, family)}: for a family on several endpoints, the one that moved most."""
    scraped: dict[str, tuple[str, Family]] = {}
    for endpoint, text in texts.items():
        for key, family in parse(text).items():
            if family.samples and (key not in scraped or total(family) > total(scraped[key][1])):
                scraped[key] = (endpoint, family)
    return scraped


def unmoved(inventory, scraped) -> list[str]:
    return [name for name in MOVED
            if (key := family_key(name, inventory[name].type)) not in scraped or total(scraped[key][1]) <= 0]


@pytest.mark.django_db(transaction=True)
def test_every_inventory_metric_is_exposed_with_its_shape_and_moves(processes, purge_queues, tmp_path):
    from messaging.models import Message
    from devtools.vendor_simulator import VendorSimulator

    inventory = load_inventory()
    simulator = VendorSimulator(
        "127.0.0.1", 0, seed=7, error_rate=0.25, timeout_rate=0.1, rate_limit_rate=0.1,
        hang_seconds=1.0, retry_after=0.2,
    ).start()
    try:
        stack = start_stack(processes, simulator.url, tmp_path)
        full_workload(stack)
        wait_deliveries_settled()
        assert Message.objects.filter(status="sent").exists()
        assert Message.objects.filter(status="dead").exists()

        def scrape_all():
            return {name: scrape(url + "/metrics") for name, url in
                    (("api", stack.api), ("worker", stack.worker), ("beat", stack.beat))}

        # A utilisation tick and a queue refresh follow the last delivery: poll until everything
        # the workload moves has moved, or the deadline (the assertions below then say what not).
        deadline = time.monotonic() + 30
        texts = scrape_all()
        while unmoved(inventory, best_families(texts)) and time.monotonic() < deadline:
            time.sleep(0.5)
            texts = scrape_all()
    finally:
        simulator.stop()

    scraped = best_families(texts)

    problems = []
    additions = contract.load().additions
    for name, spec in {**inventory, **additions}.items():
        key = family_key(name, spec.type)
        if key not in scraped:
            problems.append(f"{name}: on no endpoint")
            continue
        endpoint, family = scraped[key]
        if spec.type and family.type != spec.type:
            problems.append(f"{name}: type {family.type} on {endpoint}, plan says {spec.type}")
        names = {label for sample in family.samples for label in sample.labels} - {"le", "quantile"}
        if spec.labels is not None and names != set(spec.labels):
            problems.append(f"{name}: labels {sorted(names)}, plan says {spec.labels}")
        if spec.buckets:
            bounds = {float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")}
            if bounds != set(spec.buckets) | {float("inf")}:
                problems.append(f"{name}: buckets {sorted(bounds)}, plan says {spec.buckets}")
        if spec.quantiles:
            quantiles = {float(s.labels["quantile"]) for s in family.samples if "quantile" in s.labels}
            if quantiles != set(spec.quantiles):
                problems.append(f"{name}: quantiles {sorted(quantiles)}, plan says {spec.quantiles}")
            if not any(s.value == s.value for s in family.samples if "quantile" in s.labels):
                problems.append(f"{name}: every quantile is NaN")
        if name in MOVED and total(family) <= 0:
            problems.append(f"{name}: did not move (on {endpoint})")
    assert not problems, "\n".join(problems)

    # Nothing measured twice, nothing unaccounted for: every family an endpoint exposes is one the
    # contract names.
    named = {family_key(name, spec.type) for name, spec in {**inventory, **additions}.items()}
    unlisted = sorted(set(scraped) - named)
    assert not unlisted, f"exposed, not in the contract: {unlisted}"

    # Route templates, never raw paths or ids.
    paths = {s.labels["path"] for s in parse(texts["api"])["birthday_scheduler_api_requests"].samples}
    assert "user/<str:id>" in paths and "unmatched" in paths
    assert not any(re.search(r"/\d+$", path) for path in paths)
