"""The benchmark harness end to end at tiny sizes, against the real services: every section of
the report is there and every figure is a sane number. Nothing is compared with a speed target
here; those figures live in docs/performance.md, produced by `bin/bench run`."""

import math
import socket

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sane(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_a_quick_run_reports_every_section(tmp_path, purge_queues):
    from bench import harness

    options = harness.Options(
        **harness.QUICK, quiet=True, work_dir=tmp_path, api_port=free_port(), simulator_port=free_port(),
        worker_metrics_port=free_port(),
    )
    report = harness.run(options)

    assert report["machine"]["nproc"] >= 1 and report["machine"]["postgresql"]
    assert report["seed"]["users"] == options.users and sane(report["seed"]["users_per_s"])

    assert sane(report["tick"]["nothing_due"]["p50_ms"])
    for size in options.tick_sizes:
        tick = report["tick"][f"due_{size}"]
        assert tick["scheduled"] == tick["published"] == size
        assert sane(tick["messages_per_s"])

    scenarios = {(d["vendor_latency_ms"], d["worker_processes"]) for d in report["delivery"]}
    assert scenarios == {(latency, n) for latency in options.vendor_latencies_ms for n in options.worker_processes}
    for run in report["delivery"]:
        assert run["accepted"] == options.deliveries, run
        assert sane(run["messages_per_s"])
        assert 0 < run["lateness_p50_s"] <= run["lateness_p95_s"] <= run["lateness_p99_s"] < math.inf

    for endpoint in ("post_user", "get_user"):
        api = report["api"][endpoint]
        assert api["requests"] > 0 and api["non_2xx"] == 0 and api["socket_errors"] == 0, api
        assert sane(api["achieved_rps"]) and api["p50_ms"] <= api["p99_ms"] and sane(api["p99_ms"])

    for endpoint in ("api", "worker"):
        scrape = report["metrics"][endpoint]
        assert scrape["available"], scrape
        assert scrape["series"] > 0 and sane(scrape["p50_ms"])

    for role in ("api", "worker", "beat"):
        assert sane(report["memory"][role]["peak_rss_mb_largest_process"])

    assert len(report["targets"]) == 7
    assert all(sane(target["measured"]) for target in report["targets"]), report["targets"]
