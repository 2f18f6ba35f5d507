"""Delivering a batch of messages: claim, re-read the users, send concurrently, record.

The orchestration only: the claim and the outcome writes are `store` (SQL under a lease), what
each outcome means for the message is `policy` (pure). Each message's vendor call carries its
stable Idempotency-Key, so a retry after an unknown outcome (a timeout, a killed worker) is not
a second message to the recipient.
"""

import contextvars
import dataclasses
import datetime
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, transaction
from django.db.utils import InterfaceError, OperationalError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Status, StatusCode

from core.refs import user_ref
from core.traces import message_trace
from core import clock, occasions
from users.models import User

from .. import signals
from ..circuit_breaker import vendor_breaker
from ..models import DeliveryAttempt, Message
from ..vendor import VendorResult, get_client
from . import policy, store
from .store import Claimed

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Outcome = DeliveryAttempt.Outcome
DB_RETRY_SECONDS = 60.0


@dataclasses.dataclass
class Deferred:
    """The circuit breaker held this call back; nothing was sent."""

    wait_seconds: float


@dataclasses.dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    skipped: int = 0


def deliver_batch(message_ids: list[int]) -> BatchResult:
    result = BatchResult()
    with tracer.start_as_current_span("messaging.deliver_batch") as span:
        span.set_attribute("messaging.batch.message_count", len(message_ids))
        now = clock.now()
        claimed = with_db_retry(lambda: store.claim(message_ids, now, settings.DELIVERY_LEASE_SECONDS))
        result.claimed = len(claimed)
        skipped = set(message_ids) - {m.id for m in claimed}
        if skipped:
            result.skipped += with_db_retry(lambda: _announce_skips(skipped, now))
        sendable = with_db_retry(lambda: _attach_current_user_data(claimed))
        result.skipped += len(claimed) - len(sendable)
        outcomes = _send_all(sendable)
        with_db_retry(lambda: _record(outcomes, result))
        span.set_attribute("messaging.batch.sent", result.sent)
        span.set_attribute("messaging.batch.claimed", result.claimed)
        span.set_attribute("messaging.batch.skipped", result.skipped)
    return result


def with_db_retry(operation):
    """Run a database step, riding out a database restart instead of dropping the batch."""
    deadline = time.monotonic() + DB_RETRY_SECONDS
    delay = 0.25
    while True:
        try:
            return operation()
        except (OperationalError, InterfaceError):
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable; retrying in %.1fs", delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _announce_skips(skipped_ids: set[int], now: datetime.datetime) -> int:
    """A task found messages it may not claim: already done, in another worker's hands, or gone."""
    found = store.statuses(skipped_ids)
    for message_id in skipped_ids:
        kind, status = found.get(message_id, ("unknown", None))
        if status is None:
            reason = "user_gone"
        elif status == Message.Status.SENDING:
            reason = "in_flight"
        elif status in (Message.Status.PENDING, Message.Status.RETRY):
            reason = "not_ready"
        else:
            reason = "already_done"
        signals.idempotency_skipped.send(sender=__name__, kind=kind, reason=reason)
        trace.get_current_span().add_event("idempotency_skipped", {"message.id": message_id, "reason": reason})
    return len(skipped_ids)


def _attach_current_user_data(claimed: list[Claimed]) -> list[Claimed]:
    """Re-read each user now: a user deleted or whose occasion moved after enqueue gets nothing,
    and the text is rendered from the user's current name. A message whose due instant has not
    come (a clock that differs between processes) goes back to wait for it, never away."""
    users = User.objects.in_bulk({m.user_id for m in claimed})
    now = clock.now()
    sendable, obsolete, early = [], [], []
    for message in claimed:
        user = users.get(message.user_id)
        occasion_type = occasions.get(message.kind)
        if user is None or not occasion_type.falls_on(user, message.occasion_date):
            obsolete.append(message)
            continue
        if message.due_at > now:
            early.append(message)
            continue
        message.email = user.email
        message.text = occasion_type.render(user)
        message.timezone = user.timezone
        sendable.append(message)
    for message in obsolete:
        store.drop(message)
        signals.idempotency_skipped.send(sender=__name__, kind=message.kind, reason="occasion_moved")
    for message in early:
        store.release(message, status=Message.Status.PENDING, dispatch_after=message.due_at)
        signals.idempotency_skipped.send(sender=__name__, kind=message.kind, reason="not_ready")
    return sendable


