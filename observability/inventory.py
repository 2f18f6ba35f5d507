"""The monitoring contract (inventory.yaml beside this module): metric names, types, labels and
buckets; alert names, thresholds and `for` durations; recording rules; dashboard and panel titles.
Tests, generators and code read it from here instead of from the monitoring plan's prose."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

PATH = Path(__file__).with_name("inventory.yaml")


@dataclass(frozen=True)
class Metric:
    name: str
    type: str | None = None  # None where the plan names a metric without saying its type
    labels: tuple[str, ...] | None = None
    buckets: tuple[float, ...] | None = None
    quantiles: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Alert:
    name: str
    for_: str
    severity: str
    threshold: str | None = None  # the expression's final comparison, e.g. "> 10"


@dataclass(frozen=True)
class Deviation:
    """A plan alert this repository deliberately ships otherwise (replaced or rebuilt)."""
    alert: str
    replacement: str  # the alert that ships instead (the same name when rebuilt)
    reason: str


@dataclass(frozen=True)
class Inventory:
    metrics: dict[str, Metric]
    alerts: dict[str, Alert]
    recording_rules: tuple[str, ...]
    dashboards: dict[str, tuple[str, ...]]
    deviations: dict[str, Deviation] = None
    # Series the plan's inventory does not list but its alerts, the alerts rebuilt in their
    # place, or standard panels read; and the project's own additions (webhooks).
    additions: dict[str, Metric] = None


def _tuple(values):
    return None if values is None else tuple(values)


def _metrics(raw: dict) -> dict[str, Metric]:
    metrics = {}
    for name, spec in raw.items():
        spec = spec or {}
        unknown = set(spec) - {"type", "labels", "buckets", "quantiles"}
        if unknown:
            raise ValueError(f"{name}: unknown keys {sorted(unknown)}")
        metrics[name] = Metric(name, spec.get("type"), _tuple(spec.get("labels")),
                               _tuple(spec.get("buckets")), _tuple(spec.get("quantiles")))
    return metrics


def parse(raw: dict) -> Inventory:
    metrics = _metrics(raw["metrics"])
    alerts = {name: Alert(name, spec["for"], spec["severity"], spec.get("threshold"))
              for name, spec in raw["alerts"].items()}
    dashboards = {title: tuple(panels) for title, panels in raw["dashboards"].items()}
    deviations = {name: Deviation(name, spec["replacement"], spec["reason"])
                  for name, spec in (raw.get("deviations") or {}).items()}
    additions = _metrics((raw.get("project_additions") or {}).get("metrics") or {})
    return Inventory(metrics, alerts, tuple(raw["recording_rules"]), dashboards, deviations, additions)


@functools.cache
def load(path: Path = PATH) -> Inventory:
    return parse(yaml.safe_load(Path(path).read_text()))
