import datetime

from django.core.management.base import BaseCommand, CommandError

from core import clock
from messaging.management.publishing import saved_if_the_broker_is_down
from scheduler import services

REHEARSE = (
    "A tick ahead of the workers' clock would advance occasions past messages no worker will send "
    "yet. To rehearse a future instant, set CLOCK_OFFSET_SECONDS to the same value for every process "
    "(API, workers, beat) and run schedule_due without --now."
)

# No replay needs to reach further back, and the tick's arithmetic (the catch-up window before
# --now) overflows near year 1. Later instants are bounded by the clock: the future is refused.
EARLIEST = datetime.datetime(1900, 1, 1, tzinfo=datetime.UTC)


class Command(BaseCommand):
    help = (
        "Run one scheduler tick, now or for a past instant (replaying a window, or catching up by hand). "
        "Future instants are refused: rehearse with CLOCK_OFFSET_SECONDS across all processes instead. "
        "With the broker down the tick's messages are saved and the dispatcher publishes them later (exit status 3)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO-8601 instant with offset, e.g. 2026-03-01T09:00:00Z, not in the "
                                          f"future nor before {EARLIEST.isoformat()} (default: the clock)")

    def handle(self, *args, now=None, **options):
        instant = None
        if now:
            try:
                instant = datetime.datetime.fromisoformat(now.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(f"--now must be an ISO-8601 instant, got {now!r}") from None
            if instant.tzinfo is None:
                raise CommandError("--now needs a UTC offset (e.g. Z or +00:00)")
            if instant < EARLIEST:
                raise CommandError(f"--now {now} is before {EARLIEST.isoformat()}, the earliest instant "
                                   "schedule_due replays")
            current = clock.now()
            if instant > current:
                raise CommandError(f"--now {instant.isoformat()} is in the future (the clock says "
                                   f"{current.isoformat()}). {REHEARSE}")
        with saved_if_the_broker_is_down("the tick's messages are saved",
                                         "Running schedule_due again is not needed (it would find them made)."):
            result = services.run_tick(now=instant)
        self.stdout.write(
            f"tick at {result.now.isoformat()}: scheduled={result.scheduled} expired={result.expired} "
            f"already_present={result.duplicates} published={result.published}"
        )
