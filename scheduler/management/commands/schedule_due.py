import datetime

from django.core.management.base import BaseCommand, CommandError

from scheduler import services


class Command(BaseCommand):
    help = "Run one scheduler tick for a given instant (replaying a window, or catching up by hand)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO-8601 instant with offset, e.g. 2026-03-01T09:00:00Z (default: the clock)")

    def handle(self, *args, now=None, **options):
        instant = None
        if now:
            try:
                instant = datetime.datetime.fromisoformat(now.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(f"--now must be an ISO-8601 instant, got {now!r}") from None
            if instant.tzinfo is None:
                raise CommandError("--now needs a UTC offset (e.g. Z or +00:00)")
        result = services.run_tick(now=instant)
        self.stdout.write(
            f"tick at {result.now.isoformat()}: scheduled={result.scheduled} expired={result.expired} "
            f"already_present={result.duplicates} published={result.published}"
        )
