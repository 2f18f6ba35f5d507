"""A private PostgreSQL and RabbitMQ for the chaos run.

The chaos run restarts its database and broker; the shared servers on the standard ports serve
other test runs, so it never touches them. Both private servers keep their data in a temporary
directory, so a restart keeps the database and the durable quorum queues, as in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.environment import system_program
from tests.ports import free_port  # noqa: F401 (the chaos tests import it from here)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def _runuser() -> str:
    found = system_program("runuser")
    if found is None:
        raise RuntimeError("runuser (util-linux) is needed to start PostgreSQL as root")
    return found


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    # PostgreSQL refuses to run as root.
    prefix = [] if os.geteuid() != 0 else [_runuser(), "-u", "postgres", "--"]
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True, **kwargs)


class PrivatePostgres:
    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.restarts = 0

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-sync"])
        self.start()

    def start(self) -> None:
        # fsync off: the machine never crashes under this test, only the server process, and an
        # immediate stop still leaves the WAL in the page cache for crash recovery to replay.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                      "-o", options, "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def restart(self) -> None:
        """Kill the server the way a crash would (no checkpoint, connections cut), then start it."""
        self.stop("immediate")
        self.start()
        self.restarts += 1

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def teardown(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRabbit:
    def __init__(self, root: Path):
        self.root = root
        self.name = f"chaos-{os.getpid()}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.restarts = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict:
        env = dict(os.environ)
        # HOME holds this node's Erlang cookie, so the node and its rabbitmqctl agree on one
        # without touching any other node's cookie.
        env.update(
            HOME=str(self.root),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq.conf"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.root / "rabbit.pid"),
        )
        return env

    def init(self) -> None:
        for sub in ("mnesia", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # No plugins: no management listener to collide with the shared node's.
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        self.start()

    def start(self, timeout: float = 90) -> None:
        log = open(self.root / "log" / "console.log", "a")
        self.proc = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self._env(), cwd=self.root,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            # await_startup fails at once until the node has registered with epmd.
            done = self.ctl("await_startup", "--timeout", "30", check=False)
            if done.returncode == 0:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.name} did not start:\n{done.stdout}\n{done.stderr}")
            time.sleep(0.5)

    def ctl(self, *args, check=True) -> subprocess.CompletedProcess:
        return subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name, *args], env=self._env(),
                              capture_output=True, text=True, check=check, timeout=120)

    def stop(self) -> None:
        self.ctl("stop", check=False)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1

    def teardown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def make_root(prefix: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root
