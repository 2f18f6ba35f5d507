"""Read queries over the occasion schedule for operators.

`due_per_hour` counts occasions whose due_at falls in [start, end), grouped by hour: a range
scan of `scheduler_occasion_due_idx` over that window only (about users x 2 / 365 rows a day
for birthdays and anniversaries, ~11,000 for two days at 1,000,000 users). `overdue` counts
occasions already due that the tick has not turned into messages yet, capped like the
message counts, from the same index.
"""

import datetime

from django.db.models import Count
from django.db.models.functions import TruncHour

from .models import Occasion


def due_per_hour(start: datetime.datetime, end: datetime.datetime) -> dict[datetime.datetime, int]:
    rows = (
        Occasion.objects.filter(due_at__gte=start, due_at__lt=end)
        .annotate(hour=TruncHour("due_at", tzinfo=datetime.UTC))
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def overdue(now: datetime.datetime):
    """Occasions with due_at <= now (the tick has not materialised them yet), for a capped count."""
    return Occasion.objects.filter(due_at__lte=now)
