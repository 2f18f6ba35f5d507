"""Delivering a batch of messages: claim, re-read the users, send concurrently, record.

A claim is one conditional UPDATE: only `queued` rows, or `sending` rows whose lease has
expired (their worker died), become `sending` under a fresh lease. The lease instant is the
claim's token: results are recorded only where the row still carries it, so a worker that lost
its lease to another can never overwrite the newer outcome. Each message's vendor call carries
its stable Idempotency-Key, so a retry after an unknown outcome (a timeout, a killed worker)
is not a second message to the recipient.
"""

import contextvars
import dataclasses
import datetime
import logging
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, transaction
from django.db.utils import InterfaceError, OperationalError
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from core.refs import user_ref
from core import calendar, clock, occasions
from users.models import User

from . import signals
from .sql import db_values
from .circuit_breaker import vendor_breaker
from .models import DeliveryAttempt, Message
from .vendor import VendorResult, get_client

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Outcome = DeliveryAttempt.Outcome
BREAKER_FAILURES = {Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.CONNECTION_ERROR}
DB_RETRY_SECONDS = 60.0


@dataclasses.dataclass
class Claimed:
    id: int
    user_id: int
    kind: str
    occasion_date: datetime.date
    due_at: datetime.datetime
    attempts: int
    failures: int
    idempotency_key: str
    lease: datetime.datetime
    claimed_monotonic: float
    email: str = ""
    text: str = ""
    timezone: str = ""


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
        claimed = with_db_retry(lambda: _claim(message_ids, now))
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


