"""The delivery's SQL: claiming a batch under a lease, and writing outcomes only where the row
still carries that lease.

A claim is one conditional UPDATE: only `queued` rows, or `sending` rows whose lease has
expired (their worker died), become `sending` under a fresh lease. The lease instant is the
claim's token: results are recorded only where the row still carries it, so a worker that lost
its lease to another can never overwrite the newer outcome.

Both functions that write many rows have a PostgreSQL form (one statement for the batch) and a
portable form for SQLite (embedded mode); each chooses inside, once.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid

from django.db import connection, transaction

from core import clock

from ..models import DeliveryAttempt, Message
from ..sql import db_values


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


def claim(message_ids: list[int], now: datetime.datetime, lease_seconds: float) -> list[Claimed]:
    if not message_ids:
        return []
    lease = now + datetime.timedelta(seconds=lease_seconds)
    ids_match, ids = _ids_match(message_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        # Wait for a dispatcher that published these ids but has not committed them `queued`
        # yet: the conditional UPDATE alone would see them still `pending` and skip them without
        # waiting, leaving them to the QUEUED_STALE_SECONDS re-publish. (SQLite ignores FOR
        # UPDATE; its writers are serialised already.)
        cursor.execute(f"SELECT id FROM messaging_message WHERE {ids_match} ORDER BY id"
                       + (" FOR UPDATE" if connection.features.has_select_for_update else ""), ids)
        cursor.execute(
            "UPDATE messaging_message SET status = %s, lease_expires_at = %s, dispatch_after = %s, updated_at = %s "
            f"WHERE {ids_match} AND (status = %s OR (status = %s AND lease_expires_at <= %s)) "
            "RETURNING id, user_id, kind, occasion_date, due_at, attempts, failures, idempotency_key",
            db_values([Message.Status.SENDING, lease, lease, now, *ids, Message.Status.QUEUED,
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


def _ids_match(message_ids: list[int]) -> tuple[str, list]:
    """`id` among the batch's ids, and its parameters: on PostgreSQL one array, so the statement's
    text does not depend on the batch's size; SQLite has no arrays."""
    if connection.vendor == "postgresql":
        return "id = ANY(%s::bigint[])", [list(message_ids)]
    return f"id IN ({', '.join(['%s'] * len(message_ids))})", list(message_ids)


def _as_date(value) -> datetime.date:
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


def _as_datetime(value) -> datetime.datetime:
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def statuses(message_ids) -> dict[int, tuple[str, str]]:
    """id -> (kind, status) of the messages that exist."""
    return {row[0]: row[1:] for row in Message.objects.filter(id__in=message_ids).values_list("id", "kind", "status")}


def _held(message: Claimed):
    return Message.objects.filter(id=message.id, status=Message.Status.SENDING, lease_expires_at=message.lease)


def drop(message: Claimed) -> None:
    """Remove a claimed message that is no longer the occasion."""
    _held(message).delete()


def release(message: Claimed, **fields) -> int:
    """Write fields to a message this claim still holds, ending the lease."""
    fields["lease_expires_at"] = None
    fields["updated_at"] = clock.now()
    return _held(message).update(**fields)


def write_outcomes(updates: list[tuple[Claimed, dict]], now: datetime.datetime) -> set[int]:
    """Write each message's outcome where the row still carries this claim's lease; returns the
    ids written.

    On PostgreSQL one UPDATE joined to the batch passed as one array per column (`unnest`), guarded
    by each row's lease, instead of one round trip per message: the statement's text is the same
    for every batch size, so it is parsed once per connection, and nine arrays cost less to send
    than nine parameters per row. A field a message's outcome does not set is NULL and keeps its
    value (COALESCE); `dispatch_after` is always set. SQLite (embedded mode) keeps the
    per-message ORM path.
    """
    if not updates:
        return set()
    if connection.vendor != "postgresql":
        return {message.id for message, fields in updates if release(message, **fields)}
    columns = [[] for _ in range(9)]
    for message, fields in updates:
        row = (message.id, message.lease, fields["status"], fields.get("attempts", message.attempts),
               fields.get("failures", message.failures), fields.get("sent_at"), fields.get("vendor_message_id"),
               fields.get("last_error"), fields["dispatch_after"])
        for column, value in zip(columns, row):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_OUTCOMES, [now, *columns, Message.Status.SENDING])
        return {row[0] for row in cursor.fetchall()}


_WRITE_OUTCOMES = (
    "UPDATE messaging_message AS m SET status = v.status, attempts = v.attempts, failures = v.failures, "
    "sent_at = COALESCE(v.sent_at, m.sent_at), vendor_message_id = COALESCE(v.vendor_message_id, m.vendor_message_id), "
    "last_error = COALESCE(v.last_error, m.last_error), dispatch_after = v.dispatch_after, "
    "lease_expires_at = NULL, updated_at = %s "
    "FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::integer[], %s::integer[], %s::timestamptz[], "
    "%s::varchar[], %s::text[], %s::timestamptz[]) "
    "AS v(id, lease, status, attempts, failures, sent_at, vendor_message_id, last_error, dispatch_after) "
    "WHERE m.id = v.id AND m.status = %s AND m.lease_expires_at = v.lease "
    "RETURNING m.id"
)


def add_attempts(attempts: list[dict]) -> None:
    """Append the batch's delivery attempts (dicts of DeliveryAttempt's fields). On PostgreSQL one
    INSERT from one array per column; SQLite (embedded mode) through the ORM."""
    if not attempts:
        return
    if connection.vendor != "postgresql":
        DeliveryAttempt.objects.bulk_create(DeliveryAttempt(**row) for row in attempts)
        return
    with connection.cursor() as cursor:
        cursor.execute(_ADD_ATTEMPTS, [[row[name] for row in attempts] for name in _ATTEMPT_COLUMNS])


_ATTEMPT_COLUMNS = ("message_id", "number", "started_at", "duration_ms", "outcome", "http_status", "error")
_ADD_ATTEMPTS = (
    f"INSERT INTO {DeliveryAttempt._meta.db_table} ({', '.join(_ATTEMPT_COLUMNS)}) "
    "SELECT * FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[], %s::integer[], %s::varchar[], "
    "%s::smallint[], %s::text[])"
)
