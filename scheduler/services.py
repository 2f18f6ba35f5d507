"""Keeping each user's next occasions right, and turning due occasions into messages."""

import dataclasses
import datetime
import logging

from django.conf import settings
from django.db import connection, transaction
from opentelemetry import trace

from core import clock, occasions
from core.refs import user_ref
from messaging import outbox, signals

from .jobs import reporting
from .models import Occasion

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


def lock_occasions(user) -> dict[str, datetime.date]:
    """Lock the user's occasion rows, waiting for a tick that holds one; returns each kind's
    scheduled date. Every writer of a user's schedule takes these locks before it reads or
    changes the user's messages (the tick takes them first too), so the two never wait on
    each other in opposite orders."""
    return dict(Occasion.objects.select_for_update().filter(user=user).values_list("kind", "local_date"))


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
        rows = [Occasion(user=user, kind=kind, local_date=local_date, due_at=due_at)
                for kind, local_date, due_at in occasions.first_occurrences(user, now)]
        Occasion.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["user", "kind"], update_fields=["local_date", "due_at"]
        )
        return
    # The occasion rows first: a tick holding one (its messages written, not yet committed)
    # finishes before the edit reads the messages it has to move, and the edit then sees the
    # tick's message and the occasion as the tick advanced it.
    scheduled = lock_occasions(user)
    for occasion_type in occasions.all_types():
        if not (changed_fields & set(occasion_type.schedule_fields)):
            continue
        outbox.move_unsent(user, occasion_type, now)
        upcoming = occasion_type.due_after_edit(user, now, scheduled.get(occasion_type.name))
        if upcoming is None:
            Occasion.objects.filter(user=user, kind=occasion_type.name).delete()
            continue
        local_date, due_at = upcoming
        Occasion.objects.update_or_create(
            user=user, kind=occasion_type.name, defaults={"local_date": local_date, "due_at": due_at}
        )


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
    result = TickResult(now=now)
    with reporting("scheduler_tick", sender=__name__, now=now, scheduled_for=scheduled_for) as run, \
            tracer.start_as_current_span("scheduler.tick") as span:
        span.set_attribute("scheduler.now", now.isoformat())
        while True:
            batch = _materialise_batch(now, settings.SCHEDULE_BATCH_SIZE, result)
            run.messages = result.scheduled
            if batch < settings.SCHEDULE_BATCH_SIZE:
                break
        result.published = outbox.dispatch_ready(now)
        span.set_attribute("scheduler.messages_scheduled", result.scheduled)
        span.set_attribute("scheduler.messages_expired", result.expired)
        span.set_attribute("scheduler.messages_published", result.published)
        span.set_attribute("scheduler.duplicates", result.duplicates)
        if scheduled_for is not None:
            span.set_attribute("scheduler.scheduled_for", scheduled_for.isoformat())
    return result


def run_dispatch(scheduled_for: datetime.datetime | None = None) -> int:
    """The periodic dispatch job: publish what is ready (messaging's outbox), reported like the tick."""
    with reporting("dispatch", sender=__name__, scheduled_for=scheduled_for) as run:
        run.messages = outbox.dispatch_ready(run.started_at)
    return run.messages


def _advance(advanced: list[Occasion]) -> None:
    """Write each occasion's next date and instant.

    On PostgreSQL one UPDATE joined to the batch passed as one array per column (`unnest`):
    bulk_update's CASE per column costs the database time quadratic in the batch, and a VALUES
    list of three parameters per row costs the client more to build and scan than the rows are
    worth. SQLite (embedded mode) keeps the ORM's portable path.
    """
    if not advanced:
        return
    if connection.vendor != "postgresql":
        Occasion.objects.bulk_update(advanced, ["local_date", "due_at"], batch_size=1000)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scheduler_occasion AS o SET local_date = v.local_date, due_at = v.due_at "
            "FROM unnest(%s::bigint[], %s::date[], %s::timestamptz[]) AS v(id, local_date, due_at) WHERE o.id = v.id",
            [[occasion.pk for occasion in advanced], [occasion.local_date for occasion in advanced],
             [occasion.due_at for occasion in advanced]],
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
            following = occasion_type.next_on_or_after(occasion.user, occasion.local_date + datetime.timedelta(days=1))
            if following is None:
                removed.append(occasion.pk)
                continue
            occasion.local_date = following
            occasion.due_at = occasion_type.due_at(occasion.user, following)
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
