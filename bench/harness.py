"""The benchmark run: each section against the real PostgreSQL, RabbitMQ, Redis, Celery
processes, gunicorn and the vendor simulator (its own process, over HTTP)."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from . import seed
from .loadgen import percentile
from .procs import ROOT, ProcessGroup

UTC = datetime.UTC


# WORKER_CONCURRENCY's default: the worker processes an operator gets without tuning.
DEFAULT_WORKER_PROCESSES = settings.WORKER_CONCURRENCY


@dataclasses.dataclass
class Options:
    users: int = 1_000_000
    tick_sizes: tuple[int, ...] = (10_000, 100_000)
    empty_tick_runs: int = 20
    deliveries: int = 20_000
    vendor_latencies_ms: tuple[int, ...] = (0, 100)
    worker_processes: tuple[int, ...] = (DEFAULT_WORKER_PROCESSES,)
    delivery_concurrency: int = settings.DELIVERY_CONCURRENCY
    delivery_batch_size: int = settings.DELIVERY_BATCH_SIZE
    delivery_timeout_s: float = 600.0
    # Time between starting workers and the cohort falling due: workers are up before it.
    due_lead_s: float = 15.0
    api_rate: int = 200
    api_seconds: int = 30
    metrics_scrapes: int = 20
    api_port: int = 18000
    simulator_port: int = 18025
    worker_metrics_port: int = 19101
    work_dir: Path = ROOT / "bench" / "results" / "run"
    quiet: bool = False
    # A subset (e.g. only delivery, while profiling); a full report has them all.
    sections: tuple[str, ...] = ("tick", "delivery", "api")


QUICK = dict(users=2_000, tick_sizes=(200, 1_000), empty_tick_runs=5, deliveries=500, api_seconds=3,
             api_rate=10, metrics_scrapes=5, due_lead_s=6.0, delivery_timeout_s=120.0)


def say(options: Options, line: str) -> None:
    if not options.quiet:
        print(f"[bench {datetime.datetime.now():%H:%M:%S}] {line}", file=sys.stderr, flush=True)


def child_env(options: Options) -> dict:
    """The environment of every child: this process's database (whatever its name), broker and
    cache, with the variable directory kept inside the run's work directory."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="birthday.settings",
        BIRTHDAY_VAR_DIR=str(options.work_dir / "var"),
        VENDOR_BASE_URL=f"http://127.0.0.1:{options.simulator_port}",
        WORKER_METRICS_PORT=str(options.worker_metrics_port),
        BEAT_METRICS_PORT=str(options.worker_metrics_port + 1),
        DELIVERY_CONCURRENCY=str(options.delivery_concurrency),
        DELIVERY_BATCH_SIZE=str(options.delivery_batch_size),
        PYTHONUNBUFFERED="1",
    )
    return env


def purge_queues() -> None:
    from birthday.celery import app

    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues:
            try:
                queue(conn.default_channel).purge()
            except Exception:  # not declared yet: nothing in it
                pass


# --- Machine ----------------------------------------------------------------------------------


def machine() -> dict:
    import celery
    import django
    import psutil
    import psycopg

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    from birthday.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.connect()
            props = conn.connection.server_properties if hasattr(conn.connection, "server_properties") else {}
            rabbitmq = str(props.get("version", ""))
    except Exception:
        rabbitmq = ""
    try:
        import redis

        redis_version = redis.Redis.from_url(settings.REDIS_URL).info("server")["redis_version"] if settings.REDIS_URL else ""
    except Exception:
        redis_version = ""
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.__version__,
        "celery": celery.__version__,
        "psycopg": psycopg.__version__,
        "postgresql": postgres,
        "rabbitmq": rabbitmq,
        "redis": redis_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- Scheduling -------------------------------------------------------------------------------


