"""Read queries over messages and delivery attempts for operators (admin, overview page).

Each query's cost is bounded by a window or a cap, never by the size of the history, so the
pages that use them stay fast with years of messages behind 1,000,000 users:

- `status_counts`: per status, `SELECT count(*) FROM (SELECT ... WHERE status = %s LIMIT cap+1)`:
  a range scan of `messaging_message_status_idx` (status, due_at) that stops after cap+1 rows,
  so eight statuses cost at most 8 x (cap+1) index entries; a count at the cap is shown as
  "cap+" (the all-time number of sent messages is not worth a full scan).
- `attempts_per_hour`: delivery attempts in [start, end) grouped by hour and outcome: a range
  scan of `messaging_attempt_started_idx` (started_at) over the window only.
- `oldest_unsent`: for each unsent status, the first row of `messaging_message_status_idx` in
  due_at order (one index probe each); the oldest of those.
"""

import dataclasses
import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import TruncHour

from .models import DeliveryAttempt, Message

UNSENT = (Message.Status.PENDING, Message.Status.QUEUED, Message.Status.SENDING, Message.Status.RETRY)
STATUS_COUNT_CAP = 100_000


@dataclasses.dataclass(frozen=True)
class CappedCount:
    value: int
    capped: bool  # True: there are more than `value`

    @classmethod
    def of(cls, queryset, cap: int) -> "CappedCount":
        # count() of a sliced queryset is COUNT(*) over a LIMITed subquery: it stops at cap+1.
        found = queryset[: cap + 1].count()
        return cls(min(found, cap), found > cap)

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


def status_counts(cap: int = STATUS_COUNT_CAP) -> dict[str, CappedCount]:
    return {status: CappedCount.of(Message.objects.filter(status=status), cap) for status in Message.Status.values}


def attempts_per_hour(start: datetime.datetime, end: datetime.datetime) -> dict[tuple[datetime.datetime, str], int]:
    """(hour in UTC, outcome) -> attempts started in that hour, for [start, end)."""
    rows = (
        DeliveryAttempt.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(hour=TruncHour("started_at", tzinfo=datetime.UTC))
        .values_list("hour", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(hour, outcome): n for hour, outcome, n in rows}


def oldest_unsent() -> Message | None:
    heads = [
        Message.objects.filter(status=status).order_by("due_at").select_related("user").first()
        for status in UNSENT
    ]
    heads = [message for message in heads if message is not None]
    return min(heads, key=lambda message: message.due_at, default=None)


# --- the messages API (GET /messages, /user/<id>/messages, /messages/<id>) ------------------------
# Every listing is ordered by (due_at, id) and paged by keyset on that pair
# (messaging/pagination.py), so a page costs an index range scan whatever the table's size.

LIST_FIELDS = (
    "id", "user_id", "kind", "occasion_date", "due_at", "status", "attempts", "failures", "sent_at",
    "last_error", "created_at", "updated_at",
)


def list_messages(
    *,
    user_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    due_after: datetime.datetime | None = None,
    due_before: datetime.datetime | None = None,
) -> QuerySet[Message]:
    """Messages matching every given filter. `due_after` is inclusive, `due_before` exclusive."""
    queryset = Message.objects.only(*LIST_FIELDS)
    if user_id is not None:
        queryset = queryset.filter(user_id=user_id)
    if status is not None:
        queryset = queryset.filter(status=status)
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    if due_after is not None:
        queryset = queryset.filter(due_at__gte=due_after)
    if due_before is not None:
        queryset = queryset.filter(due_at__lt=due_before)
    return queryset


def get_message(message_id: int) -> Message | None:
    """One message with its delivery attempts, in order."""
    attempts = Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("number"))
    return Message.objects.prefetch_related(attempts).filter(pk=message_id).first()
