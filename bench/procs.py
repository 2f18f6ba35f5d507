"""Child processes the benchmark starts (API, workers, beat, simulator) and their peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from core.queues import WORKER_QUEUES

ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the kernel kills the child when the process that started it dies, so a
    benchmark or test run that is itself killed leaves no worker consuming its queues."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProcessGroup:
    """Every process started here runs in its own session and is stopped by its id at the end."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.memory = MemorySampler()

    def start(self, args, name, role=None, extra_env=None, ready_text=None, timeout=90, cwd=None, clean_env=False):
        log_path = self.log_dir / f"{name}-{len(self.procs)}.log"
        log = open(log_path, "w+")
        # clean_env: the child gets `extra_env` alone (another system, none of this one's settings).
        env = dict(extra_env or {}) if clean_env else dict(self.env, **(extra_env or {}))
        proc = subprocess.Popen(args, cwd=cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_parent)
        proc.log = log  # type: ignore[attr-defined]
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        if role:
            self.memory.watch(role, proc.pid)
        if ready_text:
            self.wait_for_text(proc, ready_text, timeout)
        return proc

    def wait_for_text(self, proc, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output(proc):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.name} exited early:\n{self.output(proc)[-4000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} not ready in {timeout}s:\n{self.output(proc)[-4000:]}")

    def output(self, proc) -> str:
        proc.log.seek(0)
        return proc.log.read()

    def celery(self, kind, extra_env, **options):
        args = [sys.executable, "-m", "celery", "-A", "birthday", kind, "--loglevel=INFO"]
        if kind == "worker":
            args += ["-Q", WORKER_QUEUES, "-c", str(options["concurrency"]), "-n", f"bench-{len(self.procs)}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"]
            return self.start(args, "worker", role="worker", extra_env=extra_env, ready_text="ready.")
        args += ["-s", str(self.log_dir / f"beat-schedule-{len(self.procs)}")]
        return self.start(args, "beat", role="beat", extra_env=extra_env, ready_text="beat: Starting")

    def stop(self, proc, timeout=20.0) -> None:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        # Children of a stopped process (prefork pool, gunicorn workers) go with their session.
        _signal_group(proc, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.memory.stop()


def _signal_group(proc, sig) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tree(pids):
    out = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            out += [root, *root.children(recursive=True)]
        except psutil.Error:
            pass
    return out


def cpu_seconds(processes) -> dict[int, float]:
    """User plus system CPU seconds of each process, by pid (those that have exited are left out)."""
    cpu = {}
    for process in processes:
        try:
            times = process.cpu_times()
            cpu[process.pid] = times.user + times.system
        except psutil.Error:
            pass
    return cpu


def _cpu_by_pid(pids) -> dict[int, float]:
    return cpu_seconds(_tree(pids))


class Usage:
    """CPU seconds and peak resident memory of some process trees over one measurement:
    `with Usage(procs) as usage: ...`, then `usage.cpu_s` and `usage.peak_rss_mb` (all processes
    of the trees together). A process that exits inside the window takes its CPU with it."""

    def __init__(self, procs, interval: float = 0.2):
        self.pids = [p if isinstance(p, int) else p.pid for p in procs if p is not None]
        self.interval = interval
        self.cpu_s = 0.0
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        total = 0
        for process in _tree(self.pids):
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        self.peak_rss_mb = max(self.peak_rss_mb, total / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "Usage":
        self._start = _cpu_by_pid(self.pids)
        self._sample()
        self._thread = threading.Thread(target=self._run, name="usage-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        end = _cpu_by_pid(self.pids)
        self.cpu_s = sum(max(0.0, cpu - self._start.get(pid, 0.0)) for pid, cpu in end.items())

    def per(self, count: int, unit: str) -> dict:
        """CPU ms per unit of work and the peak RSS, for a report row."""
        return {f"cpu_ms_per_{unit}": round(1000 * self.cpu_s / count, 3) if count else None,
                "cpu_s": round(self.cpu_s, 2), "peak_rss_mb": round(self.peak_rss_mb, 1)}


class MemorySampler:
    """Peak resident set size per role, for the largest single process and for the whole tree."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.roots: dict[str, list[int]] = {}
        self.peak_process: dict[str, int] = {}
        self.peak_total: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def watch(self, role: str, pid: int) -> None:
        with self._lock:
            self.roots.setdefault(role, []).append(pid)

    def sample(self) -> None:
        with self._lock:
            roots = {role: list(pids) for role, pids in self.roots.items()}
        for role, pids in roots.items():
            sizes = []
            for pid in pids:
                try:
                    root = psutil.Process(pid)
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for process in tree:
                    try:
                        sizes.append(process.memory_info().rss)
                    except psutil.Error:
                        pass
            if sizes:
                self.peak_process[role] = max(self.peak_process.get(role, 0), max(sizes))
                self.peak_total[role] = max(self.peak_total.get(role, 0), sum(sizes))

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stopping.set()

    def report(self) -> dict:
        self.sample()
        return {
            role: {
                "peak_rss_mb_largest_process": round(self.peak_process[role] / 2**20, 1),
                "peak_rss_mb_all_processes": round(self.peak_total[role] / 2**20, 1),
            }
            for role in sorted(self.peak_process)
        }
