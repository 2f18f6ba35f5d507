"""Tracing setup from the standard OTEL_* variables."""

import json
import os
import subprocess
import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from core.refs import user_ref
from observability import tracing
from tests.conftest import ROOT

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "BIRTHDAY_ENV",
    "OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS",
)


@pytest.fixture
def otel_env(monkeypatch):
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "variables, enabled",
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "birthday"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_off_unless_an_exporter_or_endpoint_is_named(variables, enabled):
    assert tracing.tracing_enabled(variables) is enabled


def test_configure_does_nothing_when_off(otel_env):
    assert tracing.configure_tracing("manage") is None


def _decision(sampler, parent_sampled=None, trace_id=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF):
    parent = None
    if parent_sampled is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
        parent = trace.set_span_in_context(
            NonRecordingSpan(SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=flags))
        )
    return sampler.should_sample(parent, trace_id, "span").decision.is_sampled()


def test_default_sampler_is_parent_based_ratio(otel_env):
    otel_env.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    sampler = tracing.build_sampler()
    assert "ParentBased" in sampler.get_description() and "TraceIdRatioBased{0.0}" in sampler.get_description()
    # A root is dropped at ratio 0, but a delivery whose tick was sampled is kept.
    assert _decision(sampler) is False
    assert _decision(sampler, parent_sampled=True) is True
    assert _decision(sampler, parent_sampled=False) is False


def test_ratio_comes_from_the_sampler_argument(otel_env):
    # Everything by default: the collector's tail sampling needs every error to reach it.
    otel_env.setenv("BIRTHDAY_ENV", "production")
    assert "TraceIdRatioBased{1.0}" in tracing.build_sampler().get_description()
    otel_env.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    assert "TraceIdRatioBased{0.1}" in tracing.build_sampler().get_description()
    otel_env.setenv("OTEL_TRACES_SAMPLER_ARG", "lots")
    assert "TraceIdRatioBased{1.0}" in tracing.build_sampler().get_description()
    otel_env.setenv("OTEL_TRACES_SAMPLER_ARG", "7")
    assert "TraceIdRatioBased{1.0}" in tracing.build_sampler().get_description()


def test_named_samplers_are_honoured(otel_env):
    otel_env.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert _decision(tracing.build_sampler(), parent_sampled=True) is False
    otel_env.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    assert _decision(tracing.build_sampler()) is True
    otel_env.setenv("OTEL_TRACES_SAMPLER", "nonsense")
    assert "ParentBased" in tracing.build_sampler().get_description()


def test_resource_has_the_plans_attributes(otel_env):
    otel_env.setenv("BIRTHDAY_ENV", "staging")
    otel_env.setenv("HOSTNAME", "pod-7")
    attributes = tracing.build_resource("worker").attributes
    assert attributes["service.name"] == "birthday"
    assert attributes["service.version"] == tracing.service_version()
    assert attributes["deployment.environment"] == "staging"
    assert attributes["service.instance.id"].startswith("pod-7-")
    assert attributes["birthday.process.role"] == "worker"


def test_resource_environment_variables_win(otel_env):
    otel_env.setenv("OTEL_SERVICE_NAME", "birthday-canary")
    otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=eu-prod,team=sre")
    attributes = tracing.build_resource("api").attributes
    assert attributes["service.name"] == "birthday-canary"
    assert attributes["deployment.environment"] == "eu-prod"
    assert attributes["team"] == "sre"


def test_console_exporter_writes_finished_spans(otel_env, capsys):
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = tracing.build_tracer_provider("manage")
    with provider.get_tracer(__name__).start_as_current_span("scheduler.tick"):
        pass
    provider.shutdown()
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "scheduler.tick"
    assert out["resource"]["attributes"]["service.name"] == "birthday"


def test_otlp_grpc_is_the_default_exporter_and_http_is_selectable(otel_env):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    provider = tracing.build_tracer_provider("api")
    (processor,) = provider._active_span_processor._span_processors
    assert isinstance(processor, BatchSpanProcessor)
    assert isinstance(processor._batch_processor._exporter, GrpcExporter)
    provider.shutdown()
    otel_env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    provider = tracing.build_tracer_provider("api")
    (processor,) = provider._active_span_processor._span_processors
    assert isinstance(processor._batch_processor._exporter, HttpExporter)
    provider.shutdown()


def test_explicit_exporters_replace_the_environment(otel_env):
    otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    memory = InMemorySpanExporter()
    provider = tracing.build_tracer_provider("manage", exporters=[memory])
    (processor,) = provider._active_span_processor._span_processors
    assert isinstance(processor, SimpleSpanProcessor)
    with provider.get_tracer(__name__).start_as_current_span("x"):
        pass
    assert [span.name for span in memory.get_finished_spans()] == ["x"]


def test_health_and_metrics_urls_are_excluded_by_default(otel_env):
    from opentelemetry.util.http import parse_excluded_urls

    excluded = parse_excluded_urls(tracing.excluded_urls())
    for url in ("http://api/healthz", "http://api/readyz", "http://api/metrics"):
        assert excluded.url_disabled(url)
    assert not excluded.url_disabled("http://api/user")
    assert not excluded.url_disabled("http://api/user/metrics-fan")
    otel_env.setenv("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "/internal")
    assert tracing.excluded_urls() == "/internal"


def test_user_ref_is_a_stable_keyed_hash(settings):
    import hashlib
    import hmac
    import re

    ref = user_ref(42)
    assert re.fullmatch(r"[0-9a-f]{16}", ref), ref
    # Keyed with SECRET_KEY: without the key the id cannot be recovered from the reference.
    assert ref == hmac.new(settings.SECRET_KEY.encode(), b"user:42", hashlib.sha256).hexdigest()[:16]
    assert ref != hashlib.sha256(b"user:42").hexdigest()[:16]
    assert user_ref(42) == ref
    assert user_ref("42") == ref
    assert user_ref(43) != ref
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-xxxxxxxxxxxxxxxxxxx"
    assert user_ref(42) != ref


_PROVIDER_OF_THE_PROCESS = (
    "from opentelemetry import trace; from observability import tracing; "
    "print(type(trace.get_tracer_provider()).__name__, tracing._provider_pid is not None)"
)


@pytest.mark.integration  # a child process
@pytest.mark.parametrize("exporter, expected", [("console", "TracerProvider True"), ("none", "ProxyTracerProvider False")])
def test_a_management_command_sets_tracing_up_when_asked(exporter, expected):
    """manage.py names its process and sets tracing up before the command runs; tests (pytest
    loads Django without manage.py) set up their own exporters."""
    environ = {**os.environ, "OTEL_TRACES_EXPORTER": exporter, "OTEL_SDK_DISABLED": "false"}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", _PROVIDER_OF_THE_PROCESS],
                            cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == expected
