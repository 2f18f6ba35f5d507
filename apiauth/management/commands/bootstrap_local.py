import re
import secrets
from pathlib import Path

from axes.utils import reset as reset_lockouts
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand

from apiauth import services as tokens
from apiauth.models import ApiToken

USERNAME = "admin"
_PASSWORD_LINE = re.compile(rf"^admin login: {USERNAME} / (\S+)$", re.M)
_TOKEN_LINE = re.compile(r"^API token: (\S+)$", re.M)


class Command(BaseCommand):
    help = (
        "Local runs: make sure the admin login and the API token in the credentials file work in the "
        "database in use, creating or resetting them there (and rewriting the file) when they do not."
    )

    def add_arguments(self, parser):
        parser.add_argument("credentials_file")

    def handle(self, *args, credentials_file, **options):
        # Run at every start: the file outlives the database it was written for (a checkout
        # switched from SQLite to PostgreSQL, a dropped database), so it is checked, not trusted.
        path = Path(credentials_file)
        text = path.read_text() if path.exists() else ""
        password = _found(_PASSWORD_LINE, text)
        token = _found(_TOKEN_LINE, text)
        repaired = []
        if not _login_works(password):
            password = secrets.token_urlsafe(12)
            _set_admin_password(password)
            repaired.append("admin password")
        if not _token_works(token):
            _row, token = tokens.create_token(f"local-{secrets.token_hex(3)}")
            repaired.append("API token")
        if not repaired:
            return
        path.write_text(f"admin login: {USERNAME} / {password}\nAPI token: {token}\n")
        path.chmod(0o600)
        self.stdout.write(f"{' and '.join(repaired)} set for this database; written to {path}")


def _found(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def _login_works(password: str | None) -> bool:
    operator = get_user_model().objects.filter(username=USERNAME).first()
    return bool(
        password and operator is not None and operator.is_active and operator.is_staff and operator.is_superuser
        and operator.check_password(password)
    )


def _set_admin_password(password: str) -> None:
    Operator = get_user_model()
    operator = Operator.objects.filter(username=USERNAME).first()
    if operator is None:
        Operator.objects.create_superuser(USERNAME, f"{USERNAME}@localhost", password)
    else:
        operator.set_password(password)
        operator.is_active = operator.is_staff = operator.is_superuser = True
        operator.save()
    # Attempts with the old, printed password must not keep the new one locked out.
    reset_lockouts(username=USERNAME)


def _token_works(raw: str | None) -> bool:
    # The database, not the token cache: the cache may still hold another database's answer.
    return bool(raw) and ApiToken.objects.filter(token_hash=tokens.hash_token(raw), revoked_at__isnull=True).exists()