def _send_all(messages: list[Claimed]) -> list[tuple[Claimed, VendorResult | Deferred, datetime.datetime, policy.Decision]]:
    if not messages:
        return []
    breaker = vendor_breaker()
    # One verdict for the batch: all while closed, none while open, one probe while half-open.
    admitted, wait = breaker.admit(len(messages))
    rules = policy.Policy.from_settings(settings)
    now = clock.now()
    held_back = [
        (message, Deferred(wait), now, rules.decide(outcome=None, due_at=message.due_at, now=now,
                                                     failures=message.failures, deferred_seconds=wait))
        for message in messages[admitted:]
    ]

    def send_one(message: Claimed):
        started_at = clock.now()
        # One trace per message (every attempt, retries included), linked to the batch that
        # carried this attempt: the tick's trace stays the size of its batches, not its messages.
        batch = trace.get_current_span().get_span_context()
        with message_trace(message.idempotency_key), tracer.start_as_current_span(
            "messaging.delivery_attempt", context=otel_context.Context(), links=[Link(batch)] if batch.is_valid else [],
        ) as span:
            # With tracing off or this trace sampled out the span records nothing: skip building
            # attributes nobody keeps (the user ref is an HMAC per message).
            if span.is_recording():
                span.set_attributes({
                    "message.id": message.id,
                    "message.type": message.kind,
                    "message.attempt": message.attempts + 1,
                    "message.scheduled_time": message.due_at.isoformat(),
                    "user.ref": user_ref(message.user_id),
                    "user.timezone": message.timezone,
                    "vendor.name": settings.VENDOR_NAME,
                })
            outcome = get_client().send(message.email, message.text, message.idempotency_key)
            decision = rules.decide(outcome=outcome.outcome, due_at=message.due_at, now=clock.now(),
                                    failures=message.failures, retry_after=outcome.retry_after)
            if span.is_recording():
                span.set_attribute("message.outcome", outcome.outcome)
                if outcome.http_status is not None:
                    span.set_attribute("http.response.status_code", outcome.http_status)
                _annotate_outcome(span, outcome, decision)
            # Every attempt that did not send is an INFO line; successes are DEBUG, since at
            # full speed formatting a line per sent message costs a sixth of the worker's CPU.
            log.log(
                logging.DEBUG if outcome.outcome == Outcome.SENT else logging.INFO,
                "delivery attempt %s for message %s: %s", message.attempts + 1, message.id, outcome.outcome,
                extra={"message_id": message.id, "message_type": message.kind, "outcome": outcome.outcome,
                       "attempt": message.attempts + 1, "http_status": outcome.http_status},
            )
        return message, outcome, started_at, decision

    # Each call runs in a copy of this thread's context, so spans parent to the batch's span and
    # log lines carry its trace and request ids.
    futures = [_executor().submit(contextvars.copy_context().run, send_one, m) for m in messages[:admitted]]
    sent = [future.result() for future in futures]
    tally = policy.breaker_tally(outcome.outcome for _message, outcome, *_ in sent)
    breaker.record(successes=tally.successes, failures=tally.failures)
    return sent + held_back


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """One thread pool per process, made after any fork (threads do not survive one)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(settings.DELIVERY_CONCURRENCY, thread_name_prefix="deliver"))
    return _pool[1]


def _annotate_outcome(span, outcome: VendorResult, decision: policy.Decision) -> None:
    """The plan's span events: what this call meant for the message."""
    if outcome.outcome == Outcome.SENT:
        span.add_event("message_sent", {"vendor.message_id": outcome.vendor_message_id})
        return
    span.set_status(Status(StatusCode.ERROR, outcome.error or outcome.outcome))
    if outcome.outcome == Outcome.REJECTED:
        span.add_event("message_failed", {"error.type": outcome.error_type or "rejected"})
    elif outcome.outcome == Outcome.RATE_LIMITED:
        span.add_event("rate_limited", {"retry_after": outcome.retry_after or 0.0})
    elif decision.status == policy.STATUS_DEAD:
        span.add_event("message_dead", {"message.failures": decision.failures})
    else:
        span.add_event("retry_scheduled", {"message.failures": decision.failures,
                                           "error.type": outcome.error_type or outcome.outcome})


