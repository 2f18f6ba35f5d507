"""Keeping each user's next occasions right, and turning due occasions into messages."""

import dataclasses
import datetime
import logging
import time

from django.conf import settings
from django.db import connection, transaction
from opentelemetry import trace

from messaging import outbox, signals
from messaging.models import Message
from core.refs import user_ref

from core import calendar, clock, occasions
from .models import Occasion

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

UNSENT = (Message.Status.PENDING, Message.Status.QUEUED, Message.Status.RETRY)
ADVANCE_CHUNK = 5000


def next_due(user, occasion_type, now: datetime.datetime) -> tuple[datetime.date, datetime.datetime] | None:
    """The next occurrence on or after the user's local today (a user created on their
    birthday after SEND_HOUR is still owed today's message), or None without an anchor date."""
    anchor = occasion_type.anchor(user)
    if anchor is None:
        return None
    today = calendar.local_today(user.timezone, now)
    local_date = calendar.next_occurrence(anchor, today, settings.FEB29_POLICY)
    return local_date, calendar.due_instant(local_date, user.timezone, settings.SEND_HOUR)


@transaction.atomic
def sync_occasions(user, changed_fields: set[str] | None = None, now: datetime.datetime | None = None) -> None:
    """Bring the user's occasion rows and unsent messages in line with the user's data.

    `changed_fields=None` means a new user. On an edit only the occasion types whose schedule
    fields changed move. Unsent messages of a moved type are re-timed when their date is still
    the occasion (a time zone change), otherwise removed, so no stale message goes out; a
    message already being sent or sent is left alone and the unique constraint keeps the new
    schedule from sending that date again.
    """
    now = now or clock.now()
    if changed_fields is None:
        # A new user has no occasion rows yet: one upsert writes them all.
        rows = []
        for occasion_type in occasions.all_types():
            upcoming = next_due(user, occasion_type, now)
            if upcoming is not None:
                rows.append(Occasion(user=user, kind=occasion_type.name, local_date=upcoming[0], due_at=upcoming[1]))
        Occasion.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["user", "kind"], update_fields=["local_date", "due_at"]
        )
        return
    for occasion_type in occasions.all_types():
        if not (changed_fields & set(occasion_type.schedule_fields)):
            continue
        _move_unsent_messages(user, occasion_type, now)
        upcoming = next_due(user, occasion_type, now)
        if upcoming is None:
            Occasion.objects.filter(user=user, kind=occasion_type.name).delete()
            continue
        local_date, due_at = upcoming
        Occasion.objects.update_or_create(
            user=user, kind=occasion_type.name, defaults={"local_date": local_date, "due_at": due_at}
        )


def _move_unsent_messages(user, occasion_type, now: datetime.datetime) -> None:
    anchor = occasion_type.anchor(user)
    unsent = Message.objects.select_for_update().filter(user=user, kind=occasion_type.name, status__in=UNSENT)
    for message in unsent:
        still_the_occasion = anchor is not None and message.occasion_date == calendar.occurrence_in_year(
            anchor, message.occasion_date.year, settings.FEB29_POLICY
        ) and message.occasion_date.year > anchor.year
        if not still_the_occasion:
            message.delete()
            continue
        message.due_at = calendar.due_instant(message.occasion_date, user.timezone, settings.SEND_HOUR)
        if message.due_at > now:
            # Not due any more in the new zone: back to pending; a task already on the queue
            # finds it unclaimable and the dispatcher publishes it again when it is due.
            message.status = Message.Status.PENDING
            message.dispatch_after = message.due_at
        message.save(update_fields=["due_at", "status", "dispatch_after", "updated_at"])


@dataclasses.dataclass
class TickResult:
    now: datetime.datetime
    scheduled: int = 0
    expired: int = 0
    duplicates: int = 0
    published: int = 0


def run_tick(now: datetime.datetime | None = None, scheduled_for: datetime.datetime | None = None) -> TickResult:
    """Materialise every occasion due at `now` into a message, then publish what is ready.

    Safe to run concurrently (two beats, an operator replay): each batch locks its occasion rows
    with SKIP LOCKED, and the message table's unique constraint absorbs any overlap.
    """
    now = now or clock.now()
    started = time.monotonic()
    result = TickResult(now=now)
    status = "failure"
    try:
        with tracer.start_as_current_span("scheduler.tick") as span:
            span.set_attribute("scheduler.now", now.isoformat())
            while True:
                batch = _materialise_batch(now, settings.SCHEDULE_BATCH_SIZE, result)
                if batch < settings.SCHEDULE_BATCH_SIZE:
                    break
            result.published = outbox.dispatch_ready(now)
            span.set_attribute("scheduler.messages_scheduled", result.scheduled)
            span.set_attribute("scheduler.messages_expired", result.expired)
            span.set_attribute("scheduler.messages_published", result.published)
            span.set_attribute("scheduler.duplicates", result.duplicates)
            if scheduled_for is not None:
                span.set_attribute("scheduler.scheduled_for", scheduled_for.isoformat())
        status = "success"
        return result
    finally:
        signals.scheduler_job_ran.send(
            sender=__name__,
            job_name="scheduler_tick",
            status=status,
            duration_seconds=time.monotonic() - started,
            scheduled_for=scheduled_for,
            started_at=now,
            messages_scheduled=result.scheduled,
        )


