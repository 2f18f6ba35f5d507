"""Shared fixtures. Integration tests run on the real PostgreSQL, RabbitMQ and Redis named by
DATABASE_URL, CELERY_BROKER_URL and REDIS_URL (bin/test sets local defaults)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hypothesis
import pytest

from bench.procs import die_with_parent
from core.queues import WORKER_QUEUES

ROOT = Path(__file__).resolve().parent.parent


# Fixtures that reach PostgreSQL, RabbitMQ, Redis or start the system's processes: a test that
# uses one (directly or through another fixture) is an integration test.
SERVICE_FIXTURES = frozenset({
    "db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
    "live_server", "admin_client", "admin_user", "django_user_model",
    "service_env", "processes", "simulator", "purge_queues", "private_stack",
})


def needs_services(item) -> bool:
    if item.get_closest_marker("django_db") or item.get_closest_marker("chaos"):
        return True
    return not SERVICE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config, items):
    """`-m "not integration"` is the service-free subset: mark every test that needs a service,
    whether the module says so or a fixture implies it."""
    for item in items:
        if needs_services(item) and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session):
    """An integration run never flushes or purges a developer's own data (tests/environment.py)."""
    from tests.environment import isolation_problems

    if any(item.get_closest_marker("integration") for item in session.items):
        problems = isolation_problems(dict(os.environ))
        if problems:
            pytest.exit("refusing to run integration tests: " + "; ".join(problems), returncode=4)


def pytest_configure(config):
    from django.conf import settings

    # Property tests: a few hundred examples in the quick service-free run, thousands in the full
    # run; HYPOTHESIS_PROFILE picks one explicitly.
    quick = "not integration" in (config.option.markexpr or "")
    hypothesis.settings.register_profile("quick", max_examples=200, deadline=None)
    hypothesis.settings.register_profile("thorough", max_examples=2500, deadline=None)
    hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("quick" if quick else "thorough"))

    # Static files are collected by bin/run; tests serve none, but the static-files middleware
    # expects the folder to exist.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _service_free(request, monkeypatch):
    """A test outside the `integration` marker may not start a program (the system's processes,
    promtool, Chromium...): the subset must run with nothing but Python and the repository.
    Threads, sockets on loopback and multiprocessing stay allowed."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(self, args, *a, **kw):
        raise AssertionError(f"{request.node.nodeid} starts {args!r}: mark it @pytest.mark.integration")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(autouse=True)
def _close_hot_path_connections():
    """The API's hot path keeps a connection per thread (birthday/hot_path/); none may outlive
    a test, or the test database could not be dropped at the end of the run."""
    yield
    hot_path = sys.modules.get("birthday.hot_path")
    if hot_path is not None:
        hot_path.close_connections()


@pytest.fixture(autouse=True)
def _clear_cache(request):
    """Each integration test starts with an empty cache (throttles, circuit breaker, token cache).
    Service-free tests do not touch the configured cache: they get a fresh in-memory one."""
    if request.node.get_closest_marker("integration"):
        from django.core.cache import cache

        cache.clear()
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}
    yield


@pytest.fixture
def service_env(django_db_blocker, settings):
    """Environment for a child process (worker, beat, API) that shares this test's database."""
    from django.db import connection

    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + db_name
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="birthday.settings",
        VENDOR_BASE_URL=settings.VENDOR_BASE_URL,
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def purge_queues():
    from birthday.celery import app

    def purge():
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            for queue in app.conf.task_queues:
                try:
                    queue(channel).purge()
                except Exception:  # queue not declared yet: nothing to purge
                    conn = app.connection_for_write()
                    channel = conn.default_channel

    purge()
    yield purge
    purge()


class ProcessGroup:
    """Child processes (workers, beats) a test starts; all are killed at the end."""

    def __init__(self, env, tmp_path):
        self.env = env
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def start(self, args, name, extra_env=None, ready_text=None, timeout=60):
        log = open(self.tmp_path / f"{name}-{len(self.procs)}.log", "w+")
        env = dict(self.env, **(extra_env or {}))
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        proc.log = log  # type: ignore[attr-defined]
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        if ready_text:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                log.seek(0)
                if ready_text in log.read():
                    return proc
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{name} exited early:\n{log.read()[-4000:]}")
                time.sleep(0.2)
            log.seek(0)
            raise RuntimeError(f"{name} not ready in {timeout}s:\n{log.read()[-4000:]}")
        return proc

    def worker(self, name="worker", queues=WORKER_QUEUES, concurrency=2, extra_env=None):
        args = [sys.executable, "-m", "celery", "-A", "birthday", "worker", "-Q", queues,
                "-c", str(concurrency), "-n", f"{name}-{len(self.procs)}@%h", "--loglevel=INFO",
                "--without-gossip", "--without-mingle"]
        return self.start(args, name, extra_env, ready_text="ready.")

    def beat(self, name="beat", extra_env=None):
        schedule = self.tmp_path / f"beat-{len(self.procs)}"
        args = [sys.executable, "-m", "celery", "-A", "birthday", "beat", "--loglevel=INFO", "-s", str(schedule)]
        return self.start(args, name, extra_env, ready_text="beat: Starting")

    def output(self, proc) -> str:
        proc.log.seek(0)
        return proc.log.read()

    def kill(self, proc, sig=signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, *procs, timeout=15):
        """SIGTERM (a worker's warm shutdown: running tasks finish), then wait for the exits;
        SIGKILL what is still there at the deadline. Once a worker has exited, nothing it
        started can still reach the vendor, so a test can then assert "exactly once"."""
        for proc in procs:
            if proc.poll() is None:
                self.kill(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(proc, signal.SIGKILL)
                proc.wait()

    def stop_all(self):
        self.stop(*self.procs)


@pytest.fixture
def processes(service_env, tmp_path):
    group = ProcessGroup(service_env, tmp_path)
    yield group
    group.stop_all()


def wait_until(predicate, timeout=60.0, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


@pytest.fixture
def simulator(settings):
    """The vendor simulator on a free port; this process and child processes send to it."""
    from messaging import vendor
    from devtools.vendor_simulator import VendorSimulator

    sim = VendorSimulator(port=0, seed=1234).start()
    settings.VENDOR_BASE_URL = sim.url
    vendor.reset_client()
    yield sim
    sim.stop()
    vendor.reset_client()


@pytest.fixture
def token(db) -> str:
    """A fresh integrator token (the raw secret)."""
    from apiauth import services as token_services

    _, raw = token_services.create_token("tests")
    return raw


@pytest.fixture
def api(token):
    """An API client that authenticates with a bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