def _record(outcomes, result: BatchResult) -> None:
    now = clock.now()
    decided: list[tuple[Claimed, VendorResult | Deferred, datetime.datetime, dict, int]] = []
    for message, outcome, started_at, decision in outcomes:
        fields = {"status": decision.status, "dispatch_after": decision.retry_at, "failures": decision.failures}
        if decision.attempted:
            fields["attempts"] = message.attempts + 1
            fields["last_error"] = outcome.error
        if decision.status == Message.Status.SENT:
            fields.update(sent_at=now, vendor_message_id=outcome.vendor_message_id[:200], last_error="")
        elif decision.status == Message.Status.DEAD and decision.reason == "window":
            fields["last_error"] = (f"the catch-up window ({settings.CATCH_UP_WINDOW_HOURS} h after due) ran out; "
                                    f"last: {fields.get('last_error') or 'breaker open'}")
        decided.append((message, outcome, started_at, fields, decision.failures))

    attempts_rows: list[dict] = []
    finished: list[dict] = []
    called = [(message, outcome) for message, outcome, *_ in decided if not isinstance(outcome, Deferred)]
    with transaction.atomic():
        written = store.write_outcomes([(message, fields) for message, _, _, fields, _ in decided], now)
        for message, outcome, started_at, fields, failures in decided:
            if message.id not in written:
                continue  # another worker holds the message now; its outcome is the one that counts
            if isinstance(outcome, Deferred):
                if fields["status"] == Message.Status.RETRY:
                    result.deferred += 1
                    continue
                result.dead += 1
                finished.append(dict(kind=message.kind, status=fields["status"], attempts=message.attempts,
                                     failures=failures, http_status=None, due_at=message.due_at, finished_at=now,
                                     processing_seconds=time.monotonic() - message.claimed_monotonic))
                continue
            attempts_rows.append(
                dict(message_id=message.id, number=message.attempts + 1, started_at=started_at,
                     duration_ms=int(outcome.duration_seconds * 1000), outcome=outcome.outcome,
                     http_status=outcome.http_status, error=outcome.error[:1000])
            )
            status = fields["status"]
            setattr(result, status, getattr(result, status) + 1)
            finished.append(
                dict(kind=message.kind, status=status, attempts=message.attempts + 1, failures=failures,
                     http_status=outcome.http_status,
                     due_at=message.due_at, finished_at=now,
                     processing_seconds=time.monotonic() - message.claimed_monotonic)
            )
        store.add_attempts(attempts_rows)
        _announce_terminal([(message, fields) for message, outcome, _, fields, _ in decided
                            if message.id in written and not isinstance(outcome, Deferred)])

        def announce():
            for message, outcome in called:
                signals.delivery_attempted.send(
                    sender=__name__, kind=message.kind, attempt_number=message.attempts + 1,
                    outcome=outcome.outcome, http_status=outcome.http_status,
                    duration_seconds=outcome.duration_seconds, retry_after=outcome.retry_after,
                    error_type=outcome.error_type,
                )
            for event in finished:
                signals.message_finished.send(sender=__name__, **event)

        transaction.on_commit(announce)


def _announce_terminal(changes: list[tuple[Claimed, dict]]) -> None:
    """Inside the outcome's transaction: receivers (the webhook outbox) write with it."""
    rows = [
        dict(id=message.id, user_id=message.user_id, kind=message.kind, occasion_date=message.occasion_date,
             due_at=message.due_at, status=str(fields["status"]), attempts=fields.get("attempts", message.attempts),
             sent_at=fields.get("sent_at"))
        for message, fields in changes
        if fields["status"] in Message.TERMINAL
    ]
    if rows:
        signals.messages_terminal.send(sender=__name__, rows=rows)
