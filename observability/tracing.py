"""Distributed tracing: the one place the OpenTelemetry SDK is set up.

Everything comes from the standard OTEL_* environment variables. Tracing is off unless an
exporter or an OTLP endpoint is named (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true turns it off regardless.

The SDK starts an exporter thread, and threads do not survive fork(): each process that runs
work sets tracing up itself, after any fork (`telemetry_hooks` does this for gunicorn workers,
Celery prefork children and beat; manage.py for its commands).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from importlib import metadata

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from core.traces import MessageTraceIds

log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "birthday"
# Health probes and Prometheus scrapes arrive every few seconds and say nothing about users.
DEFAULT_EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"
DEFAULT_SAMPLE_RATIO = 1.0

_ENABLING_VARIABLES = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_TRUE = {"1", "true", "yes", "on"}

_lock = threading.Lock()
_provider: TracerProvider | None = None
_provider_pid: int | None = None


def tracing_enabled(environ=None) -> bool:
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    if _exporter_names(environ) == []:
        return False
    return any(environ.get(name, "").strip() for name in _ENABLING_VARIABLES)


def _exporter_names(environ) -> list[str]:
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    return [name.strip() for name in raw.split(",") if name.strip() and name.strip() != "none"]


def _environment(environ) -> str:
    return environ.get("BIRTHDAY_ENV", "").strip() or "development"


def service_version() -> str:
    try:
        return metadata.version("birthday")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_resource(role: str, environ=None) -> Resource:
    """service.name / service.version / deployment.environment / service.instance.id, as the
    monitoring plan lists them, plus the process role. OTEL_SERVICE_NAME and
    OTEL_RESOURCE_ATTRIBUTES override these defaults."""
    environ = os.environ if environ is None else environ
    hostname = environ.get("HOSTNAME") or socket.gethostname() or "unknown"
    environment = _environment(environ)
    defaults = {
        "service.name": DEFAULT_SERVICE_NAME,
        "service.version": service_version(),
        "deployment.environment": environment,
        "deployment.environment.name": environment,
        # Prefork children share a host name: the pid keeps their spans apart.
        "service.instance.id": f"{hostname}-{os.getpid()}",
        "host.name": hostname,
        "process.pid": os.getpid(),
        "birthday.process.role": role,
    }
    # The detector reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES from the process.
    return Resource.create(defaults).merge(OTELResourceDetector().detect())


def build_sampler(environ=None) -> sampling.Sampler:
    """Parent-based ratio sampling by default: a delivery is kept exactly when the tick or the
    request that caused it was. The ratio is OTEL_TRACES_SAMPLER_ARG, default 1.0: the
    collector samples by tail (every error, every slow trace, a share of the rest), which only
    works if the processes send it everything. Without such a collector, 0.1 is the plan's
    head-based setting."""
    environ = os.environ if environ is None else environ
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_traceidratio"
    default_ratio = DEFAULT_SAMPLE_RATIO
    raw_ratio = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    try:
        ratio = float(raw_ratio) if raw_ratio else default_ratio
    except ValueError:
        log.warning("OTEL_TRACES_SAMPLER_ARG=%r is not a number; using %s", raw_ratio, default_ratio)
        ratio = default_ratio
    ratio = min(1.0, max(0.0, ratio))
    factories = {
        "always_on": lambda: sampling.ALWAYS_ON,
        "always_off": lambda: sampling.ALWAYS_OFF,
        "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": lambda: sampling.ParentBased(sampling.ALWAYS_OFF),
        "parentbased_traceidratio": lambda: sampling.ParentBased(sampling.TraceIdRatioBased(ratio)),
    }
    if name not in factories:
        log.warning("OTEL_TRACES_SAMPLER=%r is not supported; using parentbased_traceidratio", name)
        name = "parentbased_traceidratio"
    return factories[name]()


def _otlp_exporter(environ) -> SpanExporter:
    # gRPC unless told otherwise, as the Python distro does: the deployments point
    # OTEL_EXPORTER_OTLP_ENDPOINT at the collector's gRPC port (4317).
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    ).strip().lower()
    if protocol.startswith("http"):
        # http/json is not implemented by the Python exporter; both http values get protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def build_tracer_provider(role: str, environ=None, exporters: list[SpanExporter] | None = None) -> TracerProvider:
    """A provider with the resource, sampler and exporters the environment asks for.

    `exporters` replaces the environment's choice (tests pass an in-memory exporter)."""
    environ = os.environ if environ is None else environ
    provider = TracerProvider(resource=build_resource(role, environ), sampler=build_sampler(environ),
                              id_generator=MessageTraceIds())
    if exporters is not None:
        for exporter in exporters:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider
    for name in _exporter_names(environ):
        if name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(environ)))
        elif name == "console":
            # Synchronous, so a span prints next to the log lines it belongs with.
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
        else:
            log.warning("OTEL_TRACES_EXPORTER=%r is not supported (use otlp, console or none)", name)
    return provider


def excluded_urls(environ=None) -> str:
    environ = os.environ if environ is None else environ
    return (
        environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS")
        or environ.get("OTEL_PYTHON_EXCLUDED_URLS")
        or DEFAULT_EXCLUDED_URLS
    )


def instrument_libraries(role: str, provider: TracerProvider | None = None) -> None:
    """Auto-instrumentation: Celery (context travels in the message headers), psycopg, httpx,
    redis everywhere; Django where requests are served."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    kwargs = {"tracer_provider": provider} if provider is not None else {}
    for instrumentor in (CeleryInstrumentor(), PsycopgInstrumentor(), HTTPXClientInstrumentor(), RedisInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**kwargs)
    if role in {"api", "manage"}:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        django_instrumentor = DjangoInstrumentor()
        if not django_instrumentor.is_instrumented_by_opentelemetry:
            django_instrumentor.instrument(excluded_urls=excluded_urls(), request_hook=mask_request_url, **kwargs)


_URL_ATTRIBUTES = ("http.target", "http.url", "url.full", "url.query")


def mask_request_url(span, request) -> None:
    """A caller can put anything in a query string, an address included; the span keeps the
    URL with those masked as in the logs."""
    from urllib.parse import unquote

    from .logging import mask

    if not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            # Query strings arrive percent-encoded (ann%40example.com).
            decoded = unquote(value)
            masked = mask(decoded)
            if masked != decoded:
                span.set_attribute(name, masked)


def configure_tracing(role: str) -> TracerProvider | None:
    """Sets up tracing for this process once; returns the provider, or None when tracing is off."""
    global _provider, _provider_pid
    if not tracing_enabled():
        return None
    with _lock:
        if _provider is not None and _provider_pid == os.getpid():
            return _provider
        provider = build_tracer_provider(role)
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            # The global provider is set once per process; a second call must not instrument
            # against a provider nobody exports from.
            log.warning("tracing was already configured in this process; keeping the first setup")
            return None
        instrument_libraries(role)
        _provider, _provider_pid = provider, os.getpid()
    log.info("tracing enabled", extra={"otel_role": role, "otel_exporters": _exporter_names(os.environ)})
    return provider


def shutdown_tracing() -> None:
    """Flushes buffered spans and stops the exporter thread (idempotent)."""
    global _provider
    with _lock:
        provider, _provider = _provider, None
    if provider is not None and _provider_pid == os.getpid():
        provider.shutdown()