def empty_ticks(options: Options) -> dict:
    from scheduler import services

    durations = []
    for _ in range(options.empty_tick_runs):
        now = datetime.datetime.now(UTC)
        started = time.perf_counter()
        result = services.run_tick(now)
        durations.append((time.perf_counter() - started) * 1000)
        assert result.scheduled == 0 and result.published == 0, "the population must have nothing due"
    return {
        "users": options.users,
        "runs": len(durations),
        "p50_ms": round(percentile(durations, 50), 2),
        "p95_ms": round(percentile(durations, 95), 2),
        "max_ms": round(max(durations), 2),
    }


def tick(options: Options, size: int) -> dict:
    """A cohort of `size` occasions due at one instant; one tick materialises and publishes them."""
    from scheduler import services

    purge_queues()
    now = datetime.datetime.now(UTC)
    due_at = seed.next_due_instant(now)
    ids = seed.add_cohort(size, due_at, now)
    try:
        started = time.perf_counter()
        result = services.run_tick(due_at)
        seconds = time.perf_counter() - started
    finally:
        purge_queues()
        seed.remove_users(ids)
    return {
        "due": size,
        "scheduled": result.scheduled,
        "published": result.published,
        "seconds": round(seconds, 3),
        "messages_per_s": round(result.published / seconds, 1),
    }


# --- Delivery ---------------------------------------------------------------------------------


