"""The run's JSON report and its Markdown rendering (docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


# Everything after this line in an existing report is kept when the tables are written again:
# the analysis of what bounds each figure is written by people, the tables by the run.
ANALYSIS_MARKER = "<!-- analysis: kept when bin/bench rewrites the tables above -->"


def write_markdown(report: dict, command: str, notes: list[str], path: Path) -> None:
    kept = ""
    if path.exists() and ANALYSIS_MARKER in path.read_text():
        kept = path.read_text().split(ANALYSIS_MARKER, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(report, command, notes) + "\n" + ANALYSIS_MARKER + (kept or "\n"))


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def markdown(report: dict, command: str, notes: list[str] | None = None) -> str:
    m = report["machine"]
    out = [
        "# Performance",
        "",
        "Measured by one command against real PostgreSQL, RabbitMQ, Redis, Celery prefork workers,",
        "Celery beat, gunicorn and the vendor simulator (`python -m devtools.vendor_simulator`, its own process).",
        "",
        "```sh",
        command,
        "```",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['ram_gb']} GB RAM, {m['os']}",
        f"- Versions: Python {m['python']}, Django {m['django']}, Celery {m['celery']}, psycopg {m['psycopg']}, "
        f"PostgreSQL {m['postgresql']}, RabbitMQ {m['rabbitmq'] or 'n/a'}, Redis {m['redis'] or 'n/a'}",
        f"- Load average (1, 5, 15 min) when the run started: {', '.join(str(x) for x in m['load_average_at_start'])}"
        + (f"; when it ended: {', '.join(str(x) for x in m['load_average_at_end'])}" if m.get("load_average_at_end") else ""),
        "",
    ]
    for note in notes or []:
        out += [f"> {note}", ""]
    out += ["## Targets", ""]
    out += _table(["Target", "Goal", "Measured", "Met"],
                  [[t["target"], t["goal"], t["measured"], {True: "yes", False: "**no**", None: "n/a"}[t["met"]]]
                   for t in report["targets"]])
    s = report.get("seed", {})
    out += ["## Seeding", ""]
    out += _table(["Users", "Zones", "Distinct (zone, month, day) computed", "Seconds", "Users/s"],
                  [[s.get("users"), s.get("zones"), s.get("distinct_zone_dates_computed"), s.get("seconds"), s.get("users_per_s")]])
    tick = report.get("tick", {})
    out += ["## Scheduling tick", "",
            "Messages/s counts rows written and published to RabbitMQ by one tick (publish-only: the tasks are purged "
            "before any worker consumes them; delivery below is measured through consumption).", ""]
    out += _table(["Due set", "Published", "Seconds", "Messages/s (publish-only)"],
                  [[v["due"], v["published"], v["seconds"], v["messages_per_s"]]
                   for k, v in tick.items() if k.startswith("due_")])
    empty = tick.get("nothing_due", {})
    out += _table(["Tick with nothing due, users", "Runs", "p50 ms", "p95 ms", "max ms"],
                  [[empty.get("users"), empty.get("runs"), empty.get("p50_ms"), empty.get("p95_ms"), empty.get("max_ms")]])
    out += ["## Delivery, due → vendor acceptance", "",
            "One Celery worker (prefork, `-c` worker processes, each sending on a thread pool of "
            "DELIVERY_CONCURRENCY threads), beat ticking and dispatching at the intervals shown; lateness is vendor "
            "acceptance − due_at; CPU is the worker's and beat's processes per message.", ""]
    out += _table(["Vendor latency ms", "Worker processes", "Threads/process", "Batch", "Tick/dispatch s", "Messages",
                   "Messages/s", "p50 lateness s", "p95 lateness s", "p99 lateness s", "CPU ms/message", "Worker RSS MB"],
                  [[d["vendor_latency_ms"], d["worker_processes"], d["delivery_concurrency"], d["delivery_batch_size"],
                    f"{d.get('tick_seconds', 1)}/{d.get('dispatch_seconds', 1)}", d.get("accepted"), d.get("messages_per_s"),
                    d.get("lateness_p50_s"), d.get("lateness_p95_s"), d.get("lateness_p99_s"), d.get("cpu_ms_per_message"),
                    d.get("peak_rss_mb")] for d in report.get("delivery", [])])
    api = report.get("api", {})
    out += ["## API", "", f"{api.get('server', '')}; {api.get('load_generator', '')}.", ""]
    out += _table(["Endpoint", "Offered rps", "Achieved rps", "Non-2xx", "p50 ms", "p90 ms", "p99 ms", "max ms",
                   "CPU ms/request", "Server RSS MB"],
                  [[name, r.get("target_rps"), r.get("achieved_rps"), r.get("non_2xx"), r.get("p50_ms"), r.get("p90_ms"),
                    r.get("p99_ms"), r.get("max_ms"), r.get("cpu_ms_per_request"), r.get("peak_rss_mb")]
                   for name, r in (("POST /user", api.get("post_user", {})), ("GET /user/<id>", api.get("get_user", {})))])
    out += ["## /metrics", ""]
    out += _table(["Endpoint", "Series", "Bytes", "p50 ms", "p95 ms", "max ms"],
                  [[f"{name} ({v['url']})", v.get("series"), v.get("bytes"), v.get("p50_ms"), v.get("p95_ms"), v.get("max_ms")]
                   if v.get("available") else [f"{name} ({v['url']})", "unavailable", None, None, None, None]
                   for name, v in report.get("metrics", {}).items()])
    out += ["## Peak memory (RSS)", ""]
    out += _table(["Process", "Largest single process MB", "All processes MB"],
                  [[role, v["peak_rss_mb_largest_process"], v["peak_rss_mb_all_processes"]]
                   for role, v in report.get("memory", {}).items()])
    return "\n".join(out)
