"""Quantiles for the plan's Summary, which prometheus_client does not compute (and could not
merge across processes if it did).

`_count` and `_sum` are an ordinary prometheus_client Summary (file-backed in multiprocess mode,
so nothing is lost when a process dies). The quantiles are computed at scrape time over a
sliding window (the last WINDOW_SECONDS, at most KEEP observations per label value per process)
of the raw observations. In multiprocess mode each process keeps its window in
`summary_<pid>.json` in the multiprocess directory, rewritten at most every FLUSH seconds and on
exit; the scraping process merges every file. A crash loses at most the last FLUSH seconds of
window samples, never counts.
"""

from __future__ import annotations

import atexit
import glob
import json
import math
import os
import threading
import time
from collections import deque

from prometheus_client.samples import Sample

from . import multiproc
from .definitions import MESSAGE_PROCESSING

WINDOW_SECONDS = 600.0
KEEP = 1000
FLUSH = 0.5
QUANTILES = (0.5, 0.9, 0.95, 0.99)


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return sorted_values[lower]
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


class WindowSummary:
    def __init__(self, summary, label_name: str, quantiles=QUANTILES, window=WINDOW_SECONDS, keep=KEEP):
        self.summary = summary
        self.name = summary._name
        self.label_name = label_name
        self.quantiles = quantiles
        self.window = window
        self.keep = keep
        self._lock = threading.Lock()
        self._recent: dict[str, deque] = {}
        self._last_flush = 0.0
        self._dirty = False
        atexit.register(self.flush)

    def observe(self, label_value: str, value: float) -> None:
        self.summary.labels(label_value).observe(value)
        now = time.time()
        with self._lock:
            ring = self._recent.setdefault(label_value, deque(maxlen=self.keep))
            ring.append((now, value))
            self._dirty = True
            if now - self._last_flush >= FLUSH:
                self._flush_locked(now)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked(time.time())

    def forget_process_state(self) -> None:
        """After a fork: the child's window starts empty and goes to its own file."""
        with self._lock:
            self._recent = {}
            self._last_flush = 0.0
            self._dirty = False

    def _flush_locked(self, now: float) -> None:
        directory = multiproc.active_dir()
        if directory is None or not self._dirty:
            return
        self._last_flush = now
        self._dirty = False
        path = os.path.join(directory, f"summary_{os.getpid()}.json")
        payload = {label: list(ring) for label, ring in self._recent.items()}
        try:
            with open(f"{path}.tmp", "w") as handle:
                json.dump({self.name: payload}, handle)
            os.replace(f"{path}.tmp", path)
        except OSError:
            pass  # the window is an estimate; a failed write must not fail a delivery

    def _windows(self) -> dict[str, list[float]]:
        merged: dict[str, list[tuple[float, float]]] = {}
        directory = multiproc.active_dir()
        if directory is None:
            with self._lock:
                for label, ring in self._recent.items():
                    merged.setdefault(label, []).extend(ring)
        else:
            self.flush()
            for path in glob.glob(os.path.join(directory, "summary_*.json")):
                try:
                    with open(path) as handle:
                        data = json.load(handle).get(self.name, {})
                except (OSError, ValueError):
                    continue
                for label, pairs in data.items():
                    merged.setdefault(label, []).extend(pairs)
        floor = time.time() - self.window
        return {label: sorted(v for t, v in pairs if t >= floor) for label, pairs in merged.items()}

    def quantile_samples(self) -> list[Sample]:
        samples = []
        for label, values in sorted(self._windows().items()):
            for q in self.quantiles:
                samples.append(Sample(self.name, {self.label_name: label, "quantile": str(q)}, quantile(values, q)))
        return samples


PROCESSING = WindowSummary(MESSAGE_PROCESSING, "message_type")
