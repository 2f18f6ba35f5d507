"""Every shipped PromQL expression against a real Prometheus scraping the running system.

The system (API under gunicorn, Celery worker, beat, the vendor simulator with faults, the Celery
exporter) runs in child processes on the real PostgreSQL, RabbitMQ and Redis. Prometheus (the
Debian package) scrapes it every second under the job names and paths of
`deploy/prometheus/prometheus.local.yml`, plus RabbitMQ's own endpoint, and evaluates the real
rule files of `deploy/prometheus/rules/`. Only each group's evaluation `interval` is shortened to
1 s in a copy, so that recorded series exist within the run; expressions are untouched.

After a workload (API traffic with 4xx, auth failures, throttling, a CSRF violation; birthdays due
now, delivered through a vendor that fails, rate-limits and hangs), every expression of
`deploy/promql_inventory.py` (dashboard targets, recording and alert rules) is sent to
`/api/v1/query`, dashboard targets also to `/api/v1/query_range`:

* Parses: every query answers status "success". Grafana variables are substituted first
  (`$__rate_interval` and `$__interval` 15s, `$__range` 5m, multi-value variables ".*").
* Returns data. The metric names an expression reads are extracted (identifiers that are not
  functions, keywords or label names). Names recorded by the rule files stand for the metrics of
  their own expressions, recursively. Then:
  - every name is in Prometheus's `__name__` values: the expression must return a non-empty
    result. If it is a filter at the top level (a comparison without `bool`, or `and`, `or`,
    `unless`), as every alert condition is, a false condition is empty by design; then each
    operand that is not a number literal must return data instead (`up{...} == 0` needs `up{...}`
    to have series, `A / B * 100 > 10` needs `A / B * 100`);
  - every name is emitted but the expression holds a subquery whose resolution is longer than
    the run (`[7d:1h]`): not applicable, it needs history (subquery points sit on multiples of
    the step, so a 25 s run has none);
  - a name is missing and belongs to a source that does not run here (NOT_RUNNING: postgres,
    redis and node exporters, Kubernetes' cAdvisor, Grafana, Alertmanager, Prometheus itself):
    not applicable, counted with the reason;
  - any other missing name fails: a dashboard or rule reads a metric this system never exports.

The test prints the counts (total, parsed, returned data, not applicable by reason).
"""

import re
import time

import httpx
import pytest
import yaml

from tests.conftest import wait_until
from tests.system import free_port, full_workload, start_exporter, start_simulator, start_stack, wait_deliveries_settled

from .conftest import DEPLOY, RULES, load_module, tool

pytestmark = pytest.mark.integration

inventory = load_module(DEPLOY / "promql_inventory.py", "promql_inventory_live")

# Prometheus scrapes every second; a 15 s rate window holds ~15 samples.
VARIABLES = {"__rate_interval": "15s", "__interval": "15s", "__range": "5m", "datname": ".*", "job": ".*"}
SCRAPE_SECONDS = 25

# Metric prefixes of sources this environment does not run, and why.
NOT_RUNNING = {
    "pg_": "postgres-exporter does not run here",
    "redis_": "redis-exporter does not run here",
    "node_": "node-exporter does not run here",
    "container_": "cAdvisor (Kubernetes kubelet) does not run here",
    "grafana_": "Grafana does not run here",
    "alertmanager_": "Alertmanager does not run here",
    "prometheus_": "this Prometheus scrapes only the system, not itself",
    # Prometheus writes ALERTS itself, and only while an alert is pending or firing.
    "ALERTS": "no alert is pending or firing at this moment",
    # Created on the first denial (its labels are routes): the API answers 403 only to a CSRF
    # failure, which csrf_violations counts instead, so no workload here can produce one.
    "birthday_scheduler_authorization_denials_total": "no API route denies authorization (403) to the workload",
}

KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+\w+", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if m.group(0) in KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue
        names.add(m.group(0))
    return names


def _top_level(expr: str):
    """(position, text) of every character outside brackets and strings."""
    depth, quote, i = 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            yield i
        i += 1


