from django.core.management.base import BaseCommand, CommandError

from apiauth import services
from core.exit_status import SAVED_NOT_IN_EFFECT


class Command(BaseCommand):
    help = (
        "Revoke an integrator's API token; requests using it get 401 from then on. If the token cache "
        f"cannot be updated, the revocation is kept but may take up to {services.TOKEN_CACHE_SECONDS} "
        "seconds to take effect: the command says so and exits with status 3 (run it again once the cache "
        "is reachable)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        try:
            revocation = services.revoke_by_name(name)
        except services.TokenNotFound:
            raise CommandError(f"No token named {name!r}.") from None
        if revocation.revoked:
            self.stdout.write(f"Revoked API token {name!r}.")
        else:
            self.stdout.write(f"API token {name!r} was already revoked.")
        if revocation.cache.done is False:
            # The revocation is saved, but a script must not report it effective yet.
            raise CommandError(
                f"the token cache could not be updated ({revocation.cache.error}): requests with this token "
                f"may still be accepted for up to {services.TOKEN_CACHE_SECONDS} seconds, until the cached "
                f"answer expires. The revocation is saved; run revoke_api_token {name} again once the cache "
                "is reachable to make it take effect at once.",
                returncode=SAVED_NOT_IN_EFFECT,
            )
