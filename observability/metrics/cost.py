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


def trailing_cost_per_user(now: datetime.datetime, active_users: int, days: int = TRAILING_DAYS) -> float:
    """Vendor calls and sent messages of finished messages due in the last `days` days, per
    active user. The (status, due_at) index serves the query."""
    if active_users <= 0:
        return 0.0
    totals = Message.objects.filter(
        status__in=[Message.Status.SENT, Message.Status.FAILED, Message.Status.DEAD],
        due_at__gte=now - datetime.timedelta(days=days),
    ).aggregate(calls=Sum("attempts"), sent=Count("id", filter=Q(status=Message.Status.SENT)))
    calls = totals["calls"] or 0
    sent = totals["sent"] or 0
    return (calls * settings.COST_PER_VENDOR_CALL + sent * settings.COST_PER_MESSAGE) / active_users
