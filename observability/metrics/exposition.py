"""How each service exposes its metrics.

- API (gunicorn): `/metrics` (metrics_view) in whichever worker answers, aggregating every
  worker through the multiprocess directory.
- Celery worker: an HTTP server on WORKER_METRICS_PORT in the main process (started at
  worker_init), aggregating the pool processes through the worker's multiprocess directory.
- Celery beat: an HTTP server on BEAT_METRICS_PORT (started at beat_init); beat, the one
  singleton, also owns the deployment-wide figures in fleet.py.

Every registry answers in the Prometheus text format, or OpenMetrics when the scraper asks for
it. All three apply the same access rules (access.py: METRICS_ALLOWED_CIDRS,
METRICS_BASIC_AUTH).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from celery import signals
from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from . import access, initial, multiproc, runtime, summary

log = logging.getLogger(__name__)


class ServiceCollector:
    """Everything this service's processes recorded (prometheus_client's MultiProcessCollector
    when there is a multiprocess directory), plus the Summary's quantiles, which the client
    does not compute."""

    def describe(self):
        return []

    def collect(self):
        directory = multiproc.active_dir()
        if directory:
            source = MultiProcessCollector(None, directory)
        else:
            source = REGISTRY
        quantiles = summary.PROCESSING.quantile_samples()
        for metric in source.collect():
            if directory is None and metric.name.startswith(("process_", "python_")):
                # The client's default collectors, which only a single-process registry has:
                # RuntimeCollector covers the process tree, nodejs_gc_duration_seconds the GC.
                continue
            if metric.name == summary.PROCESSING.name and metric.type == "summary":
                metric.samples = list(metric.samples) + quantiles
            yield metric


class FleetRefresh:
    """Brings the deployment-wide gauges up to date just before they are read."""

    def describe(self):
        return []

    def collect(self):
        from django.db import connection

        from . import fleet

        try:
            fleet.refresh()
        finally:
            # Each scrape is served by a new thread: its connection goes back to the pool now,
            # or every scrape would keep one until the pool is exhausted.
            connection.close()
        return []


_registries: dict[str, CollectorRegistry] = {}
_lock = threading.Lock()


def registry_for(service: str) -> CollectorRegistry:
    with _lock:
        if service not in _registries:
            registry = CollectorRegistry(auto_describe=False)
            if service == "beat":
                registry.register(FleetRefresh())
            if service in ("worker", "local"):
                from .external import BreakerCollector

                registry.register(BreakerCollector())
            registry.register(ServiceCollector())
            registry.register(runtime.RuntimeCollector(network=service in ("beat", "local")))
            _registries[service] = registry
        return _registries[service]


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


@csrf_exempt  # no session, cookie or form: a scrape is a read, and other methods get a 405
def metrics_view(request):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"], content_type="text/plain; charset=utf-8")
    refused = access.refusal(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_AUTHORIZATION"))
    if refused is not None:
        response = HttpResponse(status=refused, content_type="text/plain; charset=utf-8")
        if refused == 401:
            response["WWW-Authenticate"] = access.CHALLENGE
        return response
    body, content_type = render(registry_for(multiproc.current_service()), request.META.get("HTTP_ACCEPT"))
    return HttpResponse(body, content_type=content_type)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # scrapes every few seconds would flood stderr
        pass


def start_server(port: int, addr: str, registry: CollectorRegistry) -> ThreadingWSGIServer:
    """prometheus_client's start_http_server, with the access rules in front of the registry."""

    class Server(ThreadingWSGIServer):
        address_family = socket.getaddrinfo(addr or None, port, type=socket.SOCK_STREAM)[0][0]

    httpd = make_server(addr, port, access.guard_wsgi(make_wsgi_app(registry)), Server, handler_class=_QuietHandler)
    threading.Thread(target=httpd.serve_forever, name=f"metrics-{port}", daemon=True).start()
    return httpd


def serve(port: int, service: str) -> ThreadingWSGIServer | None:
    try:
        httpd = start_server(port, settings.METRICS_BIND_ADDRESS, registry_for(service))
    except OSError as exc:
        # A busy port must not stop the worker from delivering messages.
        log.error("metrics: cannot listen on port %s for %s: %s", port, service, exc)
        return None
    log.info("metrics: %s serving /metrics on port %s", service, port)
    return httpd


# --- per-process initialisation ------------------------------------------------------------------


def initialise_process(service: str) -> None:
    """Series that exist from the start, so a scrape shows them (at 0) before their first event,
    and the probes whose threads a fork does not carry over."""
    runtime.start_process_probes()
    initial.initialise(service)


@signals.worker_init.connect(dispatch_uid="metrics.exposition.worker_init")
def _worker_init(**kwargs):
    initialise_process("worker")
    serve(settings.WORKER_METRICS_PORT, "worker")


@signals.worker_process_init.connect(dispatch_uid="metrics.exposition.worker_process_init")
def _worker_process_init(**kwargs):
    from . import database

    database.forget_inherited_pools()
    initialise_process("worker")


@signals.beat_init.connect(dispatch_uid="metrics.exposition.beat_init")
def _beat_init(**kwargs):
    os.environ[runtime.ROOT_PID_ENV] = str(os.getpid())
    initialise_process("beat")
    serve(settings.BEAT_METRICS_PORT, "beat")
