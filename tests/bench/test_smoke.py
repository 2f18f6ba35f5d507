"""The benchmark harness end to end at tiny sizes, against the real services: every section of
the report is there and every figure is a sane number. Nothing is compared with a speed target
here; those figures live in docs/performance.md, produced by `bin/bench run`."""

import math

import pytest

from tests.ports import free_port_range

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sane(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_a_quick_run_reports_every_section(tmp_path, purge_queues):
    from bench import harness

    base = free_port_range(67)  # as `bin/bench run --port-base` lays its ports out
    options = harness.Options(
        **harness.QUICK, quiet=True, work_dir=tmp_path, api_port=base, simulator_port=base + 25,
        worker_metrics_port=base + 1,
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
        assert sane(run["cpu_ms_per_message"]) and sane(run["peak_rss_mb"])

    for endpoint in ("post_user", "get_user"):
        api = report["api"][endpoint]
        assert api["requests"] > 0 and api["non_2xx"] == 0 and api["socket_errors"] == 0, api
        assert sane(api["achieved_rps"]) and api["p50_ms"] <= api["p99_ms"] and sane(api["p99_ms"])
        assert api["offered_rps"] == options.api_rate and sane(api["cpu_ms_per_request"]) and sane(api["peak_rss_mb"])

    for endpoint in ("api", "worker"):
        scrape = report["metrics"][endpoint]
        assert scrape["available"], scrape
        assert scrape["series"] > 0 and sane(scrape["p50_ms"])

    for role in ("api", "worker", "beat"):
        assert sane(report["memory"][role]["peak_rss_mb_largest_process"])

    assert len(report["targets"]) == 7
    assert all(sane(target["measured"]) for target in report["targets"]), report["targets"]


def test_compare_without_the_other_system_says_why_and_measures_the_limits(tmp_path, purge_queues):
    # The CI variant of `bin/bench compare`: no checkout of the TypeScript system, so no npm.
    from bench import compare

    options = compare.CompareOptions(**dict(compare.QUICK, vendor_latencies_ms=(0,)), quiet=True,
                                     port_base=free_port_range(67), work_dir=tmp_path / "run")
    report = compare.run(options)

    assert report["ts_unavailable"] == "no --ts-checkout given"
    assert set(report["rounds"]) == {"python"}
    [delivery] = report["rounds"]["python"]["delivery"]
    assert delivery["accepted"] == options.deliveries and sane(delivery["messages_per_s"])
    [api] = report["rounds"]["python"]["api"]
    for key in ("post_max", "get_max", "post_rate", "get_rate"):
        assert api[key]["completed"] > 0 and sane(api[key]["cpu_ms_per_request"]), (key, api[key])
    assert api["post_rate"]["offered_rps"] == options.api_rate and api["post_rate"]["mode"] == "open"
    limits = report["limits"]
    assert sane(limits["simulator"]["achieved_rps"]) and sane(limits["wsgi_hello"]["achieved_rps"])
    floor = limits["django_floor"]
    assert floor["completed"] > 0 and floor["non_2xx"] == 0 and sane(floor["cpu_ms_per_request"]), floor
    assert limits["celery_noop"]["tasks"] > 0 and sane(limits["celery_noop"]["publish_and_consume_per_s"])
    measures = [row["measure"] for row in report["summary"]]
    assert len(measures) == 7 and all(row["ts"] is None and row["ratio"] is None for row in report["summary"])

    page = tmp_path / "performance.md"
    page.write_text("# Performance\n\nkept text\n")
    compare.write_markdown(report, "bin/bench compare", page)
    compare.write_markdown(report, "bin/bench compare", page)  # replaces its own section, keeps the rest
    text = page.read_text()
    assert text.count(compare.START) == 1 and "kept text" in text and "was not run: no --ts-checkout given" in text
