"""Error reporting to Sentry, on when SENTRY_DSN is set.

Events are tagged with the OpenTelemetry trace id and the request id, so an error in Sentry
leads to its trace and its log lines. Sentry's own performance tracing stays off (traces go
through OpenTelemetry), no PII is attached, and every string in an event is masked the same way
log lines are, because exception messages and breadcrumbs can quote an address or a token.
"""

from __future__ import annotations

from opentelemetry import trace

from . import request_id
from .logging import CLIENT_FAULT_LOGGERS, mask


def _mask_event(value):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _mask_event(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_event(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask_event(item) for item in value)
    return value


def before_send(event: dict, hint: dict | None = None) -> dict | None:
    if str(event.get("logger") or "").startswith(CLIENT_FAULT_LOGGERS):
        return None  # a client's fault answered 400 (observability.logging.ClientFaultFilter)
    tags = event.setdefault("tags", {})
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        tags["trace_id"] = format(span_context.trace_id, "032x")
        tags["span_id"] = format(span_context.span_id, "016x")
    current_request_id = request_id.get()
    if current_request_id:
        tags["request_id"] = current_request_id
    return _mask_event(event)


def before_breadcrumb(crumb: dict, hint: dict | None = None) -> dict:
    return _mask_event(crumb)


def init_sentry(dsn: str, environment: str, release: str | None = None) -> bool:
    """Starts the Sentry SDK; returns False (and does nothing) without a DSN."""
    if not dsn:
        return False
    import logging

    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        # Local variables of a failing delivery hold the recipient's address.
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=None,
        # Sentry headers stay inside: the email vendor gets no trace headers of ours.
        trace_propagation_targets=[],
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
    )
    return True
