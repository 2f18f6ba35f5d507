"""gunicorn settings for the API: `gunicorn birthday.wsgi -c python:birthday.gunicorn_config` (a module, so
the installed image, which has no source tree, finds it too)."""

import os

bind = os.environ.get("API_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("API_WORKERS", "2"))
threads = int(os.environ.get("API_THREADS", "4"))
# gthread, plus JSON bodies for the errors gunicorn answers itself (birthday/server.py).
worker_class = "birthday.server.ThreadWorker"
logger_class = "birthday.server.AccessLogger"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
# gunicorn 25.1+ opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# every API server of that user on the machine would take over from the one before; the API is
# managed by its signals (TERM: graceful stop, HUP: reload, TTIN/TTOU: worker count).
control_socket_disable = True

# --- Logs and traces (observability) ----------------------------------------------------------
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from observability.logging import build_logging  # noqa: E402

# gunicorn's own lines (master and workers) in the same JSON format as the application's.
logconfig_dict = build_logging(
    debug=os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"},
    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    environment=os.environ.get("BIRTHDAY_ENV") or "development",
)
# One JSON access line per request, with its request_id and trace_id (birthday/server.py);
# API_ACCESS_LOG=false drops them.
if os.environ.get("API_ACCESS_LOG", "true").lower() in {"0", "false", "no", "off"}:
    logconfig_dict["loggers"]["gunicorn.access"] = {"handlers": [], "propagate": False}


def post_fork(server, worker):
    # Tracing starts in each worker, never in the master: exporter threads do not survive fork.
    from observability.telemetry_hooks import gunicorn_post_fork

    gunicorn_post_fork(server, worker)


def worker_exit(server, worker):
    from observability.telemetry_hooks import gunicorn_worker_exit

    gunicorn_worker_exit(server, worker)


# --- Metrics ----------------------------------------------------------------------------------


def on_starting(server):
    # Before any worker exists: one clean multiprocess directory for all API workers, and the
    # master's pid as the root of the process tree the resource metrics add up.
    from pathlib import Path

    from observability.metrics import multiproc

    var_dir = Path(os.environ.get("BIRTHDAY_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
    multiproc.configure("api", var_dir)
    os.environ["BIRTHDAY_METRICS_ROOT_PID"] = str(os.getpid())


def child_exit(server, worker):
    # The dead worker's counters stay (they are history); its live gauges go.
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
