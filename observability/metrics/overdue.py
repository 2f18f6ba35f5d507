"""Deliveries behind schedule, a figure only this system can give: how many messages are due
for longer than OVERDUE_AFTER_SECONDS and still not finished, by occasion type.

Two index range scans, each over what is late only (near nothing when deliveries keep up, so
the cost does not grow with the number of users):
- messages not in a terminal state whose due_at is older than the cutoff: the (status, due_at)
  index, one range per non-terminal status;
- occasions due before the cutoff that the tick has not yet materialised: the due_at index.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Count

from messaging.models import Message
from core import occasions
from scheduler.models import Occasion

from .definitions import MESSAGES_OVERDUE

UNFINISHED = [status for status in Message.Status.values if status not in Message.TERMINAL]


def overdue_messages(cutoff: datetime.datetime):
    return Message.objects.filter(status__in=UNFINISHED, due_at__lt=cutoff)


def overdue_occasions(cutoff: datetime.datetime):
    return Occasion.objects.filter(due_at__lt=cutoff)


def counts(now: datetime.datetime) -> dict[str, int]:
    cutoff = now - datetime.timedelta(seconds=settings.OVERDUE_AFTER_SECONDS)
    result = {occasion_type.name: 0 for occasion_type in occasions.all_types()}
    for query in (overdue_messages(cutoff), overdue_occasions(cutoff)):
        for row in query.values("kind").annotate(n=Count("id")).order_by():
            result[row["kind"]] = result.get(row["kind"], 0) + row["n"]
    return result


def refresh(now: datetime.datetime) -> None:
    for kind, count in counts(now).items():
        MESSAGES_OVERDUE.labels(kind).set(count)
