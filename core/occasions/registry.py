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


def _register_builtin() -> None:
    from .anniversary import ANNIVERSARY
    from .birthday import BIRTHDAY

    register(BIRTHDAY)
    register(ANNIVERSARY)


_register_builtin()
