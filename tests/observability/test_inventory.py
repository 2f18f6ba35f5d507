"""observability/inventory.yaml, the monitoring contract: well formed, and, where the monitoring
plan is beside this checkout, the same facts as the plan."""

import os
import re
from pathlib import Path

import pytest

from observability import inventory
from tests.observability import plan
from tests.observability.test_metric_inventory import MOVED

ROOT = Path(__file__).resolve().parents[2]
# Beside the checkout where the plan is shared; MONITORING_PLAN names it elsewhere.
PLAN = Path(os.environ.get("MONITORING_PLAN") or ROOT.parent / "shared" / "seed" / "monitoring-plan.md")


def test_the_contract_names_every_metric_the_workload_moves():
    metrics = inventory.load().metrics
    assert len(metrics) >= 75
    assert metrics["birthday_scheduler_api_response_time_seconds"].buckets == (
        0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5)
    assert metrics["birthday_scheduler_database_connections"].labels == ("pool_name", "state")
    assert metrics["birthday_scheduler_message_processing_quantiles"].type == "summary"
    assert MOVED <= set(metrics)


def test_the_contract_is_well_formed():
    contract = inventory.load()
    for metric in contract.metrics.values():
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", metric.name), metric
        assert metric.type in {None, "counter", "gauge", "histogram", "summary"}, metric
        if metric.buckets is not None:
            assert metric.type == "histogram" and list(metric.buckets) == sorted(set(metric.buckets)), metric
        if metric.quantiles is not None:
            assert metric.type == "summary" and all(0 < q < 1 for q in metric.quantiles), metric
        if metric.labels is not None:
            assert len(set(metric.labels)) == len(metric.labels), metric
    for alert in contract.alerts.values():
        assert re.fullmatch(r"[A-Z][A-Za-z]+", alert.name), alert
        assert re.fullmatch(r"\d+[smh]", alert.for_), alert
        assert alert.severity in {"critical", "warning", "info"}, alert
        assert alert.threshold is None or re.fullmatch(r"(==|!=|>=|<=|>|<) -?[\d.]+", alert.threshold), alert
    assert all(re.fullmatch(r"[a-z_]+:[a-z_]+:\d+[smh]", name) for name in contract.recording_rules)
    assert len(contract.dashboards) == 6
    for title, panels in contract.dashboards.items():
        assert panels and len(set(panels)) == len(panels), title


def test_unknown_metric_keys_are_refused():
    raw = {"metrics": {"x_total": {"type": "counter", "lables": ["a"]}}, "alerts": {}, "recording_rules": [],
           "dashboards": {}}
    with pytest.raises(ValueError, match="lables"):
        inventory.parse(raw)


def test_the_contract_states_the_plan():
    if not PLAN.is_file():
        pytest.skip(f"no monitoring plan at {PLAN} (set MONITORING_PLAN to compare); inventory.yaml is the contract")
    text = PLAN.read_text()
    contract = inventory.load()

    written = plan.metrics(text)
    assert set(contract.metrics) == set(written)
    for name, spec in written.items():
        metric = contract.metrics[name]
        assert (metric.type, metric.labels, metric.buckets, metric.quantiles) == (
            spec.get("type"), tuple(spec["labels"]) if "labels" in spec else None,
            tuple(spec["buckets"]) if "buckets" in spec else None,
            tuple(spec["quantiles"]) if "quantiles" in spec else None), name

    alerts = plan.alerts(text)
    assert set(contract.alerts) == set(alerts)
    for name, spec in alerts.items():
        alert = contract.alerts[name]
        assert (alert.for_, alert.severity, alert.threshold) == (spec["for"], spec["severity"], spec.get("threshold")), name

    assert set(contract.recording_rules) == set(plan.recording_rules(text))

    # A panel title is the plan's bullet, or the bullet without a trailing remark in parentheses
    # ("Requests per Second (by endpoint)" is the panel "Requests per Second").
    boards = plan.dashboards(text)
    assert set(contract.dashboards) == set(boards)
    for title, bullets in boards.items():
        panels = contract.dashboards[title]
        assert len(panels) == len(bullets), title
        for panel, bullet in zip(panels, bullets):
            assert panel == bullet or bullet.startswith(panel + " ("), (title, panel, bullet)
