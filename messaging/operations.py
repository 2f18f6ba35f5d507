"""What operators do to messages: see counts, retry the dead, push one user's message now."""

import datetime

from django.db import transaction
from django.db.models import Count

from core import clock
from scheduler.models import Occasion

from . import outbox
from .models import Message

RETRYABLE_BY_OPERATOR = (Message.Status.DEAD, Message.Status.FAILED, Message.Status.EXPIRED)


def counts_by_status(now: datetime.datetime | None = None) -> dict[str, int]:
    """Messages by status, plus `due`: occasions whose time has come but have no message yet."""
    now = now or clock.now()
    counts = {status: 0 for status in Message.Status.values}
    counts.update(dict(Message.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    counts["due"] = Occasion.objects.filter(due_at__lte=now).count()
    return counts


def retry_messages(message_ids=None, statuses=(Message.Status.DEAD,)) -> int:
    """Give dead (or failed, or expired) messages a fresh retry budget and publish them now."""
    now = clock.now()
    rows = Message.objects.filter(status__in=[s for s in statuses if s in RETRYABLE_BY_OPERATOR])
    if message_ids is not None:
        rows = rows.filter(id__in=list(message_ids))
    with transaction.atomic():
        count = rows.update(status=Message.Status.PENDING, failures=0, dispatch_after=now, last_error="", updated_at=now)
    outbox.dispatch_ready(now)
    return count


@transaction.atomic
def send_now(user, kind: str = "birthday") -> Message | None:
    """Send the user's next `kind` message now rather than at its due time.

    An unsent message is made ready at once. Otherwise the user's next occurrence is
    materialised early; its unique row means it is not sent again on the day itself.
    """
    now = clock.now()
    unsent = (
        Message.objects.select_for_update()
        .filter(user=user, kind=kind, status__in=[Message.Status.PENDING, Message.Status.RETRY])
        .order_by("occasion_date")
        .first()
    )
    if unsent is not None:
        unsent.status = Message.Status.PENDING
        unsent.dispatch_after = now
        unsent.save(update_fields=["status", "dispatch_after", "updated_at"])
        message = unsent
    else:
        occasion = Occasion.objects.select_for_update().filter(user=user, kind=kind).first()
        if occasion is None:
            return None
        inserted = outbox.create_messages(
            [outbox.NewMessage(user_id=user.pk, kind=kind, occasion_date=occasion.local_date, due_at=now)], now
        )
        if not inserted:
            return None
        message = Message.objects.get(user=user, kind=kind, occasion_date=occasion.local_date)
    transaction.on_commit(lambda: outbox.dispatch_ready(now))
    return message


RETRYABLE_BY_API = (Message.Status.DEAD, Message.Status.FAILED)


class MessageNotFound(Exception):
    pass


class NotRetryable(Exception):
    """The message is not in a state a retry may start from; `status` says which it is in."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def retry_message(*, message_id: int, statuses=RETRYABLE_BY_API) -> Message:
    """Retry one dead or failed message, as `retry_messages` does; the conditional UPDATE on the
    status is what makes a concurrent retry, or a retry of a sent message, impossible."""
    if not retry_messages([message_id], statuses=statuses):
        status = Message.objects.filter(pk=message_id).values_list("status", flat=True).first()
        if status is None:
            raise MessageNotFound(message_id)
        raise NotRetryable(status)
    return Message.objects.get(pk=message_id)
