"""Data of its own for each pytest-xdist worker (bin/test runs two).

Loaded as a plugin (`-p tests.isolation`, pyproject's addopts), so it runs when pytest reads its
options, before Django reads its settings. In worker `gwN`:

* the database: pytest-django already names it `test_<name>_gwN`;
* Redis: db `base - N` (bin/test: 15 for gw0, 14 for gw1), since tests flush theirs;
* RabbitMQ: vhost `<vhost>-gwN`, created here, since tests purge its queues and the workers a
  test starts must consume only that test's tasks;
* fixed metrics ports (WORKER_METRICS_PORT, BEAT_METRICS_PORT), if set, moved up by 10 * N.

Without xdist (one process) nothing changes.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

from tests.environment import DEVELOPMENT_REDIS_DB, check_rabbitmq, redis_db, vhost


def worker_index() -> int | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def isolated(env: dict, index: int) -> dict:
    """The settings of worker `index`, from the run's."""
    out = {}
    redis = env.get("REDIS_URL", "")
    if redis.startswith(("redis://", "rediss://")):
        db = redis_db(redis) - index
        if db <= DEVELOPMENT_REDIS_DB:
            raise RuntimeError(f"REDIS_URL {redis}: worker gw{index} would use Redis db {db}; start from a higher db")
        out["REDIS_URL"] = urlunsplit(urlsplit(redis)._replace(path=f"/{db}"))
    broker = env.get("CELERY_BROKER_URL", "")
    if broker.startswith(("amqp://", "amqps://", "pyamqp://")):
        name = quote(f"{vhost(broker)}-gw{index}", safe="")
        out["CELERY_BROKER_URL"] = urlunsplit(urlsplit(broker)._replace(path=f"/{name}"))
    for variable in ("WORKER_METRICS_PORT", "BEAT_METRICS_PORT"):
        if env.get(variable):
            out[variable] = str(int(env[variable]) + 10 * index)
    return out


def _isolate() -> None:
    index = worker_index()
    if index is None:
        return
    os.environ.update(isolated(os.environ, index))
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if broker.startswith(("amqp://", "amqps://", "pyamqp://")):
        problem = check_rabbitmq(broker)  # creates the worker's vhost
        if problem:
            raise RuntimeError(problem)


_isolate()