def _advance(advanced: list[Occasion]) -> None:
    """Write each occasion's next date and instant.

    On PostgreSQL one UPDATE joined to a VALUES list: bulk_update's CASE per column costs the
    database time quadratic in the batch. SQLite (embedded mode) keeps the ORM's portable path.
    """
    if not advanced:
        return
    if connection.vendor != "postgresql":
        Occasion.objects.bulk_update(advanced, ["local_date", "due_at"], batch_size=1000)
        return
    with connection.cursor() as cursor:
        for start in range(0, len(advanced), ADVANCE_CHUNK):
            chunk = advanced[start : start + ADVANCE_CHUNK]
            values = ", ".join(["(%s::bigint, %s::date, %s::timestamptz)"] * len(chunk))
            cursor.execute(
                "UPDATE scheduler_occasion AS o SET local_date = v.local_date, due_at = v.due_at "
                f"FROM (VALUES {values}) AS v(id, local_date, due_at) WHERE o.id = v.id",
                [value for occasion in chunk for value in (occasion.pk, occasion.local_date, occasion.due_at)],
            )


MAX_SPAN_EVENTS = 100


def _add_created_events(span, inserted, due) -> None:
    """One event per created message, up to a cap (a span holds at most 128 events)."""
    zones = {occasion.user_id: occasion.user.timezone for occasion in due}
    for row in inserted[:MAX_SPAN_EVENTS]:
        span.add_event("message_created", {
            "message.id": row.id,
            "message.type": row.kind,
            "user.ref": user_ref(row.user_id),
            "user.timezone": zones.get(row.user_id, ""),
            "message.scheduled_time": row.due_at.isoformat(),
        })
    if len(inserted) > MAX_SPAN_EVENTS:
        span.set_attribute("scheduler.events_truncated", True)


def _materialise_batch(now: datetime.datetime, limit: int, result: TickResult) -> int:
    catch_up_floor = now - datetime.timedelta(hours=settings.CATCH_UP_WINDOW_HOURS)
    created: list[tuple[str, str, str, datetime.datetime]] = []
    with transaction.atomic():
        with tracer.start_as_current_span("scheduler.select_due") as span:
            due = list(
                Occasion.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(due_at__lte=now)
                .select_related("user")
                .order_by("due_at")[:limit]
            )
            span.set_attribute("scheduler.due_count", len(due))
            span.set_attribute("scheduler.batch_limit", limit)
        if not due:
            return 0
        rows, advanced, removed = [], [], []
        for occasion in due:
            occasion_type = occasions.get(occasion.kind)
            expired = occasion.due_at < catch_up_floor
            rows.append(
                outbox.NewMessage(
                    user_id=occasion.user_id,
                    kind=occasion.kind,
                    occasion_date=occasion.local_date,
                    due_at=occasion.due_at,
                    expired=expired,
                )
            )
            anchor = occasion_type.anchor(occasion.user)
            if anchor is None:
                removed.append(occasion.pk)
                continue
            following = calendar.next_occurrence(
                anchor, occasion.local_date + datetime.timedelta(days=1), settings.FEB29_POLICY
            )
            occasion.local_date = following
            occasion.due_at = calendar.due_instant(following, occasion.user.timezone, settings.SEND_HOUR)
            advanced.append(occasion)
        with tracer.start_as_current_span("scheduler.create_messages") as span:
            inserted = outbox.create_messages(rows, now)
            span.set_attribute("scheduler.messages_created", len(inserted))
            _add_created_events(span, inserted, due)
        _advance(advanced)
        if removed:
            Occasion.objects.filter(pk__in=removed).delete()
        zones = {occasion.user_id: occasion.user.timezone for occasion in due}
        for row in inserted:
            if row.expired:
                result.expired += 1
            else:
                result.scheduled += 1
            created.append((row.kind, zones[row.user_id], "expired" if row.expired else "pending", row.due_at))
        result.duplicates += len(rows) - len(inserted)

        def announce():
            for kind, zone_name, status, due_at in created:
                signals.message_scheduled.send(
                    sender=__name__,
                    kind=kind,
                    timezone=zone_name,
                    status=status,
                    lag_seconds=max(0.0, (now - due_at).total_seconds()),
                )

        transaction.on_commit(announce)
    return len(due)
