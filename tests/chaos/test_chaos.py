"""The bounded chaos run: thousands of due messages across a hundred-odd time zones delivered
through a faulty vendor while workers are SIGKILLed, the broker and the database restart, and
two beats run. Afterwards the vendor must have accepted every due message exactly once.

It runs on a private PostgreSQL and RabbitMQ (see private_services.py) because it restarts
them. Its figures go to VAR_DIR/chaos-report.json; docs/reliability.md quotes them.
"""

import collections
import datetime
import json
import os
import random
import signal
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from devtools.vendor_simulator import VendorSimulator
from tests.conftest import ProcessGroup, wait_until
from tests.support import FAST, due_within, duplicates, spread_zones

from .conftest import SUMMARY
from .private_services import free_port

pytestmark = pytest.mark.chaos

SEED = int(os.environ.get("CHAOS_SEED", "20240607"))
USERS = 2400
ZONES = 120
FINAL_WAVE = 200
SEND_HOUR = 9
KILL_EVERY_SECONDS = 3.0
MIN_KILLS = 10
# Restarts are triggered by progress, not by the clock, so they always hit deliveries in flight
# however fast or slow the machine is.
RABBIT_RESTART_AT_DONE = 0.15
POSTGRES_RESTART_AT_DONE = 0.40
DRAIN_TIMEOUT = 150.0
# The default retry budget (time, not a count): the faults are a brown-out below the breaker's
# threshold at default attempt settings.
CHILD_ENV = dict(FAST, SEND_HOUR=str(SEND_HOUR))
TERMINAL = ("sent", "failed", "dead", "expired")
# One SIGKILL of a worker can lose at most what its pool children had committed but not yet
# counted: the metrics move in on_commit callbacks, a moment after the database commit.
MAX_UNCOUNTED_PER_KILL = 2 * settings.DELIVERY_BATCH_SIZE


def seed_users(db_url: str, wave: str, count: int, zones: list[str], now: datetime.datetime) -> dict:
    """Users whose birthday's SEND_HOUR fell in the last 20 hours in their zone, with their
    occasion rows due: what the scheduler holds after a normal day. Returns {email: text}."""
    expected = {}
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        users, occasions = [], []
        for i in range(count):
            zone = zones[i % len(zones)]
            local_date = due_within(zone, now - datetime.timedelta(hours=20), now, SEND_HOUR)
            if local_date is None:  # no SEND_HOUR in that window in this zone today (DST edge)
                local_date = due_within(zone, now - datetime.timedelta(hours=26), now, SEND_HOUR)
            first, last = f"Chaos{wave}{i}", f"Zone{zones.index(zone)}"
            email = f"{wave}-{i}@chaos.example.com"
            birthday = local_date.replace(year=1960 + 4 * (i % 11))  # leap years: 29 Feb too
            users.append((first, last, email, birthday, zone, now, now))
            expected[email] = f"Hey, {first} {last} it's your birthday"
            occasions.append((email, local_date, _due(local_date, zone)))
        cur.executemany(
            "INSERT INTO users_user (first_name, last_name, email, birthday, timezone, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)", users)
        cur.executemany(
            "INSERT INTO scheduler_occasion (user_id, kind, local_date, due_at) "
            "SELECT id, 'birthday', %s, %s FROM users_user WHERE email = %s",
            [(local_date, due_at, email) for email, local_date, due_at in occasions])
    return expected


def _due(local_date, zone):
    from core import calendar

    return calendar.due_instant(local_date, zone, SEND_HOUR)


def db_counts(db_url: str) -> dict:
    with psycopg.connect(db_url, connect_timeout=3) as conn:
        rows = conn.execute("SELECT status, count(*) FROM messaging_message GROUP BY status").fetchall()
    return dict(rows)


def terminal_count(db_url: str) -> int:
    try:
        counts = db_counts(db_url)
    except psycopg.OperationalError:
        return 0
    return sum(n for status, n in counts.items() if status in TERMINAL)


def unfinished(db_url: str, limit: int = 20) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT id, status, attempts, failures, dispatch_after, lease_expires_at, last_error "
            "FROM messaging_message WHERE status NOT IN ('sent', 'failed', 'dead', 'expired') LIMIT %s",
            [limit]).fetchall()


