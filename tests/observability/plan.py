"""Reads the monitoring plan (markdown, outside this repository) into the shape of
observability/inventory.yaml, for the one test that compares the two where the plan is present."""
import re
from pathlib import Path

import yaml


def _section(text, start, end):
    return text[text.index(start): text.index(end, text.index(start))]


def _metric_entries(section):
    specs = {}
    current = None
    for line in section.splitlines():
        found = re.match(r"^- ([a-z][a-z0-9_]+)\s*(?:\((\w+)\))?\s*$", line.strip())
        if found:
            current = specs.setdefault(found.group(1), {})
            if found.group(2):
                current["type"] = found.group(2).lower()
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Type:"):
            current["type"] = stripped.split(":", 1)[1].strip().lower()
        elif stripped.startswith("Labels:"):
            raw = re.sub(r"\([^)]*\)", "", stripped.split(":", 1)[1])
            current["labels"] = [label.strip() for label in raw.split(",") if label.strip()]
        elif stripped.startswith("Buckets:"):
            current["buckets"] = [_num(v) for v in re.findall(r"[\d.]+", stripped.split(":", 1)[1])]
        elif stripped.startswith("Percentiles:"):
            current["quantiles"] = [_num(v) for v in re.findall(r"[\d.]+", stripped.split(":", 1)[1])]
    return specs


def _num(raw):
    value = float(raw)
    return int(value) if value.is_integer() else value


def metrics(text):
    """Every metric of "Complete Metrics Inventory"; what a bare name lacks there comes from
    "Currently Monitored Metrics"."""
    inventory = _metric_entries(_section(text, "## Complete Metrics Inventory", "## Missing Metrics Analysis"))
    current = _metric_entries(_section(text, "### ✅ Currently Monitored Metrics", "### 🔴 Current Gaps"))
    out = {}
    for name, spec in inventory.items():
        known = current.get(name, {})
        merged = {**known, **{k: v for k, v in spec.items() if v}}
        if "labels" in spec:
            merged["labels"] = spec["labels"]
        if "type" not in merged and name.endswith("_total"):
            merged["type"] = "counter"
        if "labels" not in merged and "type" in merged:
            merged["labels"] = []
        out[name] = merged
    return out


def alerts(text):
    section = _section(text, "## Alert Rule Definitions", "### Alert Notification Routing")
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", section, re.S):
        for rule in yaml.safe_load(block) or []:
            if "alert" not in rule:
                continue
            comparisons = re.findall(r"(==|!=|>=|<=|>|<)\s*(-?[\d.]+)\s*$", rule["expr"].strip())
            entry = {"for": rule["for"], "severity": rule["labels"]["severity"]}
            if comparisons:
                op, value = comparisons[-1]
                entry["threshold"] = f"{op} {value}"
            out[rule["alert"]] = entry
    return out


def recording_rules(text):
    return sorted(set(re.findall(r"- record: (\S+)", text)))


def dashboards(text):
    """{dashboard title: [panel bullet as written]} from the six dashboard sections."""
    section = _section(text, "## Grafana Dashboard Specifications", "## Alert Rule Definitions")
    out = {}
    for title, body in re.findall(r"^### Dashboard \d+: (.+?)\n(.*?)(?=^### |\Z)", section, re.S | re.M):
        panels_part = body.split("**Panels:**", 1)[1].split("**PromQL", 1)[0]
        out[re.sub(r"\s*\([^)]*\)\s*$", "", title.strip())] = [
            m.strip() for m in re.findall(r"^\s+- (.+)$", panels_part, re.M)]
    return out
