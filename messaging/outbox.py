"""The transactional outbox: message rows are the source of truth, tasks on RabbitMQ only a
notification that rows are ready.

Rows are created `pending`; the dispatcher publishes ready rows inside the same transaction
that marks them `queued`, so a crash before the commit leaves them `pending` (published again
next time) and a crash after it leaves a task on the queue. A worker that finds a row it cannot
claim skips it, so publishing twice is harmless. Every non-terminal row carries
`dispatch_after`; a row still `queued` or `sending` after that instant (a lost task, a dead
worker) is published again.
"""

import dataclasses
import datetime
import uuid

from django.conf import settings
from django.db import connection, transaction
from kombu.exceptions import OperationalError as BrokerUnreachable  # what publishing raises, for callers
from opentelemetry import trace

from core import clock
from core.queues import DELIVERY_QUEUE

from . import signals
from .sql import db_values
from .models import Message


tracer = trace.get_tracer(__name__)

DELIVER_TASK = "messaging.deliver"
INSERT_CHUNK = 1000


@dataclasses.dataclass(frozen=True)
class NewMessage:
    user_id: int
    kind: str
    occasion_date: datetime.date
    due_at: datetime.datetime
    expired: bool = False
    id: int | None = None  # set once inserted


def create_messages(rows: list[NewMessage], now: datetime.datetime) -> list[NewMessage]:
    """Insert message rows, skipping any that already exist for the same occasion.

    Returns the rows actually inserted. ON CONFLICT DO NOTHING on the unique
    (user, kind, occasion_date) constraint is what makes a second message impossible, whoever
    runs concurrently.
    """
    inserted: list[NewMessage] = []
    by_key = {(row.user_id, row.kind, row.occasion_date.isoformat()): row for row in rows}
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_portable
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            for message_id, user_id, kind, occasion_date in insert(cursor, rows[start : start + INSERT_CHUNK], now):
                key = (user_id, kind, occasion_date if isinstance(occasion_date, str) else occasion_date.isoformat())
                inserted.append(dataclasses.replace(by_key[key], id=message_id))
    expired = [
        dict(id=row.id, user_id=row.user_id, kind=row.kind, occasion_date=row.occasion_date, due_at=row.due_at,
             status=str(Message.Status.EXPIRED), attempts=0, sent_at=None)
        for row in inserted
        if row.expired
    ]
    if expired:
        signals.messages_terminal.send(sender=__name__, rows=expired)
    return inserted


_COLUMNS = (
    "user_id, kind, occasion_date, due_at, status, attempts, failures, idempotency_key, "
    "dispatch_after, vendor_message_id, last_error, created_at, updated_at"
)
_ON_CONFLICT = "ON CONFLICT (user_id, kind, occasion_date) DO NOTHING RETURNING id, user_id, kind, occasion_date"


def _status(row: NewMessage) -> str:
    return Message.Status.EXPIRED if row.expired else Message.Status.PENDING


def _insert_postgresql(cursor, chunk: list[NewMessage], now: datetime.datetime) -> list[tuple]:
    """One array per column, unnested server-side: seven parameters per chunk instead of
    thirteen per row, which is most of the tick's client-side cost."""
    cursor.execute(
        f"INSERT INTO messaging_message ({_COLUMNS}) "
        "SELECT u.user_id, u.kind, u.occasion_date, u.due_at, u.status, 0, 0, u.idempotency_key, u.dispatch_after, "
        "'', '', %s, %s "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::date[], %s::timestamptz[], %s::varchar[], %s::uuid[], "
        "%s::timestamptz[]) AS u(user_id, kind, occasion_date, due_at, status, idempotency_key, dispatch_after) "
        + _ON_CONFLICT,
        [
            now,
            now,
            [row.user_id for row in chunk],
            [row.kind for row in chunk],
            [row.occasion_date for row in chunk],
            [row.due_at for row in chunk],
            [_status(row) for row in chunk],
            [uuid.uuid4() for _ in chunk],
            [None if row.expired else row.due_at for row in chunk],
        ],
    )
    return cursor.fetchall()


def _insert_portable(cursor, chunk: list[NewMessage], now: datetime.datetime) -> list[tuple]:
    params: list = []
    for row in chunk:
        params += [row.user_id, row.kind, row.occasion_date, row.due_at, _status(row), 0, 0, uuid.uuid4().hex,
                   None if row.expired else row.due_at, "", "", now, now]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * 13) + ")"] * len(chunk))
    cursor.execute(f"INSERT INTO messaging_message ({_COLUMNS}) VALUES {placeholders} " + _ON_CONFLICT, db_values(params))
    return cursor.fetchall()


