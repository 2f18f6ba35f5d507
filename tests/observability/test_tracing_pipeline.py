"""One message followed across processes: the tick in this process, the delivery in a real
prefork worker over the real RabbitMQ, the vendor call over HTTP. The worker exports over
OTLP/HTTP to a receiver this test runs; this process keeps its spans in memory."""

import gzip
import http.server
import json
import signal
import threading

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode

from messaging.models import Message
from core.refs import user_ref
from observability import request_id, tracing
from core import calendar, clock
from scheduler.services import run_tick
from tests.conftest import wait_until
from tests.factories import make_user


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: decodes each export into plain dicts."""

    def __init__(self):
        self.spans: list[dict] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver._store(ExportTraceServiceRequest.FromString(body))
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def _store(self, request: ExportTraceServiceRequest) -> None:
        decoded = []
        for resource_spans in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    decoded.append({
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "name": span.name,
                        "kind": span.kind,
                        "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
                        "events": [(e.name, {kv.key: _value(kv.value) for kv in e.attributes}) for e in span.events],
                        "status": (span.status.code, span.status.message),
                        "links": [(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        "resource": resource,
                        "scope": scope_spans.scope.name,
                    })
        with self._lock:
            self.requests += 1
            self.spans.extend(decoded)

    def in_trace(self, trace_id: str) -> list[dict]:
        with self._lock:
            return [span for span in self.spans if span["trace_id"] == trace_id]


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


# Protobuf SpanKind numbers (the OTLP enum is offset by one from the API's).
OTLP_CONSUMER = 5


@pytest.fixture
def receiver():
    server = OtlpReceiver().start()
    yield server
    server.stop()


def in_memory_exporter() -> InMemorySpanExporter:
    """This process's spans, kept in memory. The global provider can be set once per process,
    so later callers add their exporter to the provider already installed."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider(resource=tracing.build_resource("pytest"), sampler=ALWAYS_ON))
        provider = trace.get_tracer_provider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans():
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    exporter = in_memory_exporter()
    instrumentor = CeleryInstrumentor()
    instrumentor.instrument()
    yield exporter
    instrumentor.uninstrument()
    exporter.clear()


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


@pytest.mark.django_db(transaction=True)
def test_a_delivered_message_is_one_trace_across_processes(settings, simulator, purge_queues, receiver, spans, processes):
    settings.SEND_HOUR = 0
    now = clock.now()
    user = make_user(birthday=calendar.local_today("UTC", now).replace(year=1990), timezone="UTC")
    worker = processes.worker(queues="deliveries", concurrency=1, extra_env={
        "SEND_HOUR": "0",
        "OTEL_SERVICE_NAME": "birthday-worker-test",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        # Nothing leaves on the timer during the test: the spans must arrive through the
        # flush a clean shutdown does.
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
    })

    with request_id.bound("e2e-req-1"):
        result = run_tick()
    assert result.published == 1

    local = {span.name: span for span in spans.get_finished_spans()}
    tick, dispatch, publish = local["scheduler.tick"], local["messaging.dispatch"], local["apply_async/messaging.deliver"]
    trace_id = _hex(tick.context.trace_id, 32)
    assert tick.parent is None
    assert dispatch.parent.span_id == tick.context.span_id
    assert publish.parent.span_id == dispatch.context.span_id and publish.kind is SpanKind.PRODUCER
    assert {span.context.trace_id for span in (tick, dispatch, publish)} == {tick.context.trace_id}

    wait_until(lambda: Message.objects.filter(user=user, status="sent").exists(), timeout=30, message="message sent")
    assert receiver.in_trace(trace_id) == []
    processes.kill(worker, signal.SIGTERM)
    worker.wait(timeout=20)

    remote = receiver.in_trace(trace_id)
    by_id = {span["span_id"]: span for span in remote}
    (consume,) = [span for span in remote if span["name"] == "run/messaging.deliver"]
    assert consume["kind"] == OTLP_CONSUMER
    assert consume["parent_span_id"] == _hex(publish.context.span_id, 16)
    assert consume["resource"]["service.name"] == "birthday-worker-test"
    assert consume["resource"]["birthday.process.role"] == "worker"

    # The delivery itself is the message's own trace (its idempotency key), linked to the batch
    # that carried it in the tick's trace.
    message_trace = Message.objects.get(user=user).idempotency_key.hex
    own = receiver.in_trace(message_trace)
    own_by_id = {span["span_id"]: span for span in own}
    assert not [span for span in remote if span["name"] == "messaging.delivery_attempt"]
    (attempt,) = [span for span in own if span["name"] == "messaging.delivery_attempt"]
    (batch,) = [span for span in remote if span["name"] == "messaging.deliver_batch"]
    assert attempt["parent_span_id"] is None and attempt["links"] == [(trace_id, batch["span_id"])]
    # The vendor client speaks http.client on its own connections (no client instrumentation):
    # the attempt span carries the call's answer.
    assert attempt["attributes"]["http.response.status_code"] == 200
    assert attempt["attributes"]["vendor.name"] == settings.VENDOR_NAME
    assert attempt["attributes"]["message.outcome"] == "sent"
    assert attempt["status"][0] != StatusCode.ERROR.value

    # Nothing in the trace names the recipient.
    assert user.email not in json.dumps(remote + own)

    def correlated_log_line():
        for raw in processes.output(worker).splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if (line.get("trace_id"), line.get("span_id") in by_id) == (trace_id, True) or \
                        (line.get("trace_id"), line.get("span_id") in own_by_id) == (message_trace, True):
                    return line
        return None

    line = correlated_log_line()
    assert line is not None, "no worker log line inside the trace"
    assert line["request_id"] == "e2e-req-1"
    assert line["service"] == "birthday-worker-test"
    assert user.email not in processes.output(worker)


def test_an_otlp_export_arrives_whole(receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "birthday-export-test")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    provider = tracing.build_tracer_provider("manage")
    tracer = provider.get_tracer("tests.otlp")
    with tracer.start_as_current_span("scheduler.tick") as root:
        for number in range(50):
            with tracer.start_as_current_span("messaging.delivery_attempt") as span:
                span.set_attribute("message.id", number)
                span.set_attribute("user.ref", user_ref(number))
                span.add_event("message_created", {"message.id": number})
        try:
            with tracer.start_as_current_span("messaging.delivery_attempt"):
                raise RuntimeError("vendor down")
        except RuntimeError:
            pass
    provider.shutdown()

    received = receiver.in_trace(_hex(root.get_span_context().trace_id, 32))
    assert len(received) == 52
    attempts = sorted((s for s in received if "message.id" in s["attributes"]), key=lambda s: s["attributes"]["message.id"])
    assert [s["attributes"]["message.id"] for s in attempts] == list(range(50))
    assert attempts[7]["attributes"]["user.ref"] == user_ref(7)
    assert attempts[7]["events"] == [("message_created", {"message.id": 7})]
    assert all(s["parent_span_id"] == _hex(root.get_span_context().span_id, 16) for s in attempts)
    (failed,) = [s for s in received if s["status"][0] == StatusCode.ERROR.value]
    assert "vendor down" in failed["status"][1]
    assert [name for name, _ in failed["events"]] == ["exception"]
    assert received[0]["resource"]["service.name"] == "birthday-export-test"
    assert received[0]["resource"]["deployment.environment"]
