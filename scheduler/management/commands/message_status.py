from django.core.management.base import BaseCommand

from core import clock
from messaging import operations
from scheduler.models import Occasion


class Command(BaseCommand):
    help = "Print message counts by status (and occasions due but not yet materialised)."

    def handle(self, *args, **options):
        counts = operations.counts_by_status()
        # Occasions whose time has come but that have no message yet (the tick is behind).
        counts["due"] = Occasion.objects.filter(due_at__lte=clock.now()).count()
        for status, count in counts.items():
            self.stdout.write(f"{status:>8} {count}")
