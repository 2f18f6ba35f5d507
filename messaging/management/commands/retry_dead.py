from django.core.management.base import BaseCommand, CommandError

from messaging import operations
from messaging.management.publishing import saved_if_the_broker_is_down
from messaging.models import Message


class Command(BaseCommand):
    help = (
        "Give dead messages (and, on request, failed or expired ones) a fresh retry budget and queue them. "
        "With the broker down the retries are saved and the dispatcher publishes them later (exit status 3)."
    )

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Only these message ids (each must exist)")
        parser.add_argument("--include-failed", action="store_true")
        parser.add_argument("--include-expired", action="store_true")

    def handle(self, *args, ids=None, include_failed=False, include_expired=False, **options):
        statuses = [Message.Status.DEAD]
        if include_failed:
            statuses.append(Message.Status.FAILED)
        if include_expired:
            statuses.append(Message.Status.EXPIRED)
        try:
            with saved_if_the_broker_is_down("the messages are saved with a fresh retry budget, ready to send",
                                             "Running retry_dead again is not needed."):
                count = operations.retry_messages(ids or None, statuses)
        except operations.UnknownMessages as exc:
            raise CommandError(f"{exc}; nothing was queued") from None
        self.stdout.write(f"queued {count} message(s) again")
