"""Read queries for messages. Every listing is ordered by (due_at, id) and paged by keyset on
that pair, so a page costs an index range scan whatever the table's size."""

import datetime

from django.db.models import Prefetch, QuerySet

from .models import DeliveryAttempt, Message

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