def metric_totals(families) -> collections.Counter:
    """Sample name → value summed over labels (and over processes, in multiprocess mode)."""
    totals = collections.Counter()
    for family in families:
        for sample in family.samples:
            totals[sample.name] += sample.value
    return totals


def multiprocess_totals(directories: list[Path]) -> collections.Counter:
    totals = collections.Counter()
    for directory in directories:
        if directory.exists() and any(directory.glob("*.db")):
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(directory))
            totals += metric_totals(registry.collect())
    return totals


def scrape(port: int) -> collections.Counter:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return metric_totals(text_string_to_metric_families(response.read().decode()))


class Workers:
    """Worker incarnations, each with its own metrics port and multiprocess directory, so the
    counters of a SIGKILLed incarnation stay on disk (a restart would otherwise clear them)."""

    def __init__(self, group: ProcessGroup, root: Path):
        self.group = group
        self.root = root
        self.incarnations: list[tuple[object, int, Path]] = []

    def start(self, name: str):
        port = free_port()
        directory = self.root / f"{name}-{len(self.incarnations)}"
        proc = self.group.worker(name=name, concurrency=2, extra_env=dict(
            CHILD_ENV, WORKER_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(directory)))
        self.incarnations.append((proc, port, directory))
        return proc

    def directories(self) -> list[Path]:
        return [directory for _proc, _port, directory in self.incarnations]


