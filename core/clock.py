"""The one clock every scheduling decision reads. Never the database's now().

Tests swap it with `frozen(instant)`; operators shift it for every process at once with
CLOCK_OFFSET_SECONDS (replaying a window, or rehearsing a catch-up).
"""

import contextlib
import datetime
from collections.abc import Callable, Iterator

from django.conf import settings

_override: Callable[[], datetime.datetime] | None = None


def now() -> datetime.datetime:
    if _override is not None:
        return _override()
    instant = datetime.datetime.now(datetime.UTC)
    if settings.CLOCK_OFFSET_SECONDS:
        instant += datetime.timedelta(seconds=settings.CLOCK_OFFSET_SECONDS)
    return instant


@contextlib.contextmanager
def frozen(instant: datetime.datetime) -> Iterator[None]:
    """Make now() return `instant` (timezone-aware) inside the block."""
    if instant.tzinfo is None:
        raise ValueError("frozen() needs an aware datetime")
    global _override
    previous = _override
    _override = lambda: instant  # noqa: E731
    try:
        yield
    finally:
        _override = previous
