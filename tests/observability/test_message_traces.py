"""Traces per message (issue 15 item 7): every attempt at a message, retries included, is one
trace; each attempt links to the batch (and so the tick or dispatch) that carried it; a batch's
trace holds no per-message spans, so a tick's trace does not grow with its messages."""

import datetime

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from messaging import delivery
from messaging.models import Message
from observability import tracing
from core import clock
from scheduler import services
from tests.factories import make_user
from tests.queues import drain_task_args

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spans(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = tracing.build_tracer_provider("worker", environ={}, exporters=[exporter])
    monkeypatch.setattr(delivery, "tracer", provider.get_tracer("messaging.delivery"))
    yield exporter, provider.get_tracer("test")
    provider.shutdown()


def due_messages(count: int) -> list[Message]:
    now = clock.now()
    for _ in range(count):
        make_user(birthday=now.date().replace(year=1990), now=now - datetime.timedelta(days=1))
    services.run_tick()
    drain_task_args()
    return list(Message.objects.order_by("id"))


def test_a_retry_is_in_the_first_attempts_trace_and_links_to_its_batch(spans, simulator, purge_queues, settings):
    settings.SEND_HOUR = 0
    exporter, tracer = spans
    [message] = due_messages(1)
    simulator.configure(error_rate=1.0)
    with tracer.start_as_current_span("first dispatch") as first_batch:
        delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert message.status == "retry"
    Message.objects.filter(pk=message.pk).update(status="queued")  # as the dispatcher would
    simulator.configure(error_rate=0.0)
    with tracer.start_as_current_span("later dispatch") as second_batch:
        delivery.deliver_batch([message.id])
    message.refresh_from_db()
    assert message.status == "sent"

    attempts = [s for s in exporter.get_finished_spans() if s.name == "messaging.delivery_attempt"]
    assert len(attempts) == 2
    assert {s.context.trace_id for s in attempts} == {message.idempotency_key.int}
    assert all(s.parent is None for s in attempts)
    batch_traces = {first_batch.get_span_context().trace_id, second_batch.get_span_context().trace_id}
    assert message.idempotency_key.int not in batch_traces
    linked = [{link.context.trace_id for link in s.links} for s in attempts]
    assert linked == [{first_batch.get_span_context().trace_id}, {second_batch.get_span_context().trace_id}]


def test_a_batch_trace_holds_no_span_per_message(spans, simulator, purge_queues, settings):
    settings.SEND_HOUR = 0
    exporter, tracer = spans
    messages = due_messages(6)
    with tracer.start_as_current_span("dispatch") as batch:
        delivery.deliver_batch([m.id for m in messages])
    finished = exporter.get_finished_spans()
    in_batch_trace = [s.name for s in finished if s.context.trace_id == batch.get_span_context().trace_id]
    assert "messaging.delivery_attempt" not in in_batch_trace
    assert len(in_batch_trace) <= 3, in_batch_trace  # the test's span and deliver_batch, whatever the batch size
    traces = {s.context.trace_id for s in finished if s.name == "messaging.delivery_attempt"}
    assert traces == {m.idempotency_key.int for m in messages}
