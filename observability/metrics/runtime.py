"""Process resources, measured for the whole service (the process that started it plus every
descendant: gunicorn master and workers, Celery main process and pool) at scrape time, from the
kernel via psutil, so every scraping process reports the same numbers.

CPU time of exited children stays counted: the kernel adds it to the parent's children times
once the parent has reaped them. Disk I/O of an exited child is not kept by the kernel, so that
counter can drop when a pool process is replaced; Prometheus treats the drop as a counter reset.
Network bytes are the interfaces of the network namespace: the whole host outside a container,
so only one process exports them (beat, or the single local process), not every service as if
they were its own.

The Node.js runtime metrics of the monitoring plan map to their Python counterparts:
process_heap_bytes is the data segment (VmData: malloc and pymalloc arenas),
nodejs_eventloop_lag_seconds the wake-up lag of a sleeping thread, nodejs_gc_duration_seconds the
pause of each garbage collection by generation.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections import deque

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .definitions import EVENTLOOP_LAG, GC_DURATION, NS

ROOT_PID_ENV = "BIRTHDAY_METRICS_ROOT_PID"


def service_root_pid() -> int:
    try:
        pid = int(os.environ.get(ROOT_PID_ENV, ""))
    except ValueError:
        return os.getpid()
    return pid if psutil.pid_exists(pid) else os.getpid()


def _tree(root_pid: int) -> tuple[psutil.Process, list[psutil.Process]]:
    root = psutil.Process(root_pid)
    try:
        return root, [root, *root.children(recursive=True)]
    except psutil.Error:
        return root, [root]


class RuntimeCollector:
    def __init__(self, network: bool = False):
        self.network = network

    def describe(self):
        return []

    def collect(self):
        root, processes = _tree(service_root_pid())
        user = system = rss = heap = fds = threads = read = written = 0.0
        most_fds = 0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info()
                    user += times.user
                    system += times.system
                    if process.pid == root.pid:
                        user += times.children_user
                        system += times.children_system
                    rss += memory.rss
                    heap += getattr(memory, "data", 0)
                    held = process.num_fds() if hasattr(process, "num_fds") else 0
                    fds += held
                    most_fds = max(most_fds, held)
                    threads += process.num_threads()
                    try:
                        io = process.io_counters()
                        read += io.read_bytes
                        written += io.write_bytes
                    except (psutil.AccessDenied, AttributeError):
                        pass
            except psutil.Error:
                continue  # exited between listing and reading
        yield CounterMetricFamily("process_cpu_user_seconds", "User CPU time of the service's processes", value=user)
        yield CounterMetricFamily("process_cpu_system_seconds", "System CPU time of the service's processes", value=system)
        yield GaugeMetricFamily("process_resident_memory_bytes", "Resident memory of the service's processes", value=rss)
        yield GaugeMetricFamily("process_heap_bytes", "Data segment (heap) of the service's processes", value=heap)
        disk = CounterMetricFamily(f"{NS}_disk_io_bytes", "Disk I/O bytes read/written", labels=["operation"])
        disk.add_metric(["read"], read)
        disk.add_metric(["write"], written)
        yield disk
        if self.network:
            network = CounterMetricFamily(f"{NS}_network_io_bytes", "Network bytes sent/received (network namespace)",
                                          labels=["direction"])
            counters = psutil.net_io_counters()
            network.add_metric(["in"], counters.bytes_recv)
            network.add_metric(["out"], counters.bytes_sent)
            yield network
        yield GaugeMetricFamily(f"{NS}_file_descriptors_used", "Open file descriptors", value=fds)
        yield GaugeMetricFamily(f"{NS}_thread_count", "Active thread count", value=threads)
        # The standard process_* names, so that restart and descriptor panels work unchanged. The
        # descriptor limit is per process, so the count set against it is the largest one process
        # holds, not the tree's sum.
        try:
            yield GaugeMetricFamily("process_start_time_seconds", "Start time of the service's root process",
                                    value=root.create_time())
        except psutil.Error:
            pass
        yield GaugeMetricFamily("process_open_fds", "Most descriptors open in one process of the service",
                                value=most_fds)
        limit = _fd_limit(root)
        if limit is not None:
            yield GaugeMetricFamily("process_max_fds", "Descriptor limit of the service's processes", value=limit)


def _fd_limit(root: psutil.Process) -> float | None:
    """The soft RLIMIT_NOFILE of the root process, which its children inherit."""
    try:
        soft = root.rlimit(psutil.RLIMIT_NOFILE)[0]
    except (psutil.Error, AttributeError):
        return None
    return None if soft == psutil.RLIM_INFINITY else float(soft)


# --- per-process probes ------------------------------------------------------------------------------

LAG_INTERVAL_SECONDS = 0.5
_probes_pid: int | None = None
_gc_started: dict[int, float] = {}
# A collection can start while any lock is held, including the metrics' own: the callback only
# queues the pause (deque.append is atomic) and the probe thread records it.
_gc_pauses: deque[tuple[int, float]] = deque(maxlen=10000)


def _gc_callback(phase, info):
    generation = info.get("generation", 0)
    if phase == "start":
        _gc_started[generation] = time.perf_counter()
    elif generation in _gc_started:
        _gc_pauses.append((generation, time.perf_counter() - _gc_started.pop(generation)))


def _record_gc_pauses():
    while _gc_pauses:
        generation, seconds = _gc_pauses.popleft()
        GC_DURATION.labels(f"gen{generation}").observe(seconds)


def _measure_lag():
    while True:
        started = time.monotonic()
        time.sleep(LAG_INTERVAL_SECONDS)
        EVENTLOOP_LAG.set(max(0.0, time.monotonic() - started - LAG_INTERVAL_SECONDS))
        _record_gc_pauses()


def start_process_probes() -> None:
    """GC timing and the lag probe for this process; call again after a fork (threads do not
    survive one)."""
    global _probes_pid
    if _probes_pid == os.getpid():
        return
    _probes_pid = os.getpid()
    for generation in (0, 1, 2):
        GC_DURATION.labels(f"gen{generation}")
    if _gc_callback not in gc.callbacks:
        gc.callbacks.append(_gc_callback)
    EVENTLOOP_LAG.set(0.0)
    threading.Thread(target=_measure_lag, name="metrics-lag-probe", daemon=True).start()
