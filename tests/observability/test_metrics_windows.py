"""Quantile windows and the multiprocess directory, across real processes."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from observability.metrics import multiproc, summary
from observability.metrics.workers import SlotClock

ROOT = Path(__file__).resolve().parents[2]


def test_quantile_interpolates_between_ranks():
    values = [float(v) for v in range(1, 101)]
    assert summary.quantile(values, 0.5) == 50.5
    assert summary.quantile(values, 0.99) == 99.01
    assert summary.quantile([], 0.5) != summary.quantile([], 0.5)  # NaN


@pytest.mark.integration  # runs the system's processes
def test_a_new_instance_clears_the_directories_of_dead_ones(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "metrics" / f"worker-{dead.pid}"
    stale.mkdir(parents=True)
    (stale / "counter_123.db").write_text("old")
    running = tmp_path / "metrics" / f"worker-{os.getppid()}"
    running.mkdir()
    (running / "counter_456.db").write_text("another live worker's counts")
    environ = {}
    directory = multiproc.configure("worker", tmp_path, environ)
    assert directory == tmp_path / "metrics" / f"worker-{os.getpid()}"
    assert environ[multiproc.ENV] == str(directory) and list(directory.iterdir()) == []
    assert not stale.exists(), "a dead instance's directory is removed"
    assert (running / "counter_456.db").exists(), "a live instance's files are left alone"
    environ = {}
    assert multiproc.configure("beat", tmp_path, environ) is None and multiproc.ENV not in environ


CHILD = textwrap.dedent("""
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "birthday.settings"
    import django; django.setup()
    from observability.metrics import summary
    for v in sys.argv[1:]:
        summary.PROCESSING.observe("birthday", float(v))
    summary.PROCESSING.flush()
""")

PARENT = textwrap.dedent("""
    import os
    os.environ["DJANGO_SETTINGS_MODULE"] = "birthday.settings"
    import django; django.setup()
    from prometheus_client import CollectorRegistry
    from prometheus_client.openmetrics.exposition import generate_latest
    from observability.metrics.exposition import ServiceCollector
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector())
    print(generate_latest(registry).decode())
""")


def _run(code, env, *args):
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.integration  # runs the system's processes
def test_quantiles_merge_across_processes(tmp_path):
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), BIRTHDAY_METRICS_SERVICE="worker")
    _run(CHILD, env, *[str(v) for v in range(1, 51)])
    _run(CHILD, env, *[str(v) for v in range(51, 101)])
    text = _run(PARENT, env)
    lines = text.splitlines()
    assert 'birthday_scheduler_message_processing_quantiles_count{message_type="birthday"} 100.0' in text
    median = next(line for line in lines if 'quantile="0.5"' in line)
    assert median.endswith(" 50.5")  # 1..100 observed by two processes: the merged median


def test_utilization_is_the_busy_share_of_the_window():
    clock = SlotClock(window=60)
    clock.segments.clear()
    clock.last -= 10  # ten idle seconds have passed
    clock.mark(busy=True)
    clock.last -= 30  # then thirty busy seconds
    clock.segments = type(clock.segments)((start - 30, end - 30, b) for start, end, b in clock.segments)
    share = clock.utilization()
    assert 0.7 < share < 0.8  # 30 busy of 40
