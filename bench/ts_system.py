"""The TypeScript system (fairyhunter13/happy-bday-app) run from a checkout the user gives, for
`bin/bench compare`: installed and built there with npm, pointed at the same PostgreSQL server
(its own database), RabbitMQ (its own vhost), Redis (its own db number) and the same vendor
simulator, all on 127.0.0.1. Nothing of it is kept in this repository; `bench/ts_driver.mjs`
imports its scheduler modules from the checkout at run time.

Its settings are its defaults except: NODE_ENV=production (JSON logs, no pretty-printer),
RATE_LIMIT_ENABLED=false (its default allows 10 creates a minute; its own load tests switch it
off the same way), its three cron jobs off (the benchmark calls them itself), and the worker's
QUEUE_CONCURRENCY=10 (the value of its own performance compose file; the default is 5).
"""

from __future__ import annotations

import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import psycopg

DRIVER = Path(__file__).resolve().parent / "ts_driver.mjs"
WORKER_CONCURRENCY = 10
ZONES = ["UTC", "Europe/London", "Asia/Kolkata", "America/New_York", "Australia/Sydney", "Asia/Tokyo",
         "Europe/Berlin", "America/Los_Angeles", "Africa/Cairo", "America/Sao_Paulo"]


class Unavailable(RuntimeError):
    """The other system cannot be run here; the message says why."""


