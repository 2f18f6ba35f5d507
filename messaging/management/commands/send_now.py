from django.core.management.base import BaseCommand, CommandError

from core import occasions
from messaging import operations
from messaging.management.publishing import saved_if_the_broker_is_down
from users.models import User


class Command(BaseCommand):
    help = (
        "Send one user's next message of a kind now, ahead of its date; it is sent once and not again "
        "when the date comes. With the broker down the message is saved and the dispatcher publishes it "
        "later (exit status 3): do not run it again."
    )

    def add_arguments(self, parser):
        parser.add_argument("user_id", type=int)
        parser.add_argument("--kind", default="birthday", choices=[t.name for t in occasions.all_types()])

    def handle(self, *args, user_id, kind, **options):
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            raise CommandError(f"no user {user_id}")
        try:
            with saved_if_the_broker_is_down(
                f"user {user_id}'s next {kind} message is saved, due now",
                "Do not run send_now again for this user: that would send the next occurrence early too.",
            ):
                message = operations.send_now(user, kind)
        except operations.QueuedByAnother as lost:
            # Not "nothing to send": an operator told that would run it again, and that sends the
            # following occurrence early too.
            raise CommandError(f"{lost} (a concurrent send_now or the tick); that message is sent once. "
                               "Running send_now again would send the next occurrence early as well.") from None
        if message is None:
            raise CommandError(f"user {user_id} has no {kind} to send")
        self.stdout.write(
            f"message {message.pk} ({kind} of {message.occasion_date}) queued to send now; "
            f"it will not be sent again on {message.occasion_date}"
        )
