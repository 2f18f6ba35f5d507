from django.core.management.base import BaseCommand, CommandError

from apiauth import services


class Command(BaseCommand):
    help = "Revoke an integrator's API token; requests using it get 401 from then on."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        try:
            revoked = services.revoke_by_name(name)
        except services.TokenNotFound:
            raise CommandError(f"No token named {name!r}.") from None
        if revoked:
            self.stdout.write(f"Revoked API token {name!r}.")
        else:
            self.stdout.write(f"API token {name!r} was already revoked.")