def _claim(message_ids: list[int], now: datetime.datetime) -> list[Claimed]:
    if not message_ids:
        return []
    lease = now + datetime.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    placeholders = ", ".join(["%s"] * len(message_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        # Wait for a dispatcher that published these ids but has not committed them `queued`
        # yet: the conditional UPDATE alone would see them still `pending` and skip them without
        # waiting, leaving them to the QUEUED_STALE_SECONDS re-publish.
        list(Message.objects.select_for_update().filter(id__in=message_ids).order_by("id").values_list("id"))
        cursor.execute(
            "UPDATE messaging_message SET status = %s, lease_expires_at = %s, dispatch_after = %s, updated_at = %s "
            f"WHERE id IN ({placeholders}) AND (status = %s OR (status = %s AND lease_expires_at <= %s)) "
            "RETURNING id, user_id, kind, occasion_date, due_at, attempts, failures, idempotency_key",
            db_values([Message.Status.SENDING, lease, lease, now, *message_ids, Message.Status.QUEUED,
                       Message.Status.SENDING, now]),
        )
        rows = cursor.fetchall()
    started = time.monotonic()
    return [
        Claimed(
            id=row[0],
            user_id=row[1],
            kind=row[2],
            occasion_date=_as_date(row[3]),
            due_at=_as_datetime(row[4]),
            attempts=row[5],
            failures=row[6],
            idempotency_key=str(uuid.UUID(str(row[7]))),
            lease=lease,
            claimed_monotonic=started,
        )
        for row in rows
    ]


def _as_date(value) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


def _as_datetime(value) -> datetime.datetime:
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _announce_skips(skipped_ids: set[int], now: datetime.datetime) -> int:
    """A task found messages it may not claim: already done, in another worker's hands, or gone."""
    found = {row[0]: row[1:] for row in Message.objects.filter(id__in=skipped_ids).values_list("id", "kind", "status")}
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
    and the text is rendered from the user's current name."""
    users = User.objects.in_bulk({m.user_id for m in claimed})
    sendable, obsolete = [], []
    for message in claimed:
        user = users.get(message.user_id)
        occasion_type = occasions.get(message.kind)
        if user is None or not _still_the_occasion(user, occasion_type, message):
            obsolete.append(message)
            continue
        message.email = user.email
        message.text = occasion_type.render(user)
        message.timezone = user.timezone
        sendable.append(message)
    for message in obsolete:
        Message.objects.filter(id=message.id, status=Message.Status.SENDING, lease_expires_at=message.lease).delete()
        signals.idempotency_skipped.send(sender=__name__, kind=message.kind, reason="occasion_moved")
    return sendable


def _still_the_occasion(user, occasion_type, message: Claimed) -> bool:
    anchor = occasion_type.anchor(user)
    if anchor is None or message.occasion_date.year <= anchor.year:
        return False
    if calendar.occurrence_in_year(anchor, message.occasion_date.year, settings.FEB29_POLICY) != message.occasion_date:
        return False
    due = calendar.due_instant(message.occasion_date, user.timezone, settings.SEND_HOUR)
    return due <= clock.now()


def _send_all(messages: list[Claimed]) -> list[tuple[Claimed, VendorResult | Deferred, datetime.datetime]]:
    if not messages:
        return []
    breaker = vendor_breaker()
    # One verdict for the batch: all while closed, none while open, one probe while half-open.
    admitted, wait = breaker.admit(len(messages))
    now = clock.now()
    held_back = [(message, Deferred(wait), now) for message in messages[admitted:]]

    def send_one(message: Claimed):
        started_at = clock.now()
        with tracer.start_as_current_span("messaging.delivery_attempt") as span:
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
            span.set_attribute("message.outcome", outcome.outcome)
            if outcome.http_status is not None:
                span.set_attribute("http.response.status_code", outcome.http_status)
            _annotate_outcome(span, message, outcome)
            # Every attempt that did not send is an INFO line; successes are DEBUG, since at
            # full speed formatting a line per sent message costs a sixth of the worker's CPU.
            log.log(
                logging.DEBUG if outcome.outcome == Outcome.SENT else logging.INFO,
                "delivery attempt %s for message %s: %s", message.attempts + 1, message.id, outcome.outcome,
                extra={"message_id": message.id, "message_type": message.kind, "outcome": outcome.outcome,
                       "attempt": message.attempts + 1, "http_status": outcome.http_status},
            )
        return message, outcome, started_at

    # Each call runs in a copy of this thread's context, so spans parent to the batch's span and
    # log lines carry its trace and request ids.
    futures = [_executor().submit(contextvars.copy_context().run, send_one, m) for m in messages[:admitted]]
    sent = [future.result() for future in futures]
    outcomes = [outcome.outcome for _message, outcome, _started in sent]
    breaker.record(
        successes=sum(o in (Outcome.SENT, Outcome.REJECTED) for o in outcomes),
        failures=sum(o in BREAKER_FAILURES for o in outcomes),
    )
    return sent + held_back


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """One thread pool per process, made after any fork (threads do not survive one)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(settings.DELIVERY_CONCURRENCY, thread_name_prefix="deliver"))
    return _pool[1]


def _annotate_outcome(span, message: Claimed, outcome: VendorResult) -> None:
    """The plan's span events: what this call meant for the message."""
    if outcome.outcome == Outcome.SENT:
        span.add_event("message_sent", {"vendor.message_id": outcome.vendor_message_id})
        return
    span.set_status(Status(StatusCode.ERROR, outcome.error or outcome.outcome))
    if outcome.outcome == Outcome.REJECTED:
        span.add_event("message_failed", {"error.type": outcome.error_type or "rejected"})
    elif outcome.outcome == Outcome.RATE_LIMITED:
        span.add_event("rate_limited", {"retry_after": outcome.retry_after or 0.0})
    elif message.failures + 1 >= settings.MAX_DELIVERY_ATTEMPTS:
        span.add_event("message_dead", {"message.failures": message.failures + 1})
    else:
        span.add_event("retry_scheduled", {"message.failures": message.failures + 1,
                                           "error.type": outcome.error_type or outcome.outcome})


def backoff_seconds(failures: int) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(failures-1))]."""
    ceiling = min(settings.RETRY_BACKOFF_MAX_SECONDS, settings.RETRY_BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return random.uniform(0, ceiling)


def _record(outcomes, result: BatchResult) -> None:
    now = clock.now()
    decided: list[tuple[Claimed, VendorResult | Deferred, datetime.datetime, dict, int]] = []
    for message, outcome, started_at in outcomes:
        if isinstance(outcome, Deferred):
            fields = dict(status=Message.Status.RETRY,
                          dispatch_after=now + datetime.timedelta(seconds=max(outcome.wait_seconds, 1.0)))
            decided.append((message, outcome, started_at, fields, message.failures))
            continue
        fields = {"attempts": message.attempts + 1}
        failures = message.failures
        if outcome.outcome == Outcome.SENT:
            fields.update(status=Message.Status.SENT, sent_at=now, vendor_message_id=outcome.vendor_message_id[:200],
                          last_error="", dispatch_after=None)
        elif outcome.outcome == Outcome.REJECTED:
            fields.update(status=Message.Status.FAILED, last_error=outcome.error, dispatch_after=None)
        elif outcome.outcome == Outcome.RATE_LIMITED:
            fields.update(status=Message.Status.RETRY, last_error=outcome.error,
                          dispatch_after=now + datetime.timedelta(seconds=outcome.retry_after or 1.0))
        else:
            failures += 1
            fields["failures"] = failures
            fields["last_error"] = outcome.error
            if failures >= settings.MAX_DELIVERY_ATTEMPTS:
                fields.update(status=Message.Status.DEAD, dispatch_after=None)
            else:
                fields.update(status=Message.Status.RETRY,
                              dispatch_after=now + datetime.timedelta(seconds=backoff_seconds(failures)))
        decided.append((message, outcome, started_at, fields, failures))

    attempts_rows: list[DeliveryAttempt] = []
    finished: list[dict] = []
    called = [(message, outcome) for message, outcome, *_ in decided if not isinstance(outcome, Deferred)]
    with transaction.atomic():
        written = _write_outcomes([(message, fields) for message, _, _, fields, _ in decided], now)
        for message, outcome, started_at, fields, failures in decided:
            if message.id not in written:
                continue  # another worker holds the message now; its outcome is the one that counts
            if isinstance(outcome, Deferred):
                result.deferred += 1
                continue
            attempts_rows.append(
                DeliveryAttempt(
                    message_id=message.id,
                    number=message.attempts + 1,
                    started_at=started_at,
                    duration_ms=int(outcome.duration_seconds * 1000),
                    outcome=outcome.outcome,
                    http_status=outcome.http_status,
                    error=outcome.error[:1000],
                )
            )
            status = fields["status"]
            setattr(result, status, getattr(result, status) + 1)
            finished.append(
                dict(kind=message.kind, status=status, attempts=message.attempts + 1, failures=failures,
                     http_status=outcome.http_status,
                     due_at=message.due_at, finished_at=now,
                     processing_seconds=time.monotonic() - message.claimed_monotonic)
            )
        DeliveryAttempt.objects.bulk_create(attempts_rows)
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
    rows = [
        dict(id=message.id, user_id=message.user_id, kind=message.kind, occasion_date=message.occasion_date,
             due_at=message.due_at, status=str(fields["status"]), attempts=fields.get("attempts", message.attempts),
             sent_at=fields.get("sent_at"))
        for message, fields in changes
        if fields["status"] in Message.TERMINAL
    ]
    if rows:
        signals.messages_terminal.send(sender=__name__, rows=rows)


def _write_outcomes(updates: list[tuple[Claimed, dict]], now: datetime.datetime) -> set[int]:
    """Write each message's outcome where the row still carries this claim's lease; returns the
    ids written.

    On PostgreSQL one UPDATE joined to a VALUES list, guarded by each row's lease, instead of one
    round trip per message. A field a message's outcome does not set is NULL in the list and
    keeps its value (COALESCE); `dispatch_after` is always set. SQLite (embedded mode) keeps the
    per-message ORM path.
    """
    if not updates:
        return set()
    if connection.vendor != "postgresql":
        return {message.id for message, fields in updates if _update(message, **fields)}
    template = ("(%s::bigint, %s::timestamptz, %s::varchar, %s::integer, %s::integer, %s::timestamptz, %s::varchar, "
                "%s::text, %s::timestamptz)")
    params: list = []
    for message, fields in updates:
        params += [message.id, message.lease, fields["status"], fields.get("attempts", message.attempts),
                   fields.get("failures", message.failures), fields.get("sent_at"), fields.get("vendor_message_id"),
                   fields.get("last_error"), fields["dispatch_after"]]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message AS m SET status = v.status, attempts = v.attempts, failures = v.failures, "
            "sent_at = COALESCE(v.sent_at, m.sent_at), vendor_message_id = COALESCE(v.vendor_message_id, m.vendor_message_id), "
            "last_error = COALESCE(v.last_error, m.last_error), dispatch_after = v.dispatch_after, "
            "lease_expires_at = NULL, updated_at = %s "
            f"FROM (VALUES {', '.join([template] * len(updates))}) "
            "AS v(id, lease, status, attempts, failures, sent_at, vendor_message_id, last_error, dispatch_after) "
            "WHERE m.id = v.id AND m.status = %s AND m.lease_expires_at = v.lease "
            "RETURNING m.id",
            [now, *params, Message.Status.SENDING],
        )
        return {row[0] for row in cursor.fetchall()}


def _update(message: Claimed, **fields) -> int:
    fields["lease_expires_at"] = None
    fields["updated_at"] = clock.now()
    return Message.objects.filter(
        id=message.id, status=Message.Status.SENDING, lease_expires_at=message.lease
    ).update(**fields)
