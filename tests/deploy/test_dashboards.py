"""Grafana dashboards: generated, committed, complete, and every query parses."""

import json
import re
import subprocess
import sys

import yaml

from .conftest import DEPLOY, load_module, tool

generate = load_module(DEPLOY / "grafana" / "generate.py", "grafana_generate")
inventory = load_module(DEPLOY / "promql_inventory.py", "promql_inventory")

PLAN_PANELS = {
    "Executive Overview": ["Total Messages Today", "Success Rate %", "Active Users", "API Uptime %", "Messages Sent Over Time",
                           "Error Rate Trend", "Response Time P95", "Queue Depth", "Users by Timezone", "Messages by Region",
                           "System Health", "Circuit Breaker Status", "Recent Alerts"],
    "API Performance": ["Requests per Second", "Top 10 Endpoints by Traffic", "Traffic Heatmap (24h)", "Error Rate % (by endpoint)",
                        "Errors by Status Code (4xx vs 5xx)", "Error Spike Detection", "P50/P95/P99 Response Time",
                        "Latency Distribution Heatmap", "Slow Requests (>1s) Count", "Concurrent Requests",
                        "Request/Response Size Distribution", "Rate Limit Hits"],
    "Message Processing": ["Messages Scheduled (rate)", "Messages Sent (rate, by type)", "Messages Failed (rate, by error type)",
                           "Success Rate Trend", "Time to Delivery Distribution", "Delivery Latency P95", "Retry Attempt Distribution",
                           "Idempotency Skips", "Queue Depth Over Time", "Messages in DLQ", "Processing Rate vs Production Rate",
                           "Unacked Messages", "Active Workers", "Worker Utilization %", "Task Completion Rate", "Worker Errors"],
    "Database Performance": ["Active Connections", "Idle Connections", "Connection Pool Usage %", "Connection Wait Time",
                             "Query Duration P95 (by table)", "Slow Queries (>100ms)", "Queries per Second", "Rows Affected Distribution",
                             "Transaction Duration P95", "Deadlock Count", "Database Size Growth", "Cache Hit Rate",
                             "Connections by State", "Locks by Type", "Replication Lag", "Vacuum/Autovacuum Activity"],
    "Infrastructure & Resources": ["CPU Usage % (per pod)", "CPU Throttling", "Event Loop Lag", "Memory Usage (RSS)", "Heap Usage",
                                   "Garbage Collection Pauses", "Memory Leak Detection (trend)", "Queue Depth Saturation",
                                   "Connection Pool Saturation", "Disk I/O Wait Time", "Network Bandwidth Usage", "Process Restarts",
                                   "OOM Kills", "File Descriptor Exhaustion", "Thread Pool Exhaustion"],
    "External Dependencies": ["Response Time by Vendor", "Error Rate by Vendor", "Timeout Count", "Request Rate", "Circuit State",
                              "Failure Threshold Proximity", "Circuit Breaker Events", "Queue Depth Trend", "Consumer Count",
                              "Message Publish/Consume Rate", "Connection Count", "Cache Hit Rate", "Eviction Rate", "Memory Usage",
                              "Commands per Second"],
}
# Panels the project adds beyond the plan, after the plan's own.
PROJECT_PANELS = {
    "External Dependencies": ["Webhook Attempts by Outcome", "Webhook Failure Ratio", "Webhook Latency",
                              "Webhook Events Dead (24h)"],
}


def boards():
    return {b["title"]: b for b in (json.loads(p.read_text()) for p in (DEPLOY / "grafana" / "dashboards").glob("*.json"))}


def test_committed_json_is_the_generators_output():
    expected = generate.render()
    committed = {p.name: p.read_text() for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")}
    assert committed == expected, "run: python deploy/grafana/generate.py"
    r = subprocess.run([sys.executable, str(DEPLOY / "grafana" / "generate.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_six_dashboards_have_every_plan_panel():
    found = boards()
    assert set(found) == set(PLAN_PANELS)
    for title, panels in PLAN_PANELS.items():
        have = [p["title"] for p in found[title]["panels"] if p["type"] != "row"]
        assert have == panels + PROJECT_PANELS.get(title, []), title


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


def test_inventory_finds_every_query_and_all_of_them_parse(tmp_path):
    queries = inventory.inventory()
    kinds = {}
    for q in queries:
        kinds[q.kind] = kinds.get(q.kind, 0) + 1
    targets = sum(len(p.get("targets", [])) for b in boards().values() for p in b["panels"])
    assert kinds == {"dashboard": targets, "alert": 32, "record": 40}
    # Only label_replace's capture-group references ($1, ${1}) may keep a dollar sign.
    unexpanded = [q.evaluable for q in queries if "$" in re.sub(r"\$\{?\d", "", q.evaluable)]
    assert not unexpanded
    # promtool parses PromQL when checking rules, so every query becomes a throwaway recording rule.
    rules = [{"record": f"inventory:q{i}", "expr": q.evaluable} for i, q in enumerate(queries)]
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "inventory", "rules": rules}]}))
    r = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
