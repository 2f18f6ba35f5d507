import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command

from apiauth import services as tokens


class Command(BaseCommand):
    help = "First local run: create an admin login and an API token, written to a file (never overwritten)."

    def add_arguments(self, parser):
        parser.add_argument("credentials_file")

    def handle(self, *args, credentials_file, **options):
        path = Path(credentials_file)
        if path.exists():
            return
        password = secrets.token_urlsafe(12)
        Operator = get_user_model()
        if not Operator.objects.filter(username="admin").exists():
            Operator.objects.create_superuser("admin", "admin@localhost", password)
        else:
            operator = Operator.objects.get(username="admin")
            operator.set_password(password)
            operator.save()
        _token, token = tokens.create_token(f"local-{secrets.token_hex(3)}")
        path.write_text(f"admin login: admin / {password}\nAPI token: {token}\n")
        path.chmod(0o600)
