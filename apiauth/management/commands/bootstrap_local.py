import os
import re
import secrets
import tempfile
from pathlib import Path

from axes.utils import reset as reset_lockouts
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError
from django.db import transaction

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
        text = _read(path)
        password = _found(_PASSWORD_LINE, text)
        token = _found(_TOKEN_LINE, text)
        repaired = []
        # One transaction with the file's write: credentials the file does not hold are not left
        # in the database (the old ones printed by the last start would have stopped working).
        with transaction.atomic():
            if not _login_works(password):
                password = secrets.token_urlsafe(12)
                _set_admin_password(password)
                repaired.append("admin password")
            if not _token_works(token):
                _row, token = tokens.create_token(f"local-{secrets.token_hex(3)}")
                repaired.append("API token")
            if not repaired:
                return
            _write(path, f"admin login: {USERNAME} / {password}\nAPI token: {token}\n")
        self.stdout.write(f"{' and '.join(repaired)} set for this database; written to {path}")


def _read(path: Path) -> str:
    """The file's text, "" when there is none yet; checked before anything is changed."""
    if path.is_dir():
        raise CommandError(f"{path} is a directory; name the credentials file to write")
    if not path.parent.is_dir():
        raise CommandError(f"{path}: no directory {path.parent}")
    if not path.exists():
        return ""
    if not path.is_file():
        raise CommandError(f"{path} is not a regular file (a device or pipe); name a credentials file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not a credentials file (not UTF-8 text); move it away or name "
                           f"another file") from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot read it ({exc.strerror})") from None


def _write(path: Path, text: str) -> None:
    """Replace the file with one that is 0600 from its creation (mkstemp): a chmod after writing
    would not stop a reader who opened the old file while it was readable by others. The
    replacement is atomic, so a reader sees the old credentials or the new ones, never half."""
    target = path.resolve()  # a symbolic link keeps pointing at the file it names
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise CommandError(f"{path}: cannot write in {target.parent} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except OSError as exc:
        os.unlink(temporary)
        raise CommandError(f"{path}: cannot write it ({exc.strerror})") from None


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
