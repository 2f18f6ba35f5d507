"""Celery worker metrics: per-task timing and outcome (in the pool process that ran the task),
pool utilisation and idle time, pool process restarts, and how each message left the queue
(ack / nack / reject, counted in the main process where the broker is answered).

`worker_id` is the Celery node name (one value per worker node, not per pool process).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque

from celery import signals
from celery.worker.request import Request
from prometheus_client import multiprocess

from . import initial, multiproc, runtime, summary
from .definitions import (
    ACTIVE_WORKERS,
    QUEUE_CONSUMED,
    QUEUE_PROCESSING,
    WORKER_ERRORS,
    WORKER_IDLE,
    WORKER_RESTARTS,
    WORKER_TASK_DURATION,
    WORKER_TASKS_COMPLETED,
    WORKER_UTILIZATION,
)

UTILIZATION_WINDOW_SECONDS = 60.0
TICK_SECONDS = 5.0


class _Node:
    name = "unknown"
    worker_type = "unknown"
    concurrency = 1
    queues: frozenset[str] = frozenset()
    started_children = None  # multiprocessing.Value shared with the pool processes


node = _Node()


def queue_label(delivery_info) -> str:
    queue = (delivery_info or {}).get("routing_key") or ""
    return queue if queue in node.queues else "other"


class SlotClock:
    """Busy/idle accounting of one pool process. Idle time goes to the idle counter as it
    passes; utilisation is the busy share of the last minute."""

    def __init__(self, window: float = UTILIZATION_WINDOW_SECONDS):
        self.window = window
        self.busy = False
        self.last = time.monotonic()
        self.segments: deque[tuple[float, float, bool]] = deque()
        self.lock = threading.Lock()

    def _account(self, now: float) -> None:
        elapsed = now - self.last
        if elapsed > 0:
            self.segments.append((self.last, now, self.busy))
            if not self.busy:
                WORKER_IDLE.labels(node.name).inc(elapsed)
        self.last = now
        floor = now - self.window
        while self.segments and self.segments[0][1] < floor:
            self.segments.popleft()

    def mark(self, busy: bool) -> None:
        with self.lock:
            self._account(time.monotonic())
            self.busy = busy

    def utilization(self) -> float:
        with self.lock:
            now = time.monotonic()
            self._account(now)
            floor = now - self.window
            busy = sum(end - max(start, floor) for start, end, was_busy in self.segments if was_busy)
            span = min(self.window, now - self.segments[0][0]) if self.segments else 0.0
            return busy / span if span > 0 else 0.0


_clock: SlotClock | None = None
_started: dict[str, float] = {}


def _tick_forever(clock: SlotClock) -> None:
    while True:
        time.sleep(TICK_SECONDS)
        WORKER_UTILIZATION.labels(node.name).set(100.0 * clock.utilization() / max(1, node.concurrency))


def _start_pool_process() -> None:
    global _clock
    summary.PROCESSING.forget_process_state()
    runtime.start_process_probes()
    ACTIVE_WORKERS.labels(node.worker_type).set(1)
    WORKER_UTILIZATION.labels(node.name).set(0)
    WORKER_IDLE.labels(node.name)
    initial.worker(node.name)
    _clock = SlotClock()
    threading.Thread(target=_tick_forever, args=(_clock,), name="metrics-utilization", daemon=True).start()


@signals.worker_init.connect(dispatch_uid="metrics.workers.init")
def _worker_init(sender=None, **kwargs):
    node.name = getattr(sender, "hostname", None) or "unknown"
    node.concurrency = int(getattr(sender, "concurrency", 1) or 1)
    app = getattr(sender, "app", None)
    configured = [queue.name for queue in (app.conf.task_queues or [])] if app is not None else []
    try:
        consumed = sorted(app.amqp.queues.consume_from or {}) if app is not None else []
    except AttributeError:
        consumed = []
    node.queues = frozenset(configured) | frozenset(consumed)
    node.worker_type = "+".join(consumed or sorted(configured)) or "default"
    node.started_children = multiprocessing.Value("i", 0)
    os.environ[runtime.ROOT_PID_ENV] = str(os.getpid())
    WORKER_RESTARTS.labels(node.name, "node_started").inc()
    for queue in node.queues:
        for status in ("ack", "nack", "reject"):
            QUEUE_CONSUMED.labels(queue, status)
    _install_ack_counting()
    if getattr(sender, "pool_cls", None) is not None and "prefork" not in str(sender.pool_cls):
        # solo/threads pools run tasks in this process: it is the only "pool process".
        _start_pool_process()


@signals.worker_process_init.connect(dispatch_uid="metrics.workers.process_init")
def _worker_process_init(**kwargs):
    _start_pool_process()
    if node.started_children is not None:
        with node.started_children.get_lock():
            node.started_children.value += 1
            replaced = node.started_children.value > node.concurrency
        if replaced:
            WORKER_RESTARTS.labels(node.name, "pool_process_replaced").inc()


@signals.worker_process_shutdown.connect(dispatch_uid="metrics.workers.process_shutdown")
def _worker_process_shutdown(**kwargs):
    summary.PROCESSING.flush()


@signals.worker_ready.connect(dispatch_uid="metrics.workers.ready")
def _watch_pool_processes(sender=None, **kwargs):
    """The worker's counterpart of gunicorn's child_exit: when the main process reaps a pool
    process (however it died, SIGKILL included), prometheus_client drops its live gauges."""
    pool = getattr(getattr(sender, "pool", None), "_pool", None)
    original = getattr(pool, "on_process_down", None)
    if original is None or not multiproc.active_dir():
        return

    def on_process_down(process):
        multiprocess.mark_process_dead(process.pid)
        return original(process)

    pool.on_process_down = on_process_down


@signals.task_prerun.connect(dispatch_uid="metrics.workers.prerun")
def _task_prerun(task_id=None, **kwargs):
    _started[task_id] = time.perf_counter()
    if _clock is not None:
        _clock.mark(busy=True)


@signals.task_postrun.connect(dispatch_uid="metrics.workers.postrun")
def _task_postrun(task_id=None, task=None, state=None, **kwargs):
    started = _started.pop(task_id, None)
    if _clock is not None:
        _clock.mark(busy=False)
    if started is None or task is None:
        return
    elapsed = time.perf_counter() - started
    WORKER_TASK_DURATION.labels(node.name, task.name).observe(elapsed)
    QUEUE_PROCESSING.labels(queue_label(getattr(task.request, "delivery_info", None))).observe(elapsed)
    WORKER_TASKS_COMPLETED.labels(node.name, "success" if state == "SUCCESS" else "failure").inc()


@signals.task_failure.connect(dispatch_uid="metrics.workers.failure")
def _task_failure(exception=None, **kwargs):
    from .initial import TASK_ERROR_TYPES

    name = type(exception).__name__ if exception else "other"
    WORKER_ERRORS.labels(node.name, name if name in TASK_ERROR_TYPES else "other").inc()


@signals.task_internal_error.connect(dispatch_uid="metrics.workers.internal_error")
def _task_internal_error(**kwargs):
    WORKER_ERRORS.labels(node.name, "internal_error").inc()


@signals.task_rejected.connect(dispatch_uid="metrics.workers.rejected")
@signals.task_unknown.connect(dispatch_uid="metrics.workers.unknown")
def _task_rejected(message=None, **kwargs):
    # A message the worker cannot run at all (undecodable: task_rejected; a task name nobody
    # registered: task_unknown): rejected, so the broker dead-letters it.
    QUEUE_CONSUMED.labels(queue_label(getattr(message, "delivery_info", None)), "reject").inc()


_ack_patched = False


def _install_ack_counting() -> None:
    """Count at the moment the broker is answered, in the main process."""
    global _ack_patched
    if _ack_patched:
        return
    _ack_patched = True
    original_ack, original_reject = Request.acknowledge, Request.reject

    def acknowledge(self):
        if not self.acknowledged:
            QUEUE_CONSUMED.labels(queue_label(self.delivery_info), "ack").inc()
        return original_ack(self)

    def reject(self, requeue=False):
        if not self.acknowledged:
            QUEUE_CONSUMED.labels(queue_label(self.delivery_info), "nack" if requeue else "reject").inc()
        return original_reject(self, requeue=requeue)

    Request.acknowledge = acknowledge
    Request.reject = reject