def _run(args, cwd, env=None, timeout=900, what=""):
    try:
        out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise Unavailable(f"{what or args[0]}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise Unavailable(f"{what or args[0]} did not finish in {timeout}s") from exc
    if out.returncode != 0:
        raise Unavailable(f"{what or ' '.join(args)} failed ({out.returncode}): {(out.stderr or out.stdout)[-1500:]}")
    return out.stdout


class TSSystem:
    def __init__(self, checkout: Path, *, database_url: str, broker_url: str, redis_url: str, vendor_url: str,
                 api_port: int, log_dir: Path, say=print):
        self.checkout = Path(checkout).resolve()
        self.say = say
        self.log_dir = log_dir
        db = urllib.parse.urlsplit(database_url)
        self.db_name = db.path.lstrip("/") + "_ts"
        self.admin_url = urllib.parse.urlunsplit(db._replace(path="/postgres"))
        self.database_url = urllib.parse.urlunsplit(db._replace(path=f"/{self.db_name}"))
        broker = urllib.parse.urlsplit(broker_url)
        self.vhost = (urllib.parse.unquote(broker.path.lstrip("/")) or "birthday") + "_ts"
        redis = urllib.parse.urlsplit(redis_url or "redis://127.0.0.1:6379/0")
        redis_db = (int(redis.path.lstrip("/") or 0) + 1) % 16
        self.api_port = api_port
        user = db.username or "postgres"
        self.env = dict(
            os.environ,
            NODE_ENV="production", HOST="127.0.0.1", PORT=str(api_port), LOG_LEVEL="info",
            DATABASE_URL=self._with_password(self.database_url), DATABASE_HOST=db.hostname or "127.0.0.1",
            DATABASE_PORT=str(db.port or 5432), DATABASE_USER=user, DATABASE_PASSWORD=db.password or "unused",
            DATABASE_NAME=self.db_name,
            RABBITMQ_URL=urllib.parse.urlunsplit(broker._replace(scheme="amqp", path="/" + urllib.parse.quote(self.vhost, safe=""))),
            RABBITMQ_HOST=broker.hostname or "127.0.0.1", RABBITMQ_PORT=str(broker.port or 5672),
            RABBITMQ_USER=broker.username or "guest", RABBITMQ_PASSWORD=broker.password or "guest", RABBITMQ_VHOST=self.vhost,
            REDIS_URL=urllib.parse.urlunsplit(redis._replace(path=f"/{redis_db}")), REDIS_HOST=redis.hostname or "127.0.0.1",
            REDIS_PORT=str(redis.port or 6379), REDIS_DB=str(redis_db),
            EMAIL_SERVICE_URL=vendor_url,
            RATE_LIMIT_ENABLED="false",
            CRON_DAILY_ENABLED="false", CRON_MINUTE_ENABLED="false", CRON_RECOVERY_ENABLED="false",
            METRICS_PORT=str(api_port + 6),
        )
        for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH"):
            self.env.pop(name, None)
        self.module_root = self.checkout / "dist" / "src"

    @staticmethod
    def _with_password(url: str) -> str:
        # Its settings insist on a password; a trust-authenticated local server ignores it.
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            return url
        netloc = f"{parts.username or 'postgres'}:unused@{parts.hostname}:{parts.port or 5432}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    # --- Preparation ----------------------------------------------------------------------------

    def prepare(self) -> dict:
        """Install, build, create its database and vhost, migrate. Raises Unavailable with the reason."""
        if not (self.checkout / "package.json").exists():
            raise Unavailable(f"{self.checkout} is not a checkout of the TypeScript system (no package.json)")
        for tool in ("node", "npm"):
            if shutil.which(tool) is None:
                raise Unavailable(f"{tool} is not installed")
        info = {"checkout": str(self.checkout), "node": _run(["node", "--version"], self.checkout).strip()}
        try:
            info["commit"] = _run(["git", "rev-parse", "--short", "HEAD"], self.checkout).strip()
        except Unavailable:
            info["commit"] = "unknown"
        if not (self.checkout / "node_modules").is_dir():
            self.say("TypeScript system: npm ci (first run: several minutes)")
            _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], self.checkout, timeout=1800, what="npm ci")
        if not (self.module_root / "index.js").exists():
            self.say("TypeScript system: npm run build")
            _run(["npm", "run", "build"], self.checkout, timeout=1800, what="npm run build")
        self._create_database()
        self._create_vhost()
        self.say("TypeScript system: migrations")
        # Its migrate script applies the Drizzle migrations, then fails in its partition step on
        # this driver version (it reads `.rows` of a postgres.js result); the schema is complete.
        out = subprocess.run(["node", str(self.module_root / "db" / "migrate.js")], cwd=self.checkout, env=self.env,
                             capture_output=True, text=True, timeout=300)
        if "Drizzle migrations completed" not in out.stdout:
            raise Unavailable(f"its migrations failed: {(out.stderr or out.stdout)[-1500:]}")
        return info

    def _create_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.db_name]).fetchone():
                conn.execute(f'CREATE DATABASE "{self.db_name}"')

    def _create_vhost(self) -> None:
        if shutil.which("rabbitmqctl") is None:
            return  # the vhost must exist already
        listed = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True).stdout.split()
        if self.vhost not in listed:
            _run(["rabbitmqctl", "-q", "add_vhost", self.vhost], self.checkout, what="rabbitmqctl add_vhost")
            _run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"], self.checkout,
                 what="rabbitmqctl set_permissions")

    def connect(self):
        return psycopg.connect(self.database_url)

    # --- Data -----------------------------------------------------------------------------------

    def seed_population(self, count: int, now: datetime.datetime, quiet_days: int = 3, seed: int = 1) -> dict:
        """`count` users with no birthday within `quiet_days` of today: nothing of them falls due."""
        started = time.perf_counter()
        rng = random.Random(seed)
        quiet = {(now.date() + datetime.timedelta(days=d)).timetuple()[1:3] for d in range(-quiet_days, quiet_days + 1)}
        ids = []
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("TRUNCATE message_logs, users CASCADE")
            with cur.copy("COPY users (id, first_name, last_name, email, timezone, birthday_date) FROM STDIN") as copy:
                for n in range(count):
                    while True:
                        day = datetime.date(rng.randint(1950, 2000), 1, 1) + datetime.timedelta(days=rng.randrange(365))
                        if (day.month, day.day) not in quiet:
                            break
                    user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                    if len(ids) < 20_000:
                        ids.append(str(user_id))
                    copy.write_row((user_id, f"First{n}", f"Last{n}", f"user{n}@bench.example", ZONES[n % len(ZONES)], day))
            conn.commit()
            cur.execute("ANALYZE users")
            conn.commit()
        self.sample_ids = ids
        return {"users": count, "seconds": round(time.perf_counter() - started, 2)}

    def add_cohort(self, count: int, *, status: str | None, tag: str, now: datetime.datetime) -> list[str]:
        """`count` users whose birthday is today in UTC (so its daily job picks them), optionally
        each with a message row already in `status`. Emails end in @{tag}.example."""
        rng = random.Random(hash(tag) & 0xFFFF)
        users = [(uuid.uuid4(), f"Due{n}", f"Cohort{n}", f"due{n}@{tag}.example", "UTC",
                  now.date().replace(year=rng.randint(1950, 2000)) if (now.month, now.day) != (2, 29) else datetime.date(1996, 2, 29))
                 for n in range(count)]
        with self.connect() as conn, conn.cursor() as cur:
            with cur.copy("COPY users (id, first_name, last_name, email, timezone, birthday_date) FROM STDIN") as copy:
                for row in users:
                    copy.write_row(row)
            if status:
                with cur.copy("COPY message_logs (user_id, message_type, message_content, scheduled_send_time, status, "
                              "idempotency_key) FROM STDIN") as copy:
                    for user_id, first, last, *_ in users:
                        copy.write_row((user_id, "BIRTHDAY", f"Hey, {first} {last} it's your birthday", now, status,
                                        f"{user_id}:BIRTHDAY:{now.date()}"))
            conn.commit()
        return [str(u[0]) for u in users]

    def remove_cohort(self, tag: str) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM message_logs WHERE user_id IN (SELECT id FROM users WHERE email LIKE %s)", [f"%@{tag}.example"])
            conn.execute("DELETE FROM users WHERE email LIKE %s", [f"%@{tag}.example"])
            conn.commit()

    def remove_api_users(self) -> None:
        with self.connect() as conn:
            conn.execute("DELETE FROM users WHERE email LIKE %s", ["%@api.bench.example"])
            conn.commit()

    def move_scheduled_into_window(self, tag: str) -> None:
        """Its minute job takes SCHEDULED rows due in the coming hour; its daily job put them at
        09:00 local, which on the run's clock may have passed: move them 10 minutes ahead."""
        with self.connect() as conn:
            conn.execute("UPDATE message_logs SET scheduled_send_time = now() + interval '10 minutes' WHERE status = 'SCHEDULED' "
                         "AND user_id IN (SELECT id FROM users WHERE email LIKE %s)", [f"%@{tag}.example"])
            conn.commit()

    # --- Processes ------------------------------------------------------------------------------

    def driver(self, command: str, arg: str = "", timeout: float = 900) -> dict:
        args = ["node", str(DRIVER), str(self.module_root), command] + ([arg] if arg else [])
        log = open(self.log_dir / f"ts-driver-{command}.log", "a")
        try:
            out = subprocess.run(args, cwd=self.checkout, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True,
                                 timeout=timeout)
        finally:
            log.close()
        lines = [line for line in out.stdout.splitlines() if line.startswith("BENCH_JSON ")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"ts driver {command} failed ({out.returncode}); see {self.log_dir}")
        return json.loads(lines[-1].removeprefix("BENCH_JSON "))

    def start_api(self, procs):
        proc = procs.start(["node", str(self.module_root / "index.js")], "ts-api", role="ts-api", extra_env=self.env,
                           cwd=self.checkout, clean_env=True)
        _wait_http(f"http://127.0.0.1:{self.api_port}/health", proc, procs)
        return proc

    def start_workers(self, procs, count: int):
        env = dict(self.env, QUEUE_CONCURRENCY=str(WORKER_CONCURRENCY))
        workers = [procs.start(["node", str(self.module_root / "worker.js")], "ts-worker", role="ts-worker", extra_env=env,
                               cwd=self.checkout, clean_env=True, ready_text="Worker is running", timeout=120)
                   for _ in range(count)]
        return workers


def _wait_http(url: str, proc, procs, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early:\n{procs.output(proc)[-3000:]}")
        time.sleep(0.3)
    raise RuntimeError(f"{proc.name} not answering {url} in {timeout}s:\n{procs.output(proc)[-3000:]}")


if __name__ == "__main__":  # pragma: no cover - a manual check: python -m bench.ts_system CHECKOUT
    system = TSSystem(Path(sys.argv[1]), database_url=os.environ["DATABASE_URL"], broker_url=os.environ["CELERY_BROKER_URL"],
                      redis_url=os.environ.get("REDIS_URL", ""), vendor_url="http://127.0.0.1:9", api_port=18100,
                      log_dir=Path("/tmp"))
    print(system.prepare())