def dispatch_ready(now: datetime.datetime | None = None, limit: int = 5000) -> int:
    """Publish every row whose `dispatch_after` has passed; expire rows past the catch-up window.

    Returns the number of messages published.
    """
    now = now or clock.now()
    floor = now - datetime.timedelta(hours=settings.CATCH_UP_WINDOW_HOURS)
    published = 0
    while True:
        with transaction.atomic(), tracer.start_as_current_span("messaging.dispatch") as span:
            rows = list(
                Message.objects.select_for_update(skip_locked=True)
                .filter(dispatch_after__lte=now)
                .order_by("dispatch_after")
                .values_list("id", "kind", "due_at", "attempts", "failures", "user_id", "occasion_date")[:limit]
            )
            expired = [row for row in rows if row[2] < floor]
            ready = [row[0] for row in rows if row[2] >= floor]
            if expired:
                Message.objects.filter(id__in=[row[0] for row in expired]).update(
                    status=Message.Status.EXPIRED, dispatch_after=None, lease_expires_at=None, updated_at=now
                )
                signals.messages_terminal.send(sender=__name__, rows=[
                    dict(id=row[0], user_id=row[5], kind=row[1], occasion_date=row[6], due_at=row[2],
                         status=str(Message.Status.EXPIRED), attempts=row[3], sent_at=None)
                    for row in expired
                ])
            if ready:
                _publish(ready)
                Message.objects.filter(id__in=ready).update(
                    status=Message.Status.QUEUED,
                    published_at=now,
                    dispatch_after=now + datetime.timedelta(seconds=settings.QUEUED_STALE_SECONDS),
                    lease_expires_at=None,
                    updated_at=now,
                )
            span.set_attributes({
                "messaging.system": "rabbitmq",
                "messaging.destination.name": DELIVERY_QUEUE,
                "messaging.published": len(ready),
                "messaging.batch.task_count": -(-len(ready) // settings.DELIVERY_BATCH_SIZE),
            })
            if ready:
                span.add_event("messages_published", {
                    "message.count": len(ready),
                    "task.count": -(-len(ready) // settings.DELIVERY_BATCH_SIZE),
                })
            span.set_attribute("messaging.expired", len(expired))
            transaction.on_commit(lambda expired=expired: _announce_expired(expired, now))
        published += len(ready)
        if len(rows) < limit:
            return published


def _announce_expired(rows, now) -> None:
    for _id, kind, due_at, attempts, failures, *_ in rows:
        signals.message_finished.send(
            sender=__name__,
            kind=kind,
            status=Message.Status.EXPIRED,
            attempts=attempts,
            failures=failures,
            due_at=due_at,
            finished_at=now,
            processing_seconds=0.0,
        )


def _publish(message_ids: list[int]) -> None:
    # The project's Celery app (birthday/celery.py, loaded with the settings) is the current one.
    from celery import current_app as app

    size = settings.DELIVERY_BATCH_SIZE
    chunks = [message_ids[i : i + size] for i in range(0, len(message_ids), size)]
    with app.producer_or_acquire() as producer:
        for chunk in chunks:
            app.send_task(DELIVER_TASK, args=[chunk], producer=producer)
    signals.tasks_published.send(sender=__name__, count=len(chunks), queue=DELIVERY_QUEUE, messages=len(message_ids))


UNSENT = (Message.Status.PENDING, Message.Status.QUEUED, Message.Status.RETRY)


def move_unsent(user, occasion_type, now: datetime.datetime) -> None:
    """The user's schedule fields for this occasion changed: re-time each unsent message whose
    date is still the occasion (a time zone change), remove the others, so no stale message
    goes out. A message already being sent or sent is left alone; the unique constraint keeps
    the new schedule from sending that date again."""
    unsent = Message.objects.select_for_update().filter(user=user, kind=occasion_type.name, status__in=UNSENT)
    for message in unsent:
        if not occasion_type.falls_on(user, message.occasion_date):
            message.delete()
            continue
        message.due_at = occasion_type.due_at(user, message.occasion_date)
        if message.due_at > now:
            # Not due any more in the new zone: back to pending; a task already on the queue
            # finds it unclaimable and the dispatcher publishes it again when it is due.
            message.status = Message.Status.PENDING
            message.dispatch_after = message.due_at
        elif message.status == Message.Status.PENDING and message.dispatch_after > now:
            # Due in the new zone, but an earlier move west left it waiting for that zone's hour.
            message.dispatch_after = now
        message.save(update_fields=["due_at", "status", "dispatch_after", "updated_at"])
