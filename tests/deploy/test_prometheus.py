"""Prometheus configuration, rules and the promtool unit tests of every alert."""

import concurrent.futures
import os
import re
import subprocess

import pytest
import yaml

from observability import inventory as contract

from .conftest import DEPLOY, PROMTOOL_TESTS, RULES, alert_rules, kebab, tool

# The plan's alerts, thresholds, durations and recording rules (observability/inventory.yaml).
PLAN_ALERTS = {name: (alert.for_, alert.severity) for name, alert in contract.load().alerts.items()}
# Plan alerts this repository deliberately ships otherwise (inventory.yaml's deviations).
DEVIATIONS = {name: (d.replacement, d.reason) for name, d in contract.load().deviations.items()}
PLAN_RECORDINGS = set(contract.load().recording_rules)


def run(*cmd, cwd=None):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.integration  # runs promtool
def test_static_configs_are_valid():
    promtool = tool("promtool")
    for name in ("prometheus.yml", "prometheus.local.yml"):
        r = run(promtool, "check", "config", str(DEPLOY / "prometheus" / name))
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration  # runs promtool
def test_kubernetes_config_is_valid(tmp_path):
    # Debian builds promtool without Kubernetes service discovery, so the SD blocks are checked
    # here for shape and swapped for static targets before promtool checks everything else.
    promtool = tool("promtool")
    source = DEPLOY / "prometheus" / "prometheus.k8s.yml"
    config = yaml.safe_load(source.read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for job in ("birthday-scheduler-api", "birthday-scheduler-worker", "birthday-beat"):
        sd = jobs[job]["kubernetes_sd_configs"]
        assert sd == [{"role": "pod", "namespaces": {"names": ["birthday-scheduler"]}}]
        keep = [r for r in jobs[job]["relabel_configs"] if r.get("action") == "keep"]
        assert keep and keep[0]["source_labels"] == ["__meta_kubernetes_pod_label_app"]
    assert jobs["node-exporter"]["kubernetes_sd_configs"] == [{"role": "node"}]

    def strip(block):
        if "kubernetes_sd_configs" in block:
            del block["kubernetes_sd_configs"]
            block["static_configs"] = [{"targets": ["placeholder:1"]}]
    for job in config["scrape_configs"]:
        strip(job)
    for am in config["alerting"]["alertmanagers"]:
        strip(am)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "rules").symlink_to(RULES)
    r = run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_variant_scrapes_every_component():
    wanted = {"birthday-scheduler-api", "birthday-scheduler-worker", "birthday-beat", "celery-exporter",
              "postgres-exporter", "redis-exporter", "rabbitmq-exporter", "node-exporter"}
    for name in ("prometheus.yml", "prometheus.local.yml", "prometheus.k8s.yml"):
        config = yaml.safe_load((DEPLOY / "prometheus" / name).read_text())
        jobs = {j["job_name"] for j in config["scrape_configs"]}
        assert wanted <= jobs, (name, wanted - jobs)
    local = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.local.yml").read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in local["scrape_configs"]}
    assert targets["birthday-scheduler-api"] == "127.0.0.1:8000"
    assert targets["birthday-scheduler-worker"] == "127.0.0.1:9101"
    assert targets["birthday-beat"] == "127.0.0.1:9102"
    assert targets["celery-exporter"] == "127.0.0.1:9808"
    assert targets["rabbitmq-exporter"] == "127.0.0.1:15692"


@pytest.mark.integration  # runs promtool
def test_rule_files_are_valid():
    r = run(tool("promtool"), "check", "rules", *map(str, sorted(RULES.glob("*.yml"))))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration  # runs promtool
