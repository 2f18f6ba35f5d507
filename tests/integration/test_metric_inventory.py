"""The monitoring plan's metric inventory, end to end: API (gunicorn), Celery worker and beat on
the real PostgreSQL, RabbitMQ and Redis, a workload through all of them, then every endpoint
scraped. The inventory is read from the plan itself, not copied here."""

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.system import full_workload, start_stack, wait_deliveries_settled

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT.parent / "shared/seed/monitoring-plan.md"

pytestmark = pytest.mark.integration


# --- the plan -----------------------------------------------------------------------------------


@dataclass
class Spec:
    name: str
    type: str | None = None
    labels: list[str] | None = None
    buckets: list[float] | None = None
    quantiles: list[float] | None = None


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def _entries(section: str) -> dict[str, Spec]:
    specs: dict[str, Spec] = {}
    current = None
    for line in section.splitlines():
        found = re.match(r"^- ([a-z][a-z0-9_]+)\s*(?:\((\w+)\))?\s*$", line.strip())
        if found:
            current = specs.setdefault(found.group(1), Spec(found.group(1)))
            if found.group(2):
                current.type = found.group(2).lower()
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Type:"):
            current.type = stripped.split(":", 1)[1].strip().lower()
        elif stripped.startswith("Labels:"):
            raw = re.sub(r"\([^)]*\)", "", stripped.split(":", 1)[1])
            current.labels = [label.strip() for label in raw.split(",") if label.strip()]
        elif stripped.startswith("Buckets:"):
            current.buckets = [float(v) for v in re.findall(r"[\d.]+", stripped.split(":", 1)[1])]
        elif stripped.startswith("Percentiles:"):
            current.quantiles = [float(v) for v in re.findall(r"[\d.]+", stripped.split(":", 1)[1])]
    return specs


def load_inventory(path: Path = PLAN) -> dict[str, Spec]:
    """Every metric named in "Complete Metrics Inventory"; details a bare name lacks there come
    from the plan's "Currently Monitored Metrics" section."""
    text = path.read_text()
    inventory = _entries(_section(text, "## Complete Metrics Inventory", "## Missing Metrics Analysis"))
    current = _entries(_section(text, "### ✅ Currently Monitored Metrics", "### 🔴 Current Gaps"))
    for name, spec in inventory.items():
        known = current.get(name)
        if known:
            spec.type = spec.type or known.type
            spec.labels = spec.labels if spec.labels is not None else known.labels
            spec.buckets = spec.buckets or known.buckets
            spec.quantiles = spec.quantiles or known.quantiles
        if spec.type is None and name.endswith("_total"):
            spec.type = "counter"
        if spec.labels is None and spec.type is not None:
            spec.labels = []
    return inventory


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


def test_inventory_is_read_from_the_plan():
    inventory = load_inventory()
    assert len(inventory) >= 75
    assert inventory["birthday_scheduler_api_response_time_seconds"].buckets == [
        0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5]
    assert inventory["birthday_scheduler_database_connections"].labels == ["pool_name", "state"]
    assert inventory["birthday_scheduler_message_processing_quantiles"].type == "summary"
    assert MOVED <= set(inventory)


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
        time.sleep(6)  # one utilisation tick and one queue refresh after the last delivery

        texts = {name: scrape(url + "/metrics") for name, url in
                 (("api", stack.api), ("worker", stack.worker), ("beat", stack.beat))}
        openmetrics = "application/openmetrics-text; version=1.0.0"
        exemplar_texts = {"api": scrape(stack.api + "/metrics", openmetrics),
                          "worker": scrape(stack.worker + "/metrics", openmetrics)}
    finally:
        simulator.stop()

    scraped: dict[str, tuple[str, Family]] = {}
    for endpoint, text in texts.items():
        for key, family in parse(text).items():
            if family.samples and (key not in scraped or total(family) > total(scraped[key][1])):
                scraped[key] = (endpoint, family)

    problems = []
    for name, spec in inventory.items():
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

    # Route templates, never raw paths or ids.
    paths = {s.labels["path"] for s in parse(texts["api"])["birthday_scheduler_api_requests"].samples}
    assert "user/<str:id>" in paths and "unmatched" in paths
    assert not any(re.search(r"/\d+$", path) for path in paths)

    # Traced requests and deliveries leave their trace id on the latency histograms, across
    # processes (gunicorn workers, pool processes).
    exemplar = re.compile(r'^(\w+)_bucket\{[^}]*\} \S+ # \{trace_id="[0-9a-f]{32}"\}', re.MULTILINE)
    assert "birthday_scheduler_api_response_time_seconds" in exemplar.findall(exemplar_texts["api"])
    assert "birthday_scheduler_message_delivery_duration_seconds" in exemplar.findall(exemplar_texts["worker"])
    assert "# {" not in texts["api"]  # the classic text format carries none
