"""`bin/bench compare --ts-checkout DIR`: this project beside the TypeScript system, same work,
same box, same PostgreSQL/RabbitMQ/Redis servers and the same vendor simulator, interleaved
and repeated; medians go into docs/performance.md (between the compare markers).

Without a usable checkout it says why, and still measures this project against the limits of
the box: the simulator alone, a no-op Celery task published and consumed, a bare WSGI
hello-world under the API's own server, and the API's request path answering a constant
(bench/floor_urls.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from core.queues import DELIVERY_QUEUE

from . import harness, seed
from .procs import ROOT, ProcessGroup, Usage
from .ts_system import TSSystem, Unavailable

UTC = datetime.UTC
API_COMMAND = [sys.executable, "-m", "gunicorn", "-c", "python:birthday.gunicorn_config"]


@dataclasses.dataclass
class CompareOptions:
    ts_checkout: Path | None = None
    users: int = 1_000_000
    repeats: int = 2
    deliveries: int = 10_000
    vendor_latencies_ms: tuple[int, ...] = (0, 100)
    tick_due: int = 10_000
    empty_tick_runs: int = 20
    api_seconds: float = 8.0
    api_rate: int = 200
    api_connections: int = 32
    worker_processes: int = harness.DEFAULT_WORKER_PROCESSES
    ts_workers: int = 2
    default_intervals_run: bool = True
    baselines: bool = True
    port_base: int = 18000
    work_dir: Path | None = None
    quiet: bool = False


QUICK = dict(users=2_000, repeats=1, deliveries=300, tick_due=200, empty_tick_runs=3, api_seconds=2.0, api_rate=10,
             default_intervals_run=False)


def say(options, line: str) -> None:
    if not options.quiet:
        print(f"[compare {datetime.datetime.now():%H:%M:%S}] {line}", file=sys.stderr, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


# --- Load generation ------------------------------------------------------------------------------


_prefix_counter = 0


def load(spec: dict) -> dict:
    """Run bench.loadgen in its own process (its CPU is not the server's)."""
    global _prefix_counter
    _prefix_counter += 1
    spec = dict(spec, prefix=f"lg{int(time.time())}x{_prefix_counter}")
    out = subprocess.run([sys.executable, "-m", "bench.loadgen", "-"], input=json.dumps(spec), cwd=ROOT,
                         capture_output=True, text=True, timeout=spec["seconds"] + 120)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# Integrators the API load is spread over: at the default limit (200 req/s each) 16 carry 3,200
# req/s, above what this box serves, so the figures are the server's, not the rate limit's.
API_TOKENS = 16


def api_specs(system: str, port: int, raw_tokens: list[str] | None, ids: list) -> dict:
    if system == "python":
        # Requests take the tokens in turn: each integrator stays under its rate limit (the
        # default, API_RATE_LIMIT) while the server is driven to its own limit.
        headers = {"header_sets": [{"Authorization": f"Bearer {raw}"} for raw in raw_tokens]}
        post = {"method": "POST", "path": "/user", **headers,
                "body": '{{"first_name":"Api","last_name":"Bench","email":"{n}@api.bench.example",'
                        '"birthday":"{year}-{month}-{day}","timezone":"Europe/London"}}'}
        get = {"method": "GET", "path": "/user/{id}", **headers, "ids": ids}
    else:
        post = {"method": "POST", "path": "/api/v1/users",
                "body": '{{"firstName":"Api","lastName":"Bench","email":"{n}@api.bench.example",'
                        '"birthdayDate":"{year}-{month}-{day}","timezone":"Europe/London"}}'}
        get = {"method": "GET", "path": "/api/v1/users/{id}", "ids": ids}
    base = {"host": "127.0.0.1", "port": port, "timeout": 30}
    return {"post": dict(base, **post), "get": dict(base, **get)}


def api_round(options, specs: dict, server_procs) -> dict:
    """Max throughput (closed loop) and latency at the offered rate (open loop), POST and GET."""
    out = {}
    for endpoint in ("post", "get"):
        for mode in ("max", "rate"):
            spec = dict(specs[endpoint], seconds=options.api_seconds)
            if mode == "max":
                spec.update(mode="closed", connections=options.api_connections)
            else:
                spec.update(mode="open", rate=options.api_rate, connections=512)
            with Usage(server_procs) as usage:
                result = load(spec)
            result.update(usage.per(result["completed"], "request"))
            out[f"{endpoint}_{mode}"] = result
    return out


# --- This project ---------------------------------------------------------------------------------


def start_api(procs: ProcessGroup, port: int, app: str = "birthday.wsgi", role: str = "api", extra_env=None):
    import httpx

    env = {"API_BIND": f"127.0.0.1:{port}", **(extra_env or {})}
    proc = procs.start(API_COMMAND + [app], role, role=role, extra_env=env)
    probe = "/healthz" if app == "birthday.wsgi" else "/"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{app} did not start:\n{procs.output(proc)[-3000:]}")
        time.sleep(0.2)


def ours_tick(run_options, size: int) -> dict:
    return harness.tick(run_options, size)


def ours_delivery(run_options, procs, simulator, latency_ms, processes, intervals=(1, 1)) -> dict:
    return harness.delivery(run_options, procs, simulator, latency_ms, processes, intervals=intervals)


# --- The TypeScript system ------------------------------------------------------------------------


def ts_purge(ts: TSSystem) -> None:
    import kombu

    with kombu.Connection(ts.env["RABBITMQ_URL"]) as conn:
        channel = conn.channel()
        for queue in ("birthday.messages.queue", "birthday.messages.dlq"):
            try:
                channel.queue_purge(queue)
            except Exception:  # not declared yet
                channel = conn.channel()


def ts_tick(ts: TSSystem, size: int) -> dict:
    """Its daily job (message rows for today's birthdays), its minute job's status step
    (SCHEDULED -> QUEUED) and publishing every queued message: the same work as one tick here."""
    tag = f"tstick{int(time.time())}"
    now = datetime.datetime.now(UTC)
    ts.add_cohort(size, status=None, tag=tag, now=now)
    try:
        pre = ts.driver("precalc")
        ts.move_scheduled_into_window(tag)
        enq = ts.driver("enqueue")
        pub = ts.driver("publish")
    finally:
        ts_purge(ts)
        ts.remove_cohort(tag)
    seconds = pre["seconds"] + enq["seconds"] + pub["seconds"]
    cpu = pre["cpu_seconds"] + enq["cpu_seconds"] + pub["cpu_seconds"]
    return {"due": size, "scheduled": pre["scheduled"], "enqueued": enq["enqueued"], "published": pub["published"],
            "seconds": round(seconds, 3), "precalc_s": round(pre["seconds"], 3), "enqueue_s": round(enq["seconds"], 3),
            "publish_s": round(pub["seconds"], 3), "messages_per_s": round(pub["published"] / seconds, 1) if seconds else None,
            "cpu_ms_per_message": round(1000 * cpu / size, 3)}


def ts_delivery(ts: TSSystem, procs: ProcessGroup, simulator, latency_ms: int, count: int, workers: int,
                timeout: float) -> dict:
    """Its workers consuming `count` jobs published by its own publisher; messages/s from the
    first acceptance (less one vendor latency) to the last."""
    tag = f"tsdel{int(time.time())}"
    now = datetime.datetime.now(UTC)
    ts_purge(ts)
    ts.add_cohort(count, status="QUEUED", tag=tag, now=now)
    simulator.prepare(latency_ms)
    started = ts.start_workers(procs, workers)
    result = {"vendor_latency_ms": latency_ms, "messages": count, "workers": workers,
              "queue_concurrency": ts.env.get("QUEUE_CONCURRENCY") or "10"}
    try:
        with Usage(started) as usage:
            pub = ts.driver("publish")
            deadline = time.monotonic() + timeout
            while simulator.accepted_count() < count and time.monotonic() < deadline:
                time.sleep(0.25)
        result.update(usage.per(count, "message"))
        accepted = [a for a in simulator.accepted() if a["email"].endswith(f"@{tag}.example")]
    finally:
        for proc in started:
            procs.stop(proc)
        ts_purge(ts)
        ts.remove_cohort(tag)
    times = sorted(datetime.datetime.fromisoformat(a["accepted_at"]) for a in accepted)
    result["accepted"] = len(accepted)
    result["publish_s"] = round(pub["seconds"], 3)
    if len(times) > 1:
        window = (times[-1] - times[0]).total_seconds() + latency_ms / 1000
        result["messages_per_s"] = round(len(times) / window, 1)
    if len(accepted) < count:
        result["incomplete"] = True
    return result


# --- The box's own limits -------------------------------------------------------------------------


def baselines(options, procs: ProcessGroup, simulator, run_options) -> dict:
    out = {}
    say(options, "limits: the simulator alone")
    simulator.prepare(0)
    spec = {"mode": "closed", "host": "127.0.0.1", "port": run_options.simulator_port, "seconds": min(5.0, options.api_seconds),
            "connections": options.api_connections, "method": "POST", "path": "/send-email",
            "body": '{{"email":"{n}@stub.example","message":"hello"}}'}
    with Usage([simulator.proc]) as usage:
        out["simulator"] = load(spec)
    out["simulator"].update(usage.per(out["simulator"]["completed"], "request"))
    simulator.prepare(0)

    say(options, "limits: a bare WSGI hello-world under the API's server")
    port = options.port_base + 50
    hello = start_api(procs, port, app="bench.hello:app", role="hello")
    try:
        spec = {"mode": "closed", "host": "127.0.0.1", "port": port, "seconds": min(5.0, options.api_seconds),
                "connections": options.api_connections, "method": "GET", "path": "/"}
        with Usage([hello]) as usage:
            out["wsgi_hello"] = load(spec)
        out["wsgi_hello"].update(usage.per(out["wsgi_hello"]["completed"], "request"))
    finally:
        procs.stop(hello)

    say(options, "limits: the API's request path answering a constant (bench/floor_urls.py)")
    out["django_floor"] = django_floor(options, procs, port=options.port_base + 51)

    say(options, "limits: a no-op Celery task, published and consumed")
    out["celery_noop"] = celery_noop(procs, count=max(500, options.deliveries // 2), processes=options.worker_processes)
    return out


def django_floor(options, procs: ProcessGroup, port: int) -> dict:
    """GET /user/<id>'s view, authentication, throttle, middleware and server, with the handler
    answering a constant: the most any change inside the endpoint could bring."""
    from apiauth import services as tokens

    # The throttle does its usual work per request; its limit is raised so that a floor above
    # 200 req/s measures answers, not 429s.
    floor = start_api(procs, port, role="floor", extra_env={"DJANGO_SETTINGS_MODULE": "bench.floor_settings",
                                                            "API_RATE_LIMIT": "1000000/minute"})
    token, raw = tokens.create_token(f"bench-floor-{int(time.time() * 1000)}")
    try:
        spec = dict(api_specs("python", port, [raw], [1])["get"], path="/bench/floor/{id}", mode="closed",
                    seconds=min(5.0, options.api_seconds), connections=options.api_connections)
        with Usage([floor]) as usage:
            result = load(spec)
        result.update(usage.per(result["completed"], "request"))
        return result
    finally:
        procs.stop(floor)
        tokens.revoke_token(token)


def celery_noop(procs: ProcessGroup, count: int, processes: int) -> dict:
    """`celery.accumulate` (a built-in that returns its argument) through the deliveries queue."""
    from birthday.celery import app

    harness.purge_queues()
    worker = procs.celery("worker", {}, concurrency=processes)
    try:
        with Usage([worker]) as usage:
            started = time.perf_counter()
            with app.producer_or_acquire() as producer:
                for n in range(count):
                    app.send_task("celery.accumulate", args=(n,), queue=DELIVERY_QUEUE, producer=producer)
            published = time.perf_counter() - started
            with app.connection_for_write() as conn:
                channel = conn.default_channel
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    _name, ready, _consumers = channel.queue_declare(DELIVERY_QUEUE, passive=True)
                    if ready == 0:
                        break
                    time.sleep(0.05)
            consumed = time.perf_counter() - started
    finally:
        procs.stop(worker)
        harness.purge_queues()
    result = {"tasks": count, "worker_processes": processes, "publish_per_s": round(count / published, 1),
              "publish_and_consume_per_s": round(count / consumed, 1)}
    result.update(usage.per(count, "task"))
    return result


# --- The whole comparison -------------------------------------------------------------------------


def run(options: CompareOptions) -> dict:
    from apiauth import services as tokens

    run_options = harness.Options(
        users=options.users, deliveries=options.deliveries, empty_tick_runs=options.empty_tick_runs,
        api_port=options.port_base, simulator_port=options.port_base + 25, worker_metrics_port=options.port_base + 1,
        quiet=options.quiet, due_lead_s=10.0 if options.deliveries > 1000 else 8.0,
        **({"work_dir": options.work_dir} if options.work_dir else {}),
    )
    run_options.work_dir.mkdir(parents=True, exist_ok=True)
    procs = ProcessGroup(harness.child_env(run_options), run_options.work_dir / "logs")
    report: dict = {"date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
                    "options": {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                                for k, v in dataclasses.asdict(options).items()},
                    "python": {}, "ts": {}}
    started = time.monotonic()
    ts = None
    try:
        report["machine"] = harness.machine()
        simulator = harness.Simulator(procs, run_options.simulator_port)
        if options.ts_checkout is None:
            report["ts_unavailable"] = "no --ts-checkout given"
        else:
            try:
                from django.conf import settings
                from django.db import connection

                db = connection.settings_dict
                ts = TSSystem(options.ts_checkout,
                              database_url=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
                              broker_url=settings.CELERY_BROKER_URL, redis_url=settings.REDIS_URL or "",
                              vendor_url=simulator.url, api_port=options.port_base + 60, log_dir=procs.log_dir, say=lambda l: say(options, l))
                report["ts_info"] = ts.prepare()
                ts.driver("publish")  # declares its exchanges and queues before any worker consumes
            except (Unavailable, RuntimeError, OSError) as exc:
                report["ts_unavailable"] = str(exc)
                ts = None
        if ts is None:
            say(options, f"TypeScript system not run: {report['ts_unavailable']}")

        say(options, f"seeding {options.users:,} users" + (" in both systems" if ts else ""))
        report["python"]["seed"] = seed.seed_population(options.users, datetime.datetime.now(UTC), quiet=options.quiet)
        if ts:
            report["ts"]["seed"] = ts.seed_population(options.users, datetime.datetime.now(UTC))
        systems = ["python"] + (["ts"] if ts else [])
        rounds: dict = {s: {"api": [], "tick": [], "empty": [], "delivery": []} for s in systems}

        # API: both servers up; each round measures one system then the other, order alternating.
        say(options, "API servers")
        api = start_api(procs, run_options.api_port)
        stamp = int(time.time() * 1000)
        issued = [tokens.create_token(f"bench-compare-{stamp}-{n}") for n in range(API_TOKENS)]
        rng = random.Random(3)
        specs = {"python": api_specs("python", run_options.api_port, [raw for _, raw in issued],
                                     [rng.randint(1, options.users) for _ in range(20_000)])}
        ts_api = None
        if ts:
            ts_api = ts.start_api(procs)
            specs["ts"] = api_specs("ts", ts.api_port, None, ts.sample_ids)
        servers = {"python": [api], "ts": [ts_api]}
        try:
            for rep in range(options.repeats):
                for system in (systems if rep % 2 == 0 else systems[::-1]):
                    say(options, f"API round {rep + 1}: {system}")
                    rounds[system]["api"].append(api_round(options, specs[system], servers[system]))
        finally:
            procs.stop(api)
            if ts_api is not None:
                procs.stop(ts_api)
            for token, _ in issued:
                tokens.revoke_token(token)
            seed.remove_users(email_like="%@api.bench.example")
            if ts:
                ts.remove_api_users()

        for rep in range(options.repeats):
            for system in (systems if rep % 2 == 0 else systems[::-1]):
                say(options, f"tick round {rep + 1}: {system}")
                if system == "python":
                    rounds[system]["empty"].append(harness.empty_ticks(run_options))
                    rounds[system]["tick"].append(ours_tick(run_options, options.tick_due))
                else:
                    durations = ts.driver("empty", str(options.empty_tick_runs))["durations_ms"]
                    rounds[system]["empty"].append({"runs": len(durations), "p50_ms": round(harness.percentile(durations, 50), 2),
                                                    "p95_ms": round(harness.percentile(durations, 95), 2)})
                    rounds[system]["tick"].append(ts_tick(ts, options.tick_due))

        for rep in range(options.repeats):
            for latency in options.vendor_latencies_ms:
                for system in (systems if rep % 2 == 0 else systems[::-1]):
                    say(options, f"delivery round {rep + 1}: {system}, {options.deliveries:,} due, vendor {latency} ms")
                    if system == "python":
                        outcome = ours_delivery(run_options, procs, simulator, latency, options.worker_processes)
                    else:
                        outcome = ts_delivery(ts, procs, simulator, latency, options.deliveries, options.ts_workers,
                                              run_options.delivery_timeout_s)
                    say(options, f"  {outcome.get('messages_per_s')} messages/s")
                    rounds[system]["delivery"].append(outcome)
        if options.default_intervals_run:
            say(options, f"delivery with the production intervals (tick 60 s, dispatcher 5 s), vendor 0 ms")
            report["python"]["delivery_production_intervals"] = ours_delivery(
                run_options, procs, simulator, 0, options.worker_processes, intervals=(60, 5))
        if options.baselines:
            report["limits"] = baselines(options, procs, simulator, run_options)
        report["rounds"] = rounds
    finally:
        procs.stop_all()
        report["machine"] = report.get("machine", {})
        report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        report["seconds"] = round(time.monotonic() - started, 1)
    report["summary"] = summarise(report)
    return report


def _pick(rounds: list, *path):
    out = []
    for item in rounds:
        for key in path:
            item = item.get(key) if isinstance(item, dict) else None
        out.append(item)
    return out


def summarise(report: dict) -> list[dict]:
    """One row per measure: medians for each system, their CPU and memory, and the ratio."""
    rows = []
    rounds = report.get("rounds", {})
    py, ts = rounds.get("python", {}), rounds.get("ts", {})

    def add(name, unit, better, ours, theirs, ours_res=None, theirs_res=None, note_ours="", note_ts=""):
        ratio = None
        if ours and theirs:
            ratio = round(ours / theirs if better == "higher" else theirs / ours, 2)
        rows.append({"measure": name, "unit": unit, "better": better, "python": ours, "ts": theirs, "ratio": ratio,
                     "python_resources": ours_res, "ts_resources": theirs_res, "python_note": note_ours, "ts_note": note_ts})

    def res(items, unit):
        cpu = median(_pick(items, f"cpu_ms_per_{unit}"))
        rss = median(_pick(items, "peak_rss_mb"))
        return {"cpu_ms": cpu, "rss_mb": rss} if cpu is not None or rss is not None else None

    for latency in report.get("options", {}).get("vendor_latencies_ms", []):
        ours = [d for d in py.get("delivery", []) if d["vendor_latency_ms"] == latency]
        theirs = [d for d in ts.get("delivery", []) if d["vendor_latency_ms"] == latency]
        add(f"delivery, {report['options']['deliveries']:,} due, vendor {latency} ms", "msg/s", "higher",
            median(_pick(ours, "messages_per_s")), median(_pick(theirs, "messages_per_s")), res(ours, "message"), res(theirs, "message"),
            note_ours=_lateness(ours))
    ours_tick, ts_tick_rounds = py.get("tick", []), ts.get("tick", [])
    add(f"tick with {report['options']['tick_due']:,} due (messages written and published; publish-only, none consumed), s",
        "s", "lower", median(_pick(ours_tick, "seconds")), median(_pick(ts_tick_rounds, "seconds")),
        {"cpu_ms": None, "rss_mb": None} if False else None, {"cpu_ms": median(_pick(ts_tick_rounds, "cpu_ms_per_message")), "rss_mb": None} if ts_tick_rounds else None)
    add(f"tick with nothing due at {report['options']['users']:,} users, p50 ms", "ms", "lower",
        median(_pick(py.get("empty", []), "p50_ms")), median(_pick(ts.get("empty", []), "p50_ms")))
    for endpoint, label in (("post", "POST /user"), ("get", "GET /user/<id>")):
        ours_max, theirs_max = _pick(py.get("api", []), f"{endpoint}_max"), _pick(ts.get("api", []), f"{endpoint}_max")
        add(f"{label} max throughput (2xx answers), req/s", "req/s", "higher", median(_ok_rps(ours_max)),
            median(_ok_rps(theirs_max)), res(ours_max, "request"), res(theirs_max, "request"),
            note_ours=_errors(ours_max), note_ts=_errors(theirs_max))
        ours_rate, theirs_rate = _pick(py.get("api", []), f"{endpoint}_rate"), _pick(ts.get("api", []), f"{endpoint}_rate")
        rate = report["options"]["api_rate"]
        add(f"{label} p99 at {rate} req/s offered (open loop), ms", "ms", "lower", median(_pick(ours_rate, "p99_ms")),
            median(_pick(theirs_rate, "p99_ms")), res(ours_rate, "request"), res(theirs_rate, "request"),
            note_ours=f"achieved {median(_pick(ours_rate, 'achieved_rps'))} req/s" + _errors(ours_rate, sep="; "),
            note_ts=f"achieved {median(_pick(theirs_rate, 'achieved_rps'))} req/s" + _errors(theirs_rate, sep="; ") if theirs_rate else "")
    return rows


def _ok_rps(items) -> list:
    # Reports written before loadgen counted 2xx answers apart have only achieved_rps.
    return [(i or {}).get("ok_rps", (i or {}).get("achieved_rps")) for i in items]


def _lateness(items) -> str:
    p99 = median(_pick(items, "lateness_p99_s"))
    return f"p99 lateness {p99:.1f} s" if p99 is not None else ""


def _errors(items, sep="") -> str:
    non_2xx = sum((i or {}).get("non_2xx", 0) for i in items)
    errors = sum(sum((i or {}).get("errors", {}).values()) for i in items)
    parts = []
    if non_2xx:
        statuses: dict = {}
        for i in items:
            for k, v in (i or {}).get("statuses", {}).items():
                statuses[k] = statuses.get(k, 0) + v
        parts.append("non-2xx " + ", ".join(f"{v:,}×{k}" for k, v in sorted(statuses.items())))
    if errors:
        parts.append(f"{errors:,} socket errors/timeouts")
    return (sep + "; ".join(parts)) if parts else ""


# --- Markdown -------------------------------------------------------------------------------------

START = "<!-- compare:start (written by bin/bench compare; edit outside these markers) -->"
END = "<!-- compare:end -->"


def _num(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and abs(value) < 10:
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"
    return f"{round(value):,}" if abs(value) >= 100 else f"{value:,.1f}"


def _res(resources, unit) -> str:
    if not resources:
        return ""
    parts = []
    if resources.get("cpu_ms") is not None:
        parts.append(f"{_num(resources['cpu_ms'])} ms CPU/{unit}")
    if resources.get("rss_mb") is not None:
        parts.append(f"{_num(resources['rss_mb'])} MB")
    return ", ".join(parts)


def _ratio(row) -> str:
    r = row["ratio"]
    if r is None:
        return "n/a"
    if r >= 1:
        return f"**{r:.1f}× ahead**" if r >= 1.05 else f"{r:.2f}× (even)"
    return f"{1 / r:.1f}× behind"


def markdown(report: dict, command: str) -> str:
    m = report.get("machine", {})
    o = report["options"]
    ts_ok = "ts_unavailable" not in report
    out = [START, "", "## Side by side with the TypeScript system", "",
           "```sh", command, "```", "",
           f"- Run: {report['date']}, {report['seconds'] / 60:.1f} minutes; {m.get('nproc')} CPUs ({m.get('cpu_model', '')}), "
           f"load average at start {', '.join(str(x) for x in m.get('load_average_at_start', []))}, "
           f"at end {', '.join(str(x) for x in m.get('load_average_at_end', []))}.",
           f"- Versions: Python {m.get('python')}, Django {m.get('django')}, Celery {m.get('celery')}, PostgreSQL {m.get('postgresql')}, "
           f"RabbitMQ {m.get('rabbitmq') or 'n/a'}, Redis {m.get('redis') or 'n/a'}"
           + (f"; TypeScript system commit {report['ts_info'].get('commit')}, Node {report['ts_info'].get('node')}." if ts_ok else "."),
           f"- Medians of {o['repeats']} interleaved round(s) (the order of the two systems alternates between rounds); "
           f"{o['users']:,} users in each system; API measures {o['api_seconds']:g} s each, "
           f"max throughput with {o['api_connections']} keep-alive connections (closed loop), latency at {o['api_rate']} req/s offered "
           "by an open-loop generator (`bench/loadgen.py`: each request due at a fixed instant, latency counted from that instant).",
           "- CPU is the system's own processes (API server, or workers and beat) over the measure, divided by requests "
           "or messages; memory is their peak resident set, all processes together. PostgreSQL, RabbitMQ, Redis and the "
           "simulator are shared and not counted.",
           "- This project: default settings throughout (API throttle, DELIVERY_CONCURRENCY, batch size, "
           f"{o['worker_processes']} worker processes, WORKER_CONCURRENCY's default here), except the beat's tick and dispatcher at 1 s in the "
           f"delivery rows (the production-interval run is below). Its API requests take {API_TOKENS} integrators' tokens "
           "in turn, each under the default rate limit; max throughput counts 2xx answers only.",
           ]
    if ts_ok:
        out += ["- The TypeScript system: its defaults, except NODE_ENV=production, its rate limiter off "
                "(its default admits 10 creates a minute), its cron jobs off (the harness calls them), and "
                f"{o['ts_workers']} worker processes with QUEUE_CONCURRENCY=10 (its performance compose file). Its delivery "
                "rows are its workers consuming jobs its own publisher put on its queue (its minute job publishes "
                "at most 100 a minute, so its end-to-end rate would be far lower); its tick is its daily job, "
                "its minute job's status step and publishing every queued message."]
    else:
        out += ["", f"> **The TypeScript system was not run: {report['ts_unavailable']}.** The figures below are this "
                "project's alone, beside the limits of the box."]
    out += ["", "| measure | this project | its CPU, memory | TypeScript system | its CPU, memory | ratio |",
            "|---|---|---|---|---|---|"]
    for row in report["summary"]:
        unit = "msg" if row["unit"] == "msg/s" else "req" if "req" in row["measure"] or "/user" in row["measure"] else "msg"
        ours = _num(row["python"]) + (f" ({row['python_note']})" if row.get("python_note") else "")
        theirs = (_num(row["ts"]) + (f" ({row['ts_note']})" if row.get("ts_note") else "")) if ts_ok else "not run"
        out.append(f"| {row['measure']} | {ours} | {_res(row['python_resources'], unit)} | {theirs} | "
                   f"{_res(row['ts_resources'], unit)} | {_ratio(row) if ts_ok else 'n/a'} |")
    prod = report.get("python", {}).get("delivery_production_intervals")
    if prod:
        out += ["", "This project with the production intervals (tick every 60 s, dispatcher every 5 s), vendor 0 ms, "
                f"{prod.get('accepted', 0):,} due at one instant:", "",
                "| messages/s (due → last acceptance) | p50 lateness s | p95 lateness s | p99 lateness s | CPU ms/msg | memory MB |",
                "|---|---|---|---|---|---|",
                f"| {_num(prod.get('messages_per_s'))} | {_num(prod.get('lateness_p50_s'))} | {_num(prod.get('lateness_p95_s'))} | "
                f"{_num(prod.get('lateness_p99_s'))} | {_num(prod.get('cpu_ms_per_message'))} | {_num(prod.get('peak_rss_mb'))} |", "",
                "Lateness here includes waiting for the next tick (up to 60 s) and dispatch (up to 5 s): the "
                "message rows are written at the first tick after the due instant."]
    limits = report.get("limits")
    if limits:
        sim, hello, noop = limits.get("simulator", {}), limits.get("wsgi_hello", {}), limits.get("celery_noop", {})
        floor = limits.get("django_floor", {})
        out += ["", "Limits of the box, measured in the same run:", "",
                "| what | rate | CPU | note |", "|---|---|---|---|",
                f"| the vendor simulator alone, POST /send-email | {_num(sim.get('achieved_rps'))} req/s | "
                f"{_num(sim.get('cpu_ms_per_request'))} ms/req | p99 {_num(sim.get('p99_ms'))} ms, {o['api_connections']} connections |",
                f"| a bare WSGI hello-world under the API's server (`bench/hello.py`) | {_num(hello.get('achieved_rps'))} req/s | "
                f"{_num(hello.get('cpu_ms_per_request'))} ms/req | p99 {_num(hello.get('p99_ms'))} ms |",
                f"| the API's request path answering a constant user (`bench/floor_urls.py`: GET /user/<id>'s view, token "
                f"auth, throttle, metrics, access line; no database) | {_num(floor.get('achieved_rps'))} req/s | "
                f"{_num(floor.get('cpu_ms_per_request'))} ms/req | p99 {_num(floor.get('p99_ms'))} ms"
                f"{_errors([floor], sep=', ') if floor.get('non_2xx') else ''} |",
                f"| a no-op Celery task (`celery.accumulate`), published then consumed by {noop.get('worker_processes')} processes | "
                f"{_num(noop.get('publish_and_consume_per_s'))} tasks/s | {_num(noop.get('cpu_ms_per_task'))} ms/task (worker) | "
                f"publishing alone {_num(noop.get('publish_per_s'))}/s |"]
    out += ["", END]
    return "\n".join(out)


def report_marker() -> str:
    from .report import ANALYSIS_MARKER

    return ANALYSIS_MARKER


def write_markdown(report: dict, command: str, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Performance\n"
    section = markdown(report, command)
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    elif report_marker() in text:
        # Below the part `bin/bench run` rewrites, so each command keeps the other's tables.
        before, after = text.split(report_marker(), 1)
        text = before + report_marker() + "\n\n" + section + "\n" + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