def _unwrap(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and _balanced_inside(expr):
        expr = expr[1:-1].strip()
    return expr


def _balanced_inside(expr: str) -> bool:
    # "(a) / (b)" starts and ends with brackets that are not a pair.
    depth = 0
    for i, c in enumerate(expr):
        depth += c == "("
        depth -= c == ")"
        if depth == 0 and i < len(expr) - 1:
            return False
    return True


def _split(expr: str, pattern: str) -> list[str] | None:
    positions = set(_top_level(expr))
    for m in re.finditer(pattern, expr):
        if m.start() in positions:
            # Matching modifiers belong to the operator, not to the right-hand operand.
            right = re.sub(r"^\s*((on|ignoring)\s*\([^)]*\))?\s*((group_left|group_right)\s*(\([^)]*\))?)?", "",
                           expr[m.end():])
            return [expr[: m.start()], right]
    return None


def operands(expr: str) -> list[str]:
    """The operands of a top-level filter, recursively, without constants (`0`, `14.4 * 0.001`); [expr] when
    the expression is not a filter. Set operators bind loosest (or, then and/unless), then
    comparisons; a comparison with `bool` is a value, not a filter."""
    expr = _unwrap(expr)
    for pattern in (r"\bor\b", r"\b(and|unless)\b", r"(==|!=|>=|<=|>|<)(?![=\s]*bool\b)"):
        parts = _split(expr, pattern)
        if parts:
            return [o for part in parts for o in operands(part) if metric_names(o)]
    return [expr]


def is_filter(expr: str) -> bool:
    return operands(expr) != [_unwrap(expr)]


SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def longest_subquery_step(expr: str) -> float:
    """The coarsest resolution of the expression's subqueries (`[7d:1h]`: 3600), in seconds.
    Subquery points sit on multiples of the step, so a coarse one has none in a short run."""
    steps = [sum(float(n) * SECONDS[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", step))
             for step in re.findall(r"\[[^\]:]+:([^\]]+)\]", expr)]
    return max(steps, default=0.0)


def recorded_sources(rules) -> dict[str, set[str]]:
    """{recorded name: the metric names its expression reads}."""
    return {q.where.split(" / ")[-1]: metric_names(q.expr) for q in rules if q.kind == "record"}


def base_metrics(names: set[str], recorded: dict[str, set[str]]) -> set[str]:
    out = set()
    for name in names:
        out |= base_metrics(recorded[name], recorded) if name in recorded else {name}
    return out


# --- Prometheus ---------------------------------------------------------------------------------


def write_config(tmp_path, targets: dict[str, str]):
    """prometheus.yml with the local config's jobs (names and paths) for the given targets, and a
    copy of every rule file whose groups are evaluated every second."""
    local = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.local.yml").read_text())
    jobs = []
    for job in local["scrape_configs"]:
        if job["job_name"] in targets:
            jobs.append(dict(job, scrape_timeout="1s", static_configs=[{"targets": [targets[job["job_name"]]]}]))
            if job["job_name"] == "celery-exporter":
                # Its /metrics waits for two broadcasts to the workers (1 s reply window each).
                jobs[-1].update(scrape_interval="5s", scrape_timeout="4s")
    assert {j["job_name"] for j in jobs} == set(targets)
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in sorted(RULES.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
        (rules / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
              "rule_files": [str(p) for p in sorted(rules.glob("*.yml"))], "scrape_configs": jobs}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Prometheus:
    def __init__(self, url):
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)

    def get(self, path, **params):
        response = self.client.get(path, params=params)
        return response.status_code, response.json()

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)

    def ready(self):
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False


def has_data(answer) -> bool:
    data = answer["data"]
    return data["resultType"] in ("scalar", "string") or bool(data["result"])


def test_the_classifier_reads_metric_names_and_filter_operands():
    expr = ('(sum(rate(x_total{status=~"5.."}[5m])) or vector(0)) / sum by (le) (rate(y_bucket[5m])) * 100 > 10\n'
            'and on (job) up{job!="api"} == 0')
    assert metric_names(expr) == {"x_total", "y_bucket", "up"}
    assert [o.strip() for o in operands(expr)] == [
        '(sum(rate(x_total{status=~"5.."}[5m])) or vector(0)) / sum by (le) (rate(y_bucket[5m])) * 100',
        'up{job!="api"}']
    assert operands("a > (14.4 * 0.001) or b > bool 3") == ["a", "b > bool 3"]
    assert not is_filter("max(q) > bool 1000") and not is_filter("(a) / (b)")
    assert base_metrics({"r:one", "z"}, {"r:one": {"r:two"}, "r:two": {"w"}}) == {"w", "z"}
    assert longest_subquery_step("avg_over_time(rate(u[1h])[7d:1h])") == 3600


@pytest.mark.django_db(transaction=True)
def test_every_dashboard_and_rule_query_parses_and_returns_data(processes, purge_queues, tmp_path):
    simulator = start_simulator(processes, "--error-rate", "0.2", "--rate-limit-rate", "0.05",
                                "--timeout-rate", "0.05", "--hang-seconds", "1")
    stack = start_stack(processes, simulator, tmp_path, extra_env={"VENDOR_READ_TIMEOUT_SECONDS": "0.5"})
    exporter = start_exporter(processes)

    targets = {"birthday-scheduler-api": stack.api, "birthday-scheduler-worker": stack.worker,
               "birthday-beat": stack.beat, "celery-exporter": exporter}
    targets = {job: url.removeprefix("http://") for job, url in targets.items()}
    targets["rabbitmq-exporter"] = "127.0.0.1:15692"
    config = write_config(tmp_path, targets)
    port = free_port()
    processes.start([tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"], "prometheus")
    prom = Prometheus(f"http://127.0.0.1:{port}")
    wait_until(prom.ready, timeout=30, message="Prometheus ready")
    started = time.time()

    full_workload(stack)
    wait_deliveries_settled()
    # Traffic until the end of the window, so that short rate windows see movement too.
    while time.time() - started < SCRAPE_SECONDS:
        httpx.get(stack.api + "/healthz", timeout=5)
        httpx.get(stack.api + "/no/such/route", timeout=5)
        time.sleep(0.5)

    _, answer = prom.get("/api/v1/targets")
    health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in answer["data"]["activeTargets"]}
    assert health == {job: ("up", "") for job in targets}, health

    # Every rule of the real files loaded and evaluates without error.
    _, answer = prom.get("/api/v1/rules")
    loaded = [r for g in answer["data"]["groups"] for r in g["rules"]]
    queries = inventory.inventory()
    rules = [q for q in queries if q.kind != "dashboard"]
    assert len(loaded) == len(rules)
    assert [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"] == []

    _, answer = prom.get("/api/v1/label/__name__/values")
    emitted = set(answer["data"])
    recorded = recorded_sources(rules)

    parse_errors, no_data, unknown, not_applicable, na = [], [], [], {}, 0
    with_data = {"dashboard": 0, "record": 0, "alert": 0}
    for q in queries:
        expr = inventory.expand(q.expr, VARIABLES)
        left = re.findall(r"\$\{?(?!\d)\w+", expr)
        assert not left, f"{q.where}: unsubstituted variables {left}"
        _, answer = prom.query(expr)
        if answer.get("status") != "success":
            parse_errors.append(f"{q.where}: {answer.get('error')}")
            continue
        if q.kind == "dashboard":
            _, ranged = prom.get("/api/v1/query_range", query=expr, start=started, end=time.time(), step=1)
            if ranged.get("status") != "success":
                parse_errors.append(f"{q.where} (range): {ranged.get('error')}")
                continue
        missing = base_metrics(metric_names(expr), recorded) - emitted
        if missing:
            reasons = {next((why for prefix, why in NOT_RUNNING.items() if name.startswith(prefix)), None)
                       for name in missing}
            if None in reasons:
                unknown.append(f"{q.where}: reads {sorted(missing)}, which nothing here exports")
            else:
                na += 1
                for why in reasons:
                    not_applicable.setdefault(why, []).append(q.where)
            continue
        if has_data(answer):
            with_data[q.kind] += 1
            continue
        parts = operands(expr) if is_filter(expr) else []
        empty = [p for p in parts if not has_data(prom.query(p)[1])]
        if parts and not empty:
            with_data[q.kind] += 1
        elif longest_subquery_step(expr) > time.time() - started:
            na += 1
            not_applicable.setdefault("a subquery's resolution is longer than the run: it needs history", []).append(q.where)
        else:
            no_data.append(f"{q.where}: {expr!r} is empty" + (f" (operands {empty})" if empty else ""))

    kinds = {k: sum(q.kind == k for q in queries) for k in with_data}
    print(f"\n{len(queries)} expressions: {len(queries) - len(parse_errors)} parsed, {sum(with_data.values())} returned data ("
          + ", ".join(f"{with_data[k]} of {kinds[k]} {k}" for k in kinds) + f"), {na} not applicable:")
    for why, where in sorted(not_applicable.items()):
        print(f"  {len(where):3} {why}: " + "; ".join(where))
    assert not parse_errors + unknown + no_data, "\n".join(parse_errors + unknown + no_data)
    assert sum(with_data.values()) + na == len(queries)
