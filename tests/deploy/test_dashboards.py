"""Grafana dashboards: generated, committed, complete, and every query parses."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from observability import inventory as contract

from .conftest import DEPLOY, load_module, tool

generate = load_module(DEPLOY / "grafana" / "generate.py", "grafana_generate")
inventory = load_module(DEPLOY / "promql_inventory.py", "promql_inventory")

# The plan's six dashboards and their panel titles (observability/inventory.yaml).
PLAN_PANELS = {title: list(panels) for title, panels in contract.load().dashboards.items()}
# Panels the project adds to a plan dashboard, after the plan's own.
PROJECT_PANELS = yaml.safe_load(contract.PATH.read_text()).get("project_additions", {}).get("dashboards", {})


NEW_DASHBOARDS = {"SLOs and Error Budgets", "Security", "Cost"}
# Promtail's labels (deploy/promtail/promtail-config.yaml) and the services that log.
LOKI_LABELS = {"level", "service", "environment"}
SERVICES = {"birthday-api", "birthday-worker", "birthday-beat"}


def boards():
    return {b["title"]: b for b in (json.loads(p.read_text()) for p in (DEPLOY / "grafana" / "dashboards").glob("*.json"))}


@pytest.mark.integration  # runs the generator and promtool
def test_committed_json_is_the_generators_output():
    expected = generate.render()
    committed = {p.name: p.read_text() for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")}
    assert committed == expected, "run: python deploy/grafana/generate.py"
    r = subprocess.run([sys.executable, str(DEPLOY / "grafana" / "generate.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_six_dashboards_have_every_plan_panel():
    found = boards()
    assert set(found) == set(PLAN_PANELS) | NEW_DASHBOARDS
    for title, panels in PLAN_PANELS.items():
        # Log panels sit beside the plan's metrics panels they explain, in a row of their own.
        have = [p["title"] for p in found[title]["panels"] if p["type"] not in ("row", "logs")]
        assert have == panels + PROJECT_PANELS.get(title, []), title


def test_the_slo_dashboard_shows_budget_left_and_burn_rate_for_every_slo():
    board = boards()["SLOs and Error Budgets"]
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    records = {r["record"] for p in (DEPLOY / "prometheus" / "rules").glob("*.yml")
               for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "record" in r}
    for key in ("availability", "latency_p95", "latency_p99", "delivery", "queue"):
        budget = f"birthday_scheduler:slo_{key}_error_budget_remaining:ratio30d"
        assert budget in records and any(budget in e for e in exprs), key
        for window in ("5m", "1h", "6h", "3d"):
            assert any(f"slo_{key}_errors:ratio_rate{window} / " in e for e in exprs), (key, window)


def test_log_panels_query_loki_by_promtails_labels():
    queries = inventory.logql_queries()
    assert {q.where.split(" / ")[0] for q in queries} >= {"API Performance", "Message Processing", "Security",
                                                         "SLOs and Error Budgets"}
    # Loki is not run by the tests; LogQL is checked here for what would make a panel empty or
    # invalid: a stream selector first, only the labels Promtail sets, services that exist,
    # balanced quotes and braces, line filters after the selector.
    for q in queries:
        m = re.fullmatch(r'\{([^}]*)\}((?:\s*(?:\|=|!=|\|~|!~)\s*"(?:[^"\\]|\\.)*")*)', q.expr)
        assert m, q.where
        for label, op, value in re.findall(r'(\w+)\s*(=~|!~|=|!=)\s*"([^"]*)"', m.group(1)):
            assert label in LOKI_LABELS, (q.where, label)
            if label == "service":
                assert set(value.split("|")) <= SERVICES, (q.where, value)
            if op in ("=~", "!~"):
                re.compile(value)
        for pattern in re.findall(r'\|~\s*"((?:[^"\\]|\\.)*)"', m.group(2)):
            re.compile(pattern)


def test_plan_queries_and_thresholds_are_used():
    found = boards()
    panels = {(b, p["title"]): p for b, board in found.items() for p in board["panels"]}
    success = panels[("Executive Overview", "Success Rate %")]
    steps = success["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [(None, "red"), (90, "yellow"), (95, "green")]
    assert success["fieldConfig"]["defaults"]["unit"] == "percent"
    uptime = panels[("Executive Overview", "API Uptime %")]["targets"][0]["expr"]
    assert uptime == 'avg(up{job="birthday-scheduler-api"}) * 100'
    rps = panels[("API Performance", "Requests per Second")]["targets"][0]["expr"]
    assert rps == "sum(rate(birthday_scheduler_api_requests_total[1m])) by (path)"


def test_dashboards_link_runbooks_and_traces_and_use_provisioned_datasources():
    provisioned = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text())
    uids = {d["uid"]: d["type"] for d in provisioned["datasources"]}
    assert uids == {"prometheus": "prometheus", "loki": "loki", "jaeger": "jaeger"}
    runbooks = {p.stem for p in (DEPLOY / "runbooks").glob("*.md")}
    for title, board in boards().items():
        urls = [link["url"] for p in board["panels"] for link in p.get("links", [])]
        assert any("/search?service=" in u for u in urls) or title == "Executive Overview" and any("jaeger" in u for u in urls) \
            or any(link["title"].startswith("Traces") for link in board["links"]), title
        for u in urls:
            if u.startswith("${runbook_base}/"):
                assert u.removeprefix("${runbook_base}/").removesuffix(".md") in runbooks, u
        for p in board["panels"]:
            if p["type"] not in ("row", "alertlist"):
                assert p["datasource"]["uid"] in uids, (title, p["title"])


@pytest.mark.integration  # runs the generator and promtool
def test_inventory_finds_every_query_and_all_of_them_parse(tmp_path):
    queries = inventory.inventory()
    kinds = {}
    for q in queries:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    targets = sum(len(p.get("targets", [])) for b in boards().values() for p in b["panels"] if p["type"] != "logs")
    assert kinds == {"dashboard": targets, "alert": 32, "record": 45}
    # Only label_replace's capture-group references ($1, ${1}) may keep a dollar sign.
    unexpanded = [q.evaluable for q in queries if "$" in re.sub(r"\$\{?\d", "", q.evaluable)]
    assert not unexpanded
    # promtool parses PromQL when checking rules, so every query becomes a throwaway recording rule.
    rules = [{"record": f"inventory:q{i}", "expr": q.evaluable} for i, q in enumerate(queries)]
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "inventory", "rules": rules}]}))
    r = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
