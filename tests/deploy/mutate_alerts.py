"""Mutation check of the alert tests: does some promtool test fail when a threshold or a `for` moves?

    .venv/bin/python tests/deploy/mutate_alerts.py          # table, score; exit 1 below 100%

For every alert of deploy/prometheus/rules/, each mutant changes one thing in a copy of the rules:

* a threshold: every number that directly follows a comparison (`> 10`, `== 0`, `> (14.4 * 0.001)`:
  its first number, `> 2 * stddev_over_time(...)`: the 2). The same number compared more than once
  in one alert (a burn-rate pair's two windows) is one threshold and moves as one. It moves up and
  down by 5% of its value, or by 1 if it is an integer (an integer-valued series cannot tell
  `> 10` from `> 10.5`; `== 0` becomes `== 1` and `== -1`);
* the `for`: one evaluation interval of the promtool tests of that alert, up and down.

Then it runs `promtool test rules` on the test groups that name the alert (alertname or ALERTS
query), once per mutant, in parallel. A mutant is killed when some test fails. The unmutated rules
must pass the same tests first.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
TESTS = ROOT / "deploy" / "prometheus" / "tests"

COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*(?:bool\s+)?\(?\s*)(-?\d+(?:\.\d+)?)(?![\w.])")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Mutant:
    alert: str
    rule_file: str
    kind: str      # "threshold" or "for"
    original: str
    mutated: str


def seconds(duration: str) -> float:
    return sum(float(n) * UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", duration))


def duration(value: float) -> str:
    value = int(round(value))
    if value and value % 3600 == 0:
        return f"{value // 3600}h"
    if value and value % 60 == 0:
        return f"{value // 60}m"
    return f"{value}s"


def number(value: float) -> str:
    text = f"{value:.10g}"
    return text


def threshold_moves(literal: str) -> list[str]:
    value = float(literal)
    step = max(abs(value) * 0.05, 1.0) if re.fullmatch(r"-?\d+", literal) else abs(value) * 0.05
    return [number(value + step), number(value - step)]


class Loader(yaml.SafeLoader):
    """YAML 1.1 reads `0x10` (a promtool series: 0 eleven times) as the number 16; promtool reads
    it as the string it is. Only decimal integers are numbers here."""


Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()}
for first in "-+0123456789":
    Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(0|[1-9][0-9]*)$"), [first])


def load_tests():
    """[(file name, document)] of the promtool test files."""
    return [(p.name, yaml.load(p.read_text(), Loader=Loader)) for p in sorted(TESTS.glob("*.test.yml"))]


def names_alert(group, alert: str) -> bool:
    return names_alert_text(yaml.safe_dump(group), alert)


def tests_for(alert: str, tests) -> list[tuple[str, dict]]:
    """The test files reduced to the groups that name the alert."""
    out = []
    for name, doc in tests:
        groups = [g for g in doc["tests"] if names_alert(g, alert)]
        if groups:
            out.append((name, dict(doc, tests=groups)))
    return out


def mutants(tests) -> list[Mutant]:
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                alert = rule["alert"]
                literals = []
                for m in COMPARISON.finditer(rule["expr"]):
                    if m.group(3) not in literals:
                        literals.append(m.group(3))
                for literal in literals:
                    for moved in threshold_moves(literal):
                        out.append(Mutant(alert, path.name, "threshold", literal, moved))
                if "for" in rule:
                    step = max((seconds(doc.get("evaluation_interval", "1m")) for _, doc in tests_for(alert, tests)),
                               default=60)
                    base = seconds(rule["for"])
                    for moved in (base + step, max(base - step, 0)):
                        out.append(Mutant(alert, path.name, "for", rule["for"], duration(moved)))
    return out


def prune(doc, selected) -> None:
    """Keeps only the rules the selected tests can observe: the alerts they name, the recorded
    series they or those alerts read (transitively). Other rules cannot change a result, and
    some (a 7-day subquery) cost most of the run."""
    text = yaml.safe_dump([d for _, d in selected])
    rules = [r for g in doc["groups"] for r in g["rules"]]
    keep = {r.get("alert") for r in rules if r.get("alert") and names_alert_text(text, r["alert"])}
    needed = " ".join([text] + [r["expr"] for r in rules if r.get("alert") in keep])
    records = {r["record"]: r["expr"] for r in rules if "record" in r}
    while True:
        more = {name for name in records if name not in keep and re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", needed)}
        if not more:
            break
        keep |= more
        needed += " " + " ".join(records[name] for name in more)
    for group in doc["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert", r.get("record")) in keep]


def names_alert_text(text: str, alert: str) -> bool:
    return bool(re.search(rf"(alertname: {alert}\b)|(alertname=\\?\"{alert}\\?\")", text))


def mutate_rules(text: str, mutant: Mutant | None, selected) -> str:
    doc = yaml.safe_load(text)
    prune(doc, selected)
    if mutant is None:
        return yaml.safe_dump(doc, sort_keys=False)
    hits = 0
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") != mutant.alert:
                continue
            if mutant.kind == "for":
                rule["for"] = mutant.mutated
                hits += 1
            else:
                def swap(m):
                    nonlocal hits
                    if m.group(3) != mutant.original:
                        return m.group(0)
                    hits += 1
                    return m.group(1) + m.group(2) + mutant.mutated
                rule["expr"] = COMPARISON.sub(swap, rule["expr"])
    assert hits, f"mutant changed nothing: {mutant}"
    return yaml.safe_dump(doc, sort_keys=False)


def run_promtool(promtool: str, workdir: Path, selected) -> subprocess.CompletedProcess:
    tests_dir = workdir / "tests"
    tests_dir.mkdir()
    for name, doc in selected:
        (tests_dir / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([promtool, "test", "rules", *[n for n, _ in selected]], cwd=tests_dir,
                          capture_output=True, text=True, timeout=600)


def evaluate(promtool: str, mutant: Mutant | None, alert: str, selected, scratch: Path):
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    rules = workdir / "rules"
    rules.mkdir()
    for path in RULES.glob("*.yml"):
        (rules / path.name).write_text(mutate_rules(path.read_text(), mutant if mutant and path.name == mutant.rule_file
                                                    else None, selected))
    started = time.monotonic()
    result = run_promtool(promtool, workdir, selected)
    shutil.rmtree(workdir, ignore_errors=True)
    return result, time.monotonic() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--alert", action="append", help="only these alerts (repeatable)")
    args = parser.parse_args(argv)
    promtool = shutil.which("promtool")
    if promtool is None:
        print("promtool is not installed (Debian: prometheus)", file=sys.stderr)
        return 2
    started = time.monotonic()
    tests = load_tests()
    todo = [m for m in mutants(tests) if not args.alert or m.alert in args.alert]
    alerts = sorted({m.alert for m in todo})
    selected = {a: tests_for(a, tests) for a in alerts}
    untested = [a for a in alerts if not selected[a]]
    with tempfile.TemporaryDirectory() as scratch, concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        baseline = {a: pool.submit(evaluate, promtool, None, a, selected[a], Path(scratch)) for a in alerts if selected[a]}
        broken = {a: f.result()[0] for a, f in baseline.items() if f.result()[0].returncode != 0}
        futures = [(m, pool.submit(evaluate, promtool, m, m.alert, selected[m.alert], Path(scratch)))
                   for m in todo if selected[m.alert] and m.alert not in broken]
        results = [(m, *f.result()) for m, f in futures]
    rows = []
    for m, result, took in results:
        rows.append((m.alert, m.kind, f"{m.original} -> {m.mutated}", "killed" if result.returncode else "SURVIVED",
                     f"{took:.1f}s"))
    for m in todo:
        if not selected[m.alert]:
            rows.append((m.alert, m.kind, f"{m.original} -> {m.mutated}", "SURVIVED (no test)", "-"))
        elif m.alert in broken:
            rows.append((m.alert, m.kind, f"{m.original} -> {m.mutated}", "SURVIVED (tests fail unmutated)", "-"))
    rows.sort()
    header = ("alert", "mutates", "change", "result", "promtool")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    killed = sum(r[3] == "killed" for r in rows)
    for alert, result in broken.items():
        print(f"\n{alert}: the unmutated rules fail its tests:\n{result.stdout}{result.stderr}")
    if untested:
        print("\nalerts without tests: " + ", ".join(untested))
    score = 100.0 * killed / len(rows) if rows else 0.0
    print(f"\n{len(alerts)} alerts, {len(rows)} mutants, {killed} killed: mutation score {score:.1f}% "
          f"({time.monotonic() - started:.1f} s, {args.jobs} in parallel)")
    return 0 if rows and killed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
