"""The operations overview: what an operator looks at first. Thin: the figures come from the
apps' selectors (each bounded by an index range or a cap; see their docstrings), the chart
geometry from `charts`."""

import datetime

from django.conf import settings
from django.urls import reverse
from django.views.generic import TemplateView

from messaging import selectors as messages
from messaging.circuit_breaker import vendor_breaker
from messaging.models import DeliveryAttempt, Message
from core import clock
from core.queues import DEAD_LETTER_QUEUE
from scheduler import selectors as schedule

from . import charts

HOURS = 48


def _hour(instant: datetime.datetime) -> datetime.datetime:
    return instant.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


def broker_dead_letters() -> int | str | None:
    """Tasks in the broker's dead-letter queue (redelivered too often), or None without RabbitMQ.

    One passive declare, with a short connect timeout and no retries: a broker that is down
    makes the figure "unavailable", not the page slow.
    """
    if not settings.BROKER_IS_AMQP:
        return None
    from celery import current_app as app  # the project's app (birthday/__init__.py sets it)

    try:
        with app.connection_for_read(connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
            _name, messages, _consumers = connection.default_channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
            return messages
    except Exception:  # unreachable, or the queue not declared yet
        return "unavailable"


def breaker_state() -> dict:
    breaker = vendor_breaker()
    try:
        failures, successes = breaker.failure_counts()
        return {"state": breaker.state(), "failures": failures, "successes": successes}
    except Exception as exc:  # the cache holds the state; a page must not fail with it
        return {"state": "unknown", "error": type(exc).__name__}


def age(delta: datetime.timedelta) -> str:
    """A duration the way an operator says it: "not due yet", "45 min", "3 h 5 min", "2 d 4 h"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 0:
        return "not due yet"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class OverviewView(TemplateView):
    template_name = "backoffice/overview.html"
    site = None

    def get_context_data(self, **kwargs):
        now = clock.now()
        this_hour = _hour(now)
        ahead = [this_hour + datetime.timedelta(hours=i) for i in range(HOURS)]
        behind = [this_hour - datetime.timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]

        # Occasions still to come (due_at > now) in the next 48 hours; those already due are
        # the tick's backlog, counted on their own.
        due = schedule.due_per_hour(now + datetime.timedelta(microseconds=1), now + datetime.timedelta(hours=HOURS))
        attempts = messages.attempts_per_hour(behind[0], now + datetime.timedelta(microseconds=1))
        sent = {hour: n for (hour, outcome), n in attempts.items() if outcome == DeliveryAttempt.Outcome.SENT}
        failed = {}
        for (hour, outcome), n in attempts.items():
            if outcome != DeliveryAttempt.Outcome.SENT:
                failed[hour] = failed.get(hour, 0) + n

        counts = messages.status_counts()
        changelist = reverse("admin:messaging_message_changelist")
        statuses = [
            {"status": value, "label": label, "count": counts[value], "url": f"{changelist}?status__exact={value}"}
            for value, label in Message.Status.choices
        ]
        oldest = messages.oldest_unsent()
        return {
            **super().get_context_data(**kwargs),
            **self.site.each_context(self.request),
            "title": "Operations overview",
            "now": now,
            "statuses": statuses,
            "waiting": sum(counts[s].value for s in messages.UNSENT),
            "dead": counts[Message.Status.DEAD],
            "dead_url": f"{changelist}?status__exact=dead",
            "broker_dead": broker_dead_letters(),
            "dead_letter_queue": DEAD_LETTER_QUEUE,
            "overdue": messages.CappedCount.of(schedule.overdue(now), messages.STATUS_COUNT_CAP),
            "oldest": oldest,
            "oldest_age": age(now - oldest.due_at) if oldest else None,
            "breaker": breaker_state(),
            "due_chart": charts.hourly_bars(ahead, [charts.Series("due", "due", due)]),
            "delivery_chart": charts.hourly_bars(
                behind, [charts.Series("sent", "sent", sent), charts.Series("failed attempts", "failed", failed)]
            ),
            "sent_48h": sum(sent.values()),
            "failed_48h": sum(failed.values()),
        }
