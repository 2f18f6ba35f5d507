from django.core.management.base import BaseCommand

from messaging import operations


class Command(BaseCommand):
    help = "Print message counts by status (and occasions due but not yet materialised)."

    def handle(self, *args, **options):
        for status, count in operations.counts_by_status().items():
            self.stdout.write(f"{status:>8} {count}")
