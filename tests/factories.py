import datetime
import itertools

from scheduler import services
from users.models import User

_counter = itertools.count(1)


def make_user(*, birthday=datetime.date(1990, 6, 15), timezone="UTC", anniversary_date=None, now=None, **fields):
    n = next(_counter)
    user = User.objects.create(
        first_name=fields.pop("first_name", f"First{n}"),
        last_name=fields.pop("last_name", f"Last{n}"),
        email=fields.pop("email", f"user{n}@example.com"),
        birthday=birthday,
        timezone=timezone,
        anniversary_date=anniversary_date,
        **fields,
    )
    services.sync_occasions(user, None, now)
    return user


def utc(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def user_payload(**overrides) -> dict:
    """A valid POST /user body; keyword arguments replace or add fields."""
    return {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "birthday": "1990-03-04",
        "timezone": "Europe/Paris",
        **overrides,
    }
