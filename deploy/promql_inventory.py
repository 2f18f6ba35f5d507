"""Every PromQL expression this repository ships: dashboard targets and rule expressions (and,
apart, the LogQL of the dashboards' log panels).

A live test evaluates each one against a real Prometheus; offline tests use it to parse them all.

    from deploy.promql_inventory import inventory       # or load this file by path
    for q in inventory(): print(q.source, q.where, q.expr)
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent

# Values Grafana would substitute; the "All" choice of a multi-value variable is ".*".
GRAFANA_VARIABLES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "datname": ".*",
    "job": ".*",
}


@dataclass(frozen=True)
class Query:
    kind: str     # "dashboard", "record" or "alert"
    source: str   # path relative to deploy/
    where: str    # dashboard title / panel title / refId, or the rule's group and name
    expr: str     # as written
    evaluable: str  # with Grafana variables substituted, ready to send to Prometheus


def expand(expr, variables=None):
    values = GRAFANA_VARIABLES if variables is None else variables

    def sub(m):
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, expr)


def _is_loki(panel, target):
    return (target.get("datasource") or panel.get("datasource") or {}).get("type") == "loki"


def _dashboard_targets(directory, kind, loki):
    out = []
    for path in sorted(Path(directory).glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board.get("panels", []):
            for t in panel.get("targets", []):
                if t.get("expr") and _is_loki(panel, t) == loki:
                    out.append(Query(kind, str(path.relative_to(DEPLOY)), f"{board['title']} / {panel['title']} / {t['refId']}",
                                     t["expr"], t["expr"] if loki else expand(t["expr"])))
    return out


def dashboard_queries(directory=DEPLOY / "grafana" / "dashboards"):
    """PromQL targets of every dashboard (log panels' LogQL is in logql_queries)."""
    return _dashboard_targets(directory, "dashboard", loki=False)


def logql_queries(directory=DEPLOY / "grafana" / "dashboards"):
    """LogQL targets of the log panels: Loki evaluates these, not Prometheus."""
    return _dashboard_targets(directory, "logql", loki=True)


def rule_queries(directory=DEPLOY / "prometheus" / "rules"):
    out = []
    for path in sorted(Path(directory).glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                kind = "alert" if "alert" in rule else "record"
                out.append(Query(kind, str(path.relative_to(DEPLOY)), f"{group['name']} / {rule[kind]}",
                                 rule["expr"], rule["expr"]))
    return out


def inventory():
    return dashboard_queries() + rule_queries()


if __name__ == "__main__":
    for q in inventory():
        print(f"{q.kind:9} {q.source:45} {q.where}")