class Simulator:
    def __init__(self, procs: ProcessGroup, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.proc = procs.start(
            [sys.executable, "-m", "devtools.vendor_simulator", "--port", str(port)], "simulator", role="simulator",
            ready_text="listening on",
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def prepare(self, latency_ms: float) -> None:
        self.http.post("/_simulator/reset").raise_for_status()
        self.http.post("/_simulator/config", json={"latency_ms": latency_ms}).raise_for_status()

    def accepted_count(self) -> int:
        return self.http.get("/_simulator/stats").json()["accepted"]

    def accepted(self) -> list[dict]:
        return self.http.get("/_simulator/accepted").json()


def delivery(options: Options, procs: ProcessGroup, simulator: Simulator, latency_ms: int, processes: int,
             scrape_worker_metrics: bool = False, intervals: tuple[int, int] = (1, 1)) -> dict:
    """Due → tick (beat, in a worker) → RabbitMQ → worker → vendor, for a cohort due at one instant.

    Every process runs with the same CLOCK_OFFSET_SECONDS, placing the cohort's due instant
    `due_lead_s` after the processes start; lateness is vendor acceptance − due_at on that clock.
    `intervals` are the beat's tick and dispatcher periods in seconds (production: 60 and 5).
    """
    from .procs import Usage

    from messaging.models import Message

    count = options.deliveries
    purge_queues()
    simulator.prepare(latency_ms)
    real_now = datetime.datetime.now(UTC)
    due_at = seed.next_due_instant(real_now)
    offset = (due_at - real_now).total_seconds() - options.due_lead_s
    ids = seed.add_cohort(count, due_at, real_now)
    env = {
        "CLOCK_OFFSET_SECONDS": repr(offset),
        "SCHEDULER_TICK_SECONDS": str(intervals[0]),
        "DISPATCH_INTERVAL_SECONDS": str(intervals[1]),
    }
    worker = beat = None
    result: dict = {"vendor_latency_ms": latency_ms, "worker_processes": processes, "messages": count,
                    "delivery_concurrency": options.delivery_concurrency,
                    "delivery_batch_size": options.delivery_batch_size,
                    "tick_seconds": intervals[0], "dispatch_seconds": intervals[1]}
    try:
        worker = procs.celery("worker", env, concurrency=processes)
        beat = procs.celery("beat", env)
        due_real = real_now + datetime.timedelta(seconds=options.due_lead_s)
        result["ready_before_due"] = datetime.datetime.now(UTC) < due_real
        deadline = time.monotonic() + options.delivery_timeout_s
        with Usage([worker, beat]) as usage:
            while simulator.accepted_count() < count and time.monotonic() < deadline:
                time.sleep(0.25)
        result.update(usage.per(count, "message"))
        if scrape_worker_metrics:
            result["worker_metrics"] = scrape(f"http://127.0.0.1:{options.worker_metrics_port}/metrics",
                                              options.metrics_scrapes)
        keys = {str(k) for k in Message.objects.filter(user_id__gte=ids.start, user_id__lt=ids.stop)
                .values_list("idempotency_key", flat=True)}
        accepted = [a for a in simulator.accepted() if a["idempotency_key"] in keys]
    finally:
        for proc in (beat, worker):
            if proc is not None:
                procs.stop(proc)
        purge_queues()
    lateness = [
        (datetime.datetime.fromisoformat(a["accepted_at"]) - due_real).total_seconds() for a in accepted
    ]
    seed.remove_users(ids)
    result["accepted"] = len(accepted)
    if len(accepted) < count:
        result["incomplete"] = True
    if lateness:
        last = max(lateness)
        result.update(
            seconds_due_to_last_acceptance=round(last, 3),
            messages_per_s=round(len(accepted) / last, 1) if last > 0 else math.inf,
            sending_window_s=round(last - min(lateness), 3),
            lateness_p50_s=round(percentile(lateness, 50), 3),
            lateness_p95_s=round(percentile(lateness, 95), 3),
            lateness_p99_s=round(percentile(lateness, 99), 3),
        )
    return result


# --- API and metrics ----------------------------------------------------------------------------


def scrape(url: str, times: int) -> dict:
    durations, series, size = [], 0, 0
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(times):
                started = time.perf_counter()
                response = client.get(url)
                durations.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                lines = [line for line in response.text.splitlines() if line and not line.startswith("#")]
                series, size = len(lines), len(response.content)
    except (httpx.HTTPError, OSError) as exc:
        return {"url": url, "available": False, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "url": url,
        "available": True,
        "scrapes": len(durations),
        "p50_ms": round(percentile(durations, 50), 2),
        "p95_ms": round(percentile(durations, 95), 2),
        "max_ms": round(max(durations), 2),
        "series": series,
        "bytes": size,
    }


def api(options: Options, procs: ProcessGroup) -> tuple[dict, dict]:
    """POST and GET at `api_rate` offered by the open-loop generator, at the default throttle."""
    from apiauth import services as tokens

    from . import compare
    from .procs import Usage

    gunicorn = compare.start_api(procs, options.api_port)
    token, raw = tokens.create_token(f"bench-{int(time.time() * 1000)}")
    rng = random.Random(3)
    specs = compare.api_specs("python", options.api_port, [raw], [rng.randint(1, options.users) for _ in range(20_000)])
    try:
        results = {"server": "gunicorn -c python:birthday.gunicorn_config (defaults: API_WORKERS, API_THREADS)",
                   "load_generator": f"bench/loadgen.py, open loop at {options.api_rate} req/s, default API throttle"}
        for name, endpoint in (("post_user", "post"), ("get_user", "get")):
            spec = dict(specs[endpoint], mode="open", rate=options.api_rate, seconds=options.api_seconds, connections=512)
            with Usage([gunicorn]) as usage:
                result = compare.load(spec)
            result.update(usage.per(result["completed"], "request"), target_rps=options.api_rate,
                          requests=result["completed"], socket_errors=sum(result["errors"].values()))
            results[name] = result
        metrics = {"api": scrape(f"http://127.0.0.1:{options.api_port}/metrics", options.metrics_scrapes)}
    finally:
        procs.stop(gunicorn)
        tokens.revoke_token(token)
        seed.remove_users(email_like="%@api.bench.example")
    return results, metrics


# --- The whole run ------------------------------------------------------------------------------


def run(options: Options) -> dict:
    options.work_dir.mkdir(parents=True, exist_ok=True)
    procs = ProcessGroup(child_env(options), options.work_dir / "logs")
    report: dict = {"date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
                    "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(options).items()
                                if k not in ("work_dir", "quiet")}}
    try:
        report["machine"] = machine()
        say(options, f"seeding {options.users} users")
        report["seed"] = seed.seed_population(options.users, datetime.datetime.now(UTC), quiet=options.quiet)
        if "tick" in options.sections:
            say(options, "tick with nothing due")
            report["tick"] = {"nothing_due": empty_ticks(options)}
            for size in options.tick_sizes:
                say(options, f"tick with {size} due")
                report["tick"][f"due_{size}"] = tick(options, size)
        metrics: dict = {}
        if "delivery" in options.sections:
            simulator = Simulator(procs, options.simulator_port)
            report["delivery"] = []
            scenarios = [(lat, n) for lat in options.vendor_latencies_ms for n in options.worker_processes]
            for i, (latency_ms, processes) in enumerate(scenarios):
                say(options, f"delivery of {options.deliveries}: vendor latency {latency_ms} ms, "
                             f"{processes} worker process(es)")
                outcome = delivery(options, procs, simulator, latency_ms, processes, scrape_worker_metrics=i == 0)
                if "worker_metrics" in outcome:
                    metrics["worker"] = outcome.pop("worker_metrics")
                report["delivery"].append(outcome)
                say(options, f"  {outcome.get('messages_per_s')} messages/s, p99 lateness {outcome.get('lateness_p99_s')} s")
        if "api" in options.sections:
            say(options, f"API at {options.api_rate} requests/s")
            report["api"], api_metrics = api(options, procs)
            metrics = {**api_metrics, **metrics}
        report["metrics"] = metrics
    finally:
        procs.stop_all()
        report["memory"] = procs.memory.report()
        if "machine" in report:
            report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = targets(report)
    return report


def targets(report: dict) -> list[dict]:
    def best(latency):
        # Default settings only: WORKER_CONCURRENCY's default processes, the default thread pool.
        rates = [d.get("messages_per_s", 0) for d in report.get("delivery", []) if d["vendor_latency_ms"] == latency
                 and d["worker_processes"] == DEFAULT_WORKER_PROCESSES
                 and d["delivery_concurrency"] == settings.DELIVERY_CONCURRENCY
                 and d["delivery_batch_size"] == settings.DELIVERY_BATCH_SIZE and d.get("tick_seconds", 1) == 1]
        return max(rates) if rates else None

    ticks = [v["messages_per_s"] for k, v in report.get("tick", {}).items() if k.startswith("due_")]
    api_p99 = [report.get("api", {}).get(k, {}).get("p99_ms") for k in ("post_user", "get_user")]
    scrapes = [m.get("p95_ms") for m in report.get("metrics", {}).values() if m.get("available")]
    rows = [
        ("tick, messages enqueued/s (slowest due set, publish-only)", ">=", 5000, min(ticks) if ticks else None),
        ("tick with nothing due, ms (p50)", "<", 50, report.get("tick", {}).get("nothing_due", {}).get("p50_ms")),
        ("delivery at 0 ms vendor latency, messages/s (default settings)", ">=", 1000, best(0)),
        ("delivery at 100 ms vendor latency, messages/s (default settings)", ">=", 500, best(100)),
        ("API p99 at the target rate, ms (worst of POST and GET)", "<", 50,
         max(api_p99) if all(v is not None for v in api_p99) else None),
        ("/metrics scrape, ms (p95, worst endpoint)", "<", 100, max(scrapes) if scrapes else None),
        ("worker RSS, MB (largest process)", "<", 200,
         report.get("memory", {}).get("worker", {}).get("peak_rss_mb_largest_process")),
    ]
    out = []
    for name, op, target, measured in rows:
        met = None if measured is None else (measured >= target if op == ">=" else measured < target)
        out.append({"target": name, "goal": f"{op} {target}", "measured": measured, "met": met})
    return out
