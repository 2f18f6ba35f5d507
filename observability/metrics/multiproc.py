"""The prometheus multiprocess directory of this process's service.

Imported by settings (and gunicorn_config.py) before prometheus_client is: the client picks
file-backed values at import time when PROMETHEUS_MULTIPROC_DIR is set, so the variable has to
be in place first. Nothing here may import prometheus_client or Django.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Services whose metrics come from more than one process (gunicorn workers, prefork children).
MULTIPROCESS_SERVICES = ("api", "worker")


def default_dir(service: str, var_dir: Path, pid: int | None = None) -> Path:
    """One directory per running service instance (its starting process's pid), so two
    workers or two API servers on one host never empty or sum each other's files."""
    return Path(var_dir) / "metrics" / f"{service}-{pid or os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_dirs(service: str, var_dir: Path) -> None:
    """Drop the directories of instances that are gone: their counts ended with them."""
    root = Path(var_dir) / "metrics"
    if not root.is_dir():
        return
    for entry in root.glob(f"{service}-*"):
        suffix = entry.name.rsplit("-", 1)[-1]
        if entry.is_dir() and suffix.isdigit() and not _alive(int(suffix)):
            shutil.rmtree(entry, ignore_errors=True)


def prepare(directory: Path) -> Path:
    """Empty the directory: a fresh start of the service starts its counters from zero, and
    files of processes from an earlier run must not be summed into this one."""
    directory = Path(directory)
    if directory.exists():
        for entry in directory.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def configure(service: str | None, var_dir: Path, environ=os.environ) -> Path | None:
    """Point this service at its multiprocess directory and clean it, once, in the process that
    starts the service (before it forks). Returns the directory, or None for single-process use.

    An operator-set PROMETHEUS_MULTIPROC_DIR is used as given (and still cleaned at start).
    """
    if service is None:
        return None
    environ["BIRTHDAY_METRICS_SERVICE"] = service
    configured = environ.get(ENV)
    if configured:
        directory = Path(configured)
    elif service in MULTIPROCESS_SERVICES:
        remove_stale_dirs(service, var_dir)
        directory = default_dir(service, var_dir)
        environ[ENV] = str(directory)
    else:
        return None
    return prepare(directory)


def active_dir() -> str | None:
    return os.environ.get(ENV) or None


def current_service() -> str:
    return os.environ.get("BIRTHDAY_METRICS_SERVICE", "local")