@pytest.mark.timeout(1200)  # the threshold files replay up to a week of series
def test_promtool_unit_tests_pass():
    files = sorted(p.name for p in PROMTOOL_TESTS.glob("*.test.yml"))
    assert files
    promtool = tool("promtool")
    # One promtool per file, side by side: the threshold files replay hours of series.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda name: subprocess.run([promtool, "test", "rules", name], capture_output=True,
                                                            text=True, cwd=PROMTOOL_TESTS, timeout=900), files))
    failed = [r.stdout + r.stderr for r in results if r.returncode != 0]
    assert not failed, "\n".join(failed)


def test_plan_alerts_keep_their_thresholds_durations_and_severities():
    rules = alert_rules()
    for name, (for_, severity) in PLAN_ALERTS.items():
        if name in DEVIATIONS and DEVIATIONS[name][0] != name:
            replacement, why = DEVIATIONS[name]
            assert name not in rules and replacement in rules and why, name
            continue
        assert rules[name]["for"] == for_, name
        assert rules[name]["labels"]["severity"] == severity, name
    for name, alert in contract.load().alerts.items():
        if alert.threshold and name not in DEVIATIONS:
            assert re.search(re.escape(alert.threshold) + r"(?![\d.])", rules[name]["expr"]), (name, alert.threshold)
    assert "> 10" in rules["HighErrorRate"]["expr"] and "> 5" in rules["ElevatedErrorRate"]["expr"]
    assert "> 5000" in rules["QueueDepthCritical"]["expr"] and "> 1000" in rules["QueueDepthHigh"]["expr"]
    assert "< 99.5" in rules["LowMessageSuccessRate"]["expr"] and "> 7200" in rules["SchedulerNotExecuting"]["expr"]


def test_plan_recording_rules_exist():
    records = {r["record"] for p in RULES.glob("*.yml") for g in yaml.safe_load(p.read_text())["groups"]
               for r in g["rules"] if "record" in r}
    assert PLAN_RECORDINGS <= records


def test_every_slo_has_page_and_ticket_burn_rate_alerts_with_the_workbook_windows():
    rules = alert_rules()
    for slo in ("Availability", "LatencyP95", "LatencyP99", "DeliverySuccess", "QueueHealth"):
        page, ticket = rules[f"SLO{slo}BurnRatePage"], rules[f"SLO{slo}BurnRateTicket"]
        assert page["labels"]["severity"] == "critical" and ticket["labels"]["severity"] == "warning"
        for window, factor in (("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")):
            assert f"ratio_rate{window} > ({factor} *" in page["expr"], (slo, window)
        for window, factor in (("1d", "(3 *"), ("2h", "(3 *")):
            assert f"ratio_rate{window} > {factor}" in ticket["expr"], (slo, window)
        assert "ratio_rate3d > 0" in ticket["expr"] and "ratio_rate6h > 0" in ticket["expr"]


def test_every_alert_points_at_its_runbook_and_the_file_exists():
    rules = alert_rules()
    assert len(rules) >= 17 + 10 + 4
    for name, rule in rules.items():
        path = f"deploy/runbooks/{kebab(name)}.md"
        assert rule["annotations"]["runbook"] == path, name
        text = (DEPLOY.parent / path).read_text()
        assert text.startswith(f"# Alert: {name}\n"), name
        for section in ("## Severity", "## Description", "## Impact", "## Diagnosis", "## Resolution",
                        "## Escalation", "## Prevention", "## Related"):
            assert section in text, (name, section)
    orphans = {p.stem for p in (DEPLOY / "runbooks").glob("*.md")} - {kebab(n) for n in rules}
    assert not orphans


def test_every_alert_has_firing_and_silent_promtool_cases():
    fires, silent = {}, {}
    for path in PROMTOOL_TESTS.glob("*.test.yml"):
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                target = fires if case["exp_alerts"] else silent
                target.setdefault(case["alertname"], []).append(path.name)
    names = set(alert_rules())
    assert names - set(fires) == set(), "alerts never shown firing"
    assert names - set(silent) == set(), "alerts never shown silent"
    assert set(fires) | set(silent) <= names, "tests for alerts that do not exist"
