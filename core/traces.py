"""One trace per message: every attempt at a message, retries included, has the message's
trace id (its idempotency key is a UUID, 128 bits, a trace id's size), so ratio sampling keeps
or drops all of them together. Delivery binds the message with `message_trace(key)`; the
tracer provider's id generator (`MessageTraceIds`) reads it when a root span starts."""

from __future__ import annotations

import contextlib
import contextvars
import uuid

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

_message_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("birthday_message_trace", default=None)


class MessageTraceIds(RandomIdGenerator):
    def generate_trace_id(self) -> int:
        return _message_trace_id.get() or super().generate_trace_id()


@contextlib.contextmanager
def message_trace(key):
    try:
        trace_id = uuid.UUID(str(key)).int or None
    except ValueError:
        trace_id = None
    token = _message_trace_id.set(trace_id)
    try:
        yield
    finally:
        _message_trace_id.reset(token)