def test_chaos_every_due_message_is_accepted_exactly_once(private_stack, tmp_path):
    postgres, rabbit = private_stack
    rng = random.Random(SEED)
    db_url = postgres.create_database("chaos", template="birthday_template")
    simulator = VendorSimulator(port=0, seed=SEED).start()
    env = dict(os.environ, DATABASE_URL=db_url, CELERY_BROKER_URL=rabbit.url, VENDOR_BASE_URL=simulator.url,
               DJANGO_SETTINGS_MODULE="birthday.settings", PYTHONUNBUFFERED="1",
               BIRTHDAY_VAR_DIR=str(tmp_path / "var"))
    group = ProcessGroup(env, tmp_path)
    workers = Workers(group, tmp_path / "metrics")
    report: dict = {"seed": SEED}
    try:
        zones = spread_zones(ZONES)
        now = datetime.datetime.now(datetime.UTC)
        expected = seed_users(db_url, "a", USERS, zones, now)
        simulator.configure(error_rate=0.30, timeout_rate=0.10, rate_limit_rate=0.05, retry_after=1,
                            hang_seconds=1.5, hang_after_accept_ratio=0.5)

        started = time.monotonic()
        beats = [group.beat(name="beat", extra_env=dict(CHILD_ENV, BEAT_METRICS_PORT=str(free_port())))
                 for _ in range(2)]
        live = {name: workers.start(name) for name in ("w1", "w2")}

        # Chaos: a SIGKILL every few seconds, one broker restart and one database restart, each
        # recorded with how many messages were still outstanding (a fault after the work is
        # done proves nothing).
        faults: list[dict] = []
        kills, last_kill = 0, time.monotonic()
        # Kills are paced by the clock and by progress: a fast machine (or slow restarts, which
        # hold the loop) could otherwise drain the work before half the kills had any to cut.
        kill_milestones = [n / (MIN_KILLS + 1) for n in range(1, MIN_KILLS + 1)]
        while True:
            elapsed = time.monotonic() - started
            outstanding = USERS - terminal_count(db_url)
            done = 1 - outstanding / USERS
            if rabbit.restarts == 0 and done >= RABBIT_RESTART_AT_DONE:
                rabbit.restart()
                faults.append({"fault": "rabbitmq_restart", "at": round(elapsed, 1), "outstanding": outstanding})
            elif postgres.restarts == 0 and done >= POSTGRES_RESTART_AT_DONE:
                postgres.restart()
                faults.append({"fault": "postgres_restart", "at": round(elapsed, 1), "outstanding": outstanding})
            elif time.monotonic() - last_kill >= KILL_EVERY_SECONDS or (
                    outstanding and kill_milestones and done >= kill_milestones[0]):
                if kill_milestones and done >= kill_milestones[0]:
                    kill_milestones.pop(0)
                name = rng.choice(sorted(live))
                group.kill(live[name], signal.SIGKILL)
                live[name].wait()
                kills += 1
                faults.append({"fault": "worker_sigkill", "at": round(elapsed, 1), "outstanding": outstanding})
                live[name] = workers.start(name)
                last_kill = time.monotonic()
            if kills >= MIN_KILLS and rabbit.restarts and postgres.restarts:
                break
            if outstanding == 0 and kills >= MIN_KILLS:
                break  # reported (and failed below) if a restart never found work in flight
            if elapsed > DRAIN_TIMEOUT:
                break
            time.sleep(0.2)
        chaos_seconds = time.monotonic() - started

        try:
            wait_until(lambda: terminal_count(db_url) == USERS, timeout=max(10.0, DRAIN_TIMEOUT - chaos_seconds),
                       interval=0.5, message=f"{USERS} messages finished")
        except AssertionError as stuck:
            raise AssertionError(f"{stuck}; statuses {db_counts(db_url)}; unfinished: {unfinished(db_url)}") from None
        drained_seconds = time.monotonic() - started
        simulator.configure(error_rate=0.0, timeout_rate=0.0, rate_limit_rate=0.0)
        # Warm shutdown of the chaos-phase workers: once they have exited, a late duplicate from
        # a lingering retry can no longer arrive, so the vendor's record is final.
        for proc in live.values():
            group.kill(proc, signal.SIGTERM)
            proc.wait(timeout=60)
        chaos_accepted = simulator.accepted()
        chaos_stats = simulator.stats()

        # Metrics, chaos phase: every incarnation's files, including the killed ones'.
        # `time_to_delivery` is observed once per row that became `sent`, after the commit, so it
        # can only fall short of the database, and only by what a SIGKILL cut off between the
        # commit and the callback. (`messages_sent_total` counts vendor 200 answers instead; a
        # worker that lost its lease to another still saw its 200, so it may exceed the rows.)
        chaos_metrics = multiprocess_totals(workers.directories())
        chaos_db = db_counts(db_url)

        # Metrics, final phase: fresh workers, a healthy vendor, no faults: their /metrics must
        # agree with the database exactly.
        final_workers = [workers.start(f"final{i}") for i in (1, 2)]
        final_ports = [port for _proc, port, _dir in workers.incarnations[-2:]]
        final_expected = seed_users(db_url, "b", FINAL_WAVE, zones, datetime.datetime.now(datetime.UTC))
        wait_until(lambda: terminal_count(db_url) == USERS + FINAL_WAVE, timeout=60, interval=0.5,
                   message=f"{FINAL_WAVE} final-wave messages finished")

        def final_scrape():
            return sum((scrape(port) for port in final_ports), collections.Counter())

        # The last batch's on_commit callbacks may still be running: poll until they are counted
        # (or the deadline passes; the assertions below then say what is missing).
        try:
            final_metrics = wait_until(
                lambda: (m := final_scrape())["birthday_scheduler_message_time_to_delivery_seconds_count"]
                >= FINAL_WAVE and m, timeout=15, interval=0.25, message="the final wave counted")
        except AssertionError:
            final_metrics = final_scrape()
        for proc in final_workers:
            assert proc.poll() is None, group.output(proc)[-3000:]

        with psycopg.connect(db_url) as conn:
            messages = conn.execute(
                "SELECT m.status, m.idempotency_key::text, u.email, m.attempts, m.failures, m.last_error "
                "FROM messaging_message m JOIN users_user u ON u.id = m.user_id").fetchall()
        accepted = simulator.accepted()
        dupes = duplicates(accepted)
        by_status = collections.Counter(row[0] for row in messages)
        unexplained = [row for row in messages if row[0] != "sent"]
        all_expected = dict(expected, **final_expected)
        missing = set(all_expected) - {a["email"] for a in accepted}

        report.update(
            messages=USERS, final_wave=FINAL_WAVE, zones=len(zones), beats=len(beats), worker_processes=2 * 2,
            faults_injected={
                "vendor_5xx": chaos_stats["outcomes"].get("server_error", 0),
                "vendor_timeouts": chaos_stats["outcomes"].get("hang_before_accept", 0)
                + chaos_stats["outcomes"].get("hang_after_accept", 0),
                "vendor_timeouts_after_accept": chaos_stats["outcomes"].get("hang_after_accept", 0),
                "vendor_429": chaos_stats["outcomes"].get("rate_limited", 0),
                "worker_sigkills": kills,
                "rabbitmq_restarts": rabbit.restarts,
                "postgres_restarts": postgres.restarts,
            },
            fault_timeline=faults,
            vendor_requests=chaos_stats["requests"],
            vendor_idempotent_replays=chaos_stats["duplicate_key_hits"],
            accepted=len(accepted),
            duplicates_by_key=len(dupes["by_key"]),
            duplicates_by_content=len(dupes["by_content"]),
            lost=len(missing),
            statuses=dict(by_status),
            max_attempts=max(row[3] for row in messages),
            seconds_to_drain=round(drained_seconds, 1),
            chaos_seconds=round(chaos_seconds, 1),
            metrics_chaos_phase={
                "db_sent": chaos_db.get("sent", 0),
                "time_to_delivery_count": chaos_metrics["birthday_scheduler_message_time_to_delivery_seconds_count"],
                "messages_sent_total": chaos_metrics["birthday_scheduler_messages_sent_total"],
                "messages_scheduled_total": chaos_metrics["birthday_scheduler_messages_scheduled_total"],
            },
            metrics_final_phase={
                "db_sent": FINAL_WAVE,
                "messages_sent_total": final_metrics["birthday_scheduler_messages_sent_total"],
                "time_to_delivery_count": final_metrics["birthday_scheduler_message_time_to_delivery_seconds_count"],
                "messages_failed_total": final_metrics["birthday_scheduler_messages_failed_total"],
            },
        )
        write_report(report)

        assert len(set(zones)) >= 100
        # Both beats must ride out the broker and database restarts, not just one of them.
        for beat in beats:
            assert beat.poll() is None, group.output(beat)[-3000:]
        assert rabbit.restarts == 1 and postgres.restarts == 1, faults
        assert all(f["outstanding"] > 0 for f in faults if f["fault"] != "worker_sigkill"), faults
        assert sum(f["outstanding"] > 0 for f in faults if f["fault"] == "worker_sigkill") >= MIN_KILLS // 2, faults
        assert dupes == {"by_key": {}, "by_content": {}}, dupes
        assert not unexplained, [(status, email, attempts, failures, error) for status, _key, email, attempts,
                                 failures, error in unexplained[:20]]
        assert len(messages) == USERS + FINAL_WAVE
        assert {a["idempotency_key"] for a in accepted} == {row[1] for row in messages}
        assert {(a["email"], a["message"]) for a in accepted} == set(all_expected.items())
        assert len(chaos_accepted) == USERS
        assert chaos_stats["outcomes"].get("server_error", 0) > 0 and chaos_stats["outcomes"].get("rate_limited", 0) > 0
        assert chaos_stats["outcomes"].get("hang_after_accept", 0) > 0

        chaos_phase = report["metrics_chaos_phase"]
        assert chaos_phase["db_sent"] == USERS
        shortfall = chaos_phase["db_sent"] - chaos_phase["time_to_delivery_count"]
        assert 0 <= shortfall <= kills * MAX_UNCOUNTED_PER_KILL, chaos_phase
        assert chaos_phase["messages_sent_total"] >= chaos_phase["time_to_delivery_count"], chaos_phase
        assert 0 <= USERS - chaos_phase["messages_scheduled_total"] <= kills * MAX_UNCOUNTED_PER_KILL, chaos_phase
        final_phase = report["metrics_final_phase"]
        assert final_phase["messages_sent_total"] == FINAL_WAVE, final_phase
        assert final_phase["time_to_delivery_count"] == FINAL_WAVE, final_phase
        assert final_phase["messages_failed_total"] == 0, final_phase
    finally:
        group.stop_all()
        simulator.stop()
        if report.get("messages"):
            SUMMARY.append("chaos: " + summary(report))


def write_report(report: dict) -> None:
    path = Path(settings.VAR_DIR) / "chaos-report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def summary(report: dict) -> str:
    faults = report["faults_injected"]
    return (f"{report['messages']} messages in {report['zones']} zones (+{report['final_wave']} after the faults), "
            f"{report['accepted']} accepted; "
            f"vendor 5xx={faults['vendor_5xx']} timeouts={faults['vendor_timeouts']} 429={faults['vendor_429']}; "
            f"SIGKILLs={faults['worker_sigkills']} rabbitmq restarts={faults['rabbitmq_restarts']} "
            f"postgres restarts={faults['postgres_restarts']}; duplicates={report['duplicates_by_key']} "
            f"lost={report['lost']}; drained in {report['seconds_to_drain']}s (seed {report['seed']})")
