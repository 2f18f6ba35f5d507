from django.core.management.base import BaseCommand, CommandError

from apiauth import services


class Command(BaseCommand):
    help = "Issue an API token for an integrator. The token is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A unique name for the integrator, e.g. crm-sync; a revoked token keeps "
                                         "its name until it is deleted")

    def handle(self, *args, name, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters.")
        try:
            token, raw = services.create_token(name)
        except services.TokenNameTaken as taken:
            if taken.revoked:
                raise CommandError(
                    f"The name {name!r} belonged to a revoked token; a revoked token keeps its name (and its "
                    "history) until it is deleted in the admin, so choose another name."
                ) from None
            raise CommandError(f"A token named {name!r} already exists; choose another name (a name stays "
                               "its token's, revoked or not, until the token is deleted).") from None
        self.stdout.write(f"Created API token {token.name!r} (starts with {token.prefix}).")
        self.stdout.write("Store it now: only its hash is kept, so it cannot be shown again.")
        # Last line, alone, so scripts can take it with `tail -n 1`.
        self.stdout.write(raw)
