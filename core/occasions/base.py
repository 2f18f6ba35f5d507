import dataclasses
import datetime
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class OccasionType:
    """What makes an occasion: the user's anchor date, and the text sent on it."""

    name: str
    anchor: Callable[[Any], datetime.date | None]
    render: Callable[[Any], str]
    # The user fields whose change moves this occasion's schedule.
    schedule_fields: tuple[str, ...]
