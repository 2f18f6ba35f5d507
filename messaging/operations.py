"""What operators do to messages: see counts, retry the dead, push one user's message now."""

import datetime

from django.db import transaction
from django.db.models import Count, F, Value
from django.db.models.functions import Least

from core import calendar, clock, occasions

from . import outbox
from .models import Message

RETRYABLE_BY_OPERATOR = (Message.Status.DEAD, Message.Status.FAILED, Message.Status.EXPIRED)


class UnknownMessages(LookupError):
    """Ids an operator named that are not messages at all."""

    def __init__(self, ids):
        self.ids = sorted(ids)
        super().__init__(f"no message with id {', '.join(map(str, self.ids))}")


def counts_by_status() -> dict[str, int]:
    """Messages by status (every status, zero included)."""
    counts = {status: 0 for status in Message.Status.values}
    counts.update(dict(Message.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    return counts


def retry_messages(message_ids=None, statuses=(Message.Status.DEAD,)) -> int:
    """Give dead (or failed, or expired) messages a fresh retry budget and publish them now.

    The budget is the catch-up window, counted from the due instant, so a retried message is
    due again from the retry: with no attempt cap (the default) a message dies only when its
    window has run out, and with its old due instant the dispatcher would expire it again at
    once. Its lateness is counted from the retry as well; its attempts keep the history.

    Named ids that are not messages at all raise UnknownMessages (nothing is retried then); a
    named message in another status is left alone and not counted.
    """
    now = clock.now()
    rows = Message.objects.filter(status__in=[s for s in statuses if s in RETRYABLE_BY_OPERATOR])
    if message_ids is not None:
        message_ids = {int(message_id) for message_id in message_ids}
        unknown = message_ids - set(Message.objects.filter(id__in=message_ids).values_list("id", flat=True))
        if unknown:
            raise UnknownMessages(unknown)
        rows = rows.filter(id__in=message_ids)
    with transaction.atomic():
        count = rows.update(status=Message.Status.PENDING, failures=0, due_at=now, dispatch_after=now, last_error="",
                            updated_at=now)
    outbox.dispatch_ready(now)
    return count


WAITING = (Message.Status.PENDING, Message.Status.RETRY)


def send_messages_now(message_ids) -> int:
    """Make these messages, where they are still waiting (pending, or waiting to retry), ready
    now and publish them; returns how many. Only the messages named: unlike `send_now`, which
    is about a user, nothing is created, so selecting a message that went out meanwhile is a
    no-op rather than next year's message early."""
    now = clock.now()
    with transaction.atomic():
        count = Message.objects.filter(id__in=list(message_ids), status__in=WAITING).update(
            status=Message.Status.PENDING, dispatch_after=now, due_at=Least(F("due_at"), Value(now)), updated_at=now)
    if count:
        outbox.dispatch_ready(now)
    return count


@transaction.atomic
def send_now(user, kind: str = "birthday") -> Message | None:
    """Send the user's next `kind` message now rather than at its due time, exactly once.

    An unsent message is made ready at once. Otherwise the next occurrence that has no message
    yet gets its row now, due now: the delivery accepts it (its date is still the occasion and
    its due instant has come), and when the real date comes the tick finds the row and the
    unique (user, kind, date) constraint keeps it from being created, or sent, again.
    Returns None when the user has no such occasion; raises QueuedByAnother when a concurrent
    send_now or the tick inserted that occasion's message first (it goes out once, theirs).
    """
    now = clock.now()
    occasion_type = occasions.get(kind)
    unsent = (
        Message.objects.select_for_update()
        .filter(user=user, kind=kind, status__in=[Message.Status.PENDING, Message.Status.RETRY])
        .order_by("occasion_date")
        .first()
    )
    if unsent is not None:
        unsent.status = Message.Status.PENDING
        unsent.dispatch_after = now
        unsent.due_at = min(unsent.due_at, now)
        unsent.save(update_fields=["status", "dispatch_after", "due_at", "updated_at"])
        message = unsent
    else:
        local_date = occasion_type.next_on_or_after(user, calendar.local_today(user.timezone, now))
        if local_date is None:
            return None
        taken = set(
            Message.objects.filter(user=user, kind=kind, occasion_date__gte=local_date).values_list(
                "occasion_date", flat=True
            )
        )
        while local_date in taken:
            local_date = occasion_type.next_on_or_after(user, local_date + datetime.timedelta(days=1))
        inserted = outbox.create_messages(
            [outbox.NewMessage(user_id=user.pk, kind=kind, occasion_date=local_date, due_at=now)], now
        )
        if not inserted:
            raise QueuedByAnother(user.pk, kind, local_date)
        message = Message.objects.get(pk=inserted[0].id)
    transaction.on_commit(lambda: outbox.dispatch_ready(now))
    return message


class QueuedByAnother(Exception):
    """send_now lost the race for the occasion's message to a concurrent send_now or the tick:
    the message exists and is theirs to send, so there is nothing left for this one to do."""

    def __init__(self, user_id: int, kind: str, occasion_date: datetime.date):
        super().__init__(f"another process queued user {user_id}'s {kind} of {occasion_date} first")
        self.user_id, self.kind, self.occasion_date = user_id, kind, occasion_date


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
    try:
        retried = retry_messages([message_id], statuses=statuses)
    except UnknownMessages:
        raise MessageNotFound(message_id) from None
    if not retried:
        status = Message.objects.filter(pk=message_id).values_list("status", flat=True).first()
        if status is None:
            raise MessageNotFound(message_id)
        raise NotRetryable(status)
    return Message.objects.get(pk=message_id)
