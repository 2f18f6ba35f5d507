"""Exemplars (the trace that produced an observation) for the request- and delivery-latency
histograms, also in multiprocess mode, where prometheus_client keeps none.

Each process writes the latest exemplar per (metric, labels, bucket) to its own small JSON file
in the multiprocess directory (`exemplars_<pid>.json`, replaced atomically); at scrape time
`ExemplarMultiProcessCollector` attaches, per bucket, the newest exemplar found in any file to
the aggregated histogram. Exemplars only show in the OpenMetrics format
(`Accept: application/openmetrics-text`). Without a multiprocess directory the client's own
exemplar support is used.
"""

from __future__ import annotations

import glob
import json
import math
import os
import threading
import time

from opentelemetry import trace
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

from . import multiproc

_lock = threading.Lock()
_latest: dict[str, list] = {}
_last_flush = [0.0]
# The file is rewritten at most this often per process; the newest exemplar wins anyway.
FLUSH_INTERVAL_SECONDS = 0.5


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x")


def _bucket_for(value: float, upper_bounds) -> str:
    for bound in upper_bounds:
        if value <= bound:
            return floatToGoString(bound)
    return "+Inf"


def _key(metric: str, labels: dict[str, str], le: str) -> str:
    return json.dumps([metric, sorted(labels.items()), le])


def observe(histogram, labels: dict[str, str], value: float) -> None:
    """Observe `value` on `histogram.labels(**labels)`, with the current trace as exemplar."""
    child = histogram.labels(**labels)
    trace_id = current_trace_id()
    if trace_id is None:
        child.observe(value)
        return
    directory = multiproc.active_dir()
    if directory is None:
        child.observe(value, exemplar={"trace_id": trace_id})
        return
    child.observe(value)
    le = _bucket_for(value, histogram._upper_bounds)
    with _lock:
        now = time.time()
        _latest[_key(histogram._name, labels, le)] = [trace_id, value, now]
        if now - _last_flush[0] < FLUSH_INTERVAL_SECONDS:
            return
        _last_flush[0] = now
        _write(directory, dict(_latest))


def _write(directory: str, entries: dict) -> None:
    path = os.path.join(directory, f"exemplars_{os.getpid()}.json")
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w") as handle:
            json.dump(entries, handle)
        os.replace(temporary, path)
    except OSError:
        pass  # a lost exemplar must never fail a request or a delivery


def forget_process_state() -> None:
    """After a fork: the child's exemplars go to its own file, not a copy of the parent's."""
    with _lock:
        _latest.clear()
        _last_flush[0] = 0.0


def read_all(directory: str) -> dict[str, list]:
    """The newest exemplar per bucket across every process's file."""
    newest: dict[str, list] = {}
    for path in glob.glob(os.path.join(directory, "exemplars_*.json")):
        try:
            with open(path) as handle:
                entries = json.load(handle)
        except (OSError, ValueError):
            continue
        for key, entry in entries.items():
            if key not in newest or entry[2] > newest[key][2]:
                newest[key] = entry
    return newest


class ExemplarMultiProcessCollector(MultiProcessCollector):
    """MultiProcessCollector whose histogram buckets carry the stored exemplars."""

    def __init__(self, registry, path=None):
        self._exemplar_dir = path or multiproc.active_dir()
        super().__init__(registry, path)

    def collect(self):
        stored = read_all(self._exemplar_dir)
        for metric in super().collect():
            if metric.type == "histogram" and stored:
                metric.samples = [self._with_exemplar(metric.name, sample, stored) for sample in metric.samples]
            yield metric

    @staticmethod
    def _with_exemplar(name: str, sample: Sample, stored: dict) -> Sample:
        if not sample.name.endswith("_bucket") or "le" not in sample.labels:
            return sample
        labels = {k: v for k, v in sample.labels.items() if k != "le"}
        entry = stored.get(_key(name, labels, sample.labels["le"]))
        if entry is None or not math.isfinite(entry[1]):
            return sample
        exemplar = Exemplar({"trace_id": entry[0]}, entry[1], entry[2])
        return Sample(sample.name, sample.labels, sample.value, sample.timestamp, exemplar)
