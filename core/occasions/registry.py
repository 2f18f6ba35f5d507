import datetime

from .base import OccasionType

_TYPES: dict[str, OccasionType] = {}


def register(occasion_type: OccasionType) -> None:
    if occasion_type.name in _TYPES:
        raise ValueError(f"occasion type {occasion_type.name!r} is already registered")
    _TYPES[occasion_type.name] = occasion_type


def get(name: str) -> OccasionType:
    return _TYPES[name]


def all_types() -> list[OccasionType]:
    return list(_TYPES.values())


def first_occurrences(user, now: datetime.datetime) -> list[tuple[str, datetime.date, datetime.datetime]]:
    """(type, local date, due instant) of each occasion a new user has, in registration order.
    `user` is a User or anything with its fields (a bulk import's row, the API's hot path)."""
    upcoming = ((occasion_type.name, occasion_type.next_due(user, now)) for occasion_type in _TYPES.values())
    return [(kind, *due) for kind, due in upcoming if due is not None]


def _register_builtin() -> None:
    from .anniversary import ANNIVERSARY
    from .birthday import BIRTHDAY

    register(BIRTHDAY)
    register(ANNIVERSARY)


_register_builtin()
