"""Cost metrics: each vendor call and each sent message costs what settings say
(COST_PER_VENDOR_CALL, COST_PER_MESSAGE, in USD)."""

import datetime

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.dispatch import receiver

from messaging import signals
from messaging.models import Message

from .definitions import API_CALL_COST, MESSAGES_COST

TRAILING_DAYS = 30


@receiver(signals.delivery_attempted, dispatch_uid="metrics.cost.attempted")
def _attempted(sender, kind, outcome, **kwargs):
    API_CALL_COST.labels(settings.VENDOR_NAME, kind).inc(settings.COST_PER_VENDOR_CALL)
    if outcome == "sent":
        MESSAGES_COST.labels(kind).inc(settings.COST_PER_MESSAGE)


def infrastructure_hourly() -> float:
    return (settings.INFRA_COST_DATABASE_USD_HOURLY + settings.INFRA_COST_QUEUE_USD_HOURLY
            + settings.INFRA_COST_COMPUTE_USD_HOURLY)


def trailing_cost_per_user(now: datetime.datetime, active_users: int, days: int = TRAILING_DAYS) -> float:
    """What the last `days` days cost, per active user: vendor calls and sent messages of the
    finished messages due in them (the (status, due_at) index serves the query) plus the
    infrastructure's hourly cost over the same days."""
    if active_users <= 0:
        return 0.0
    totals = Message.objects.filter(
        status__in=[Message.Status.SENT, Message.Status.FAILED, Message.Status.DEAD],
        due_at__gte=now - datetime.timedelta(days=days),
    ).aggregate(calls=Sum("attempts"), sent=Count("id", filter=Q(status=Message.Status.SENT)))
    calls = totals["calls"] or 0
    sent = totals["sent"] or 0
    usage = calls * settings.COST_PER_VENDOR_CALL + sent * settings.COST_PER_MESSAGE
    return (usage + infrastructure_hourly() * 24 * days) / active_users
