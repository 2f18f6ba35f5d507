import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings

from core import calendar


@dataclasses.dataclass(frozen=True)
class OccasionType:
    """What makes an occasion: the user's anchor date, and the text sent on it.

    The rules about its dates are here, once, for everyone who asks: the scheduler when it
    plans the next occurrence, messaging when it checks, just before sending or when the user
    changes, that a message's date is still the occasion.
    """

    name: str
    anchor: Callable[[Any], datetime.date | None]
    render: Callable[[Any], str]
    # The user fields whose change moves this occasion's schedule.
    schedule_fields: tuple[str, ...]

    def falls_on(self, user, local_date: datetime.date) -> bool:
        """Whether `local_date` is an occurrence of this occasion for the user as they are now
        (a changed birthday makes an old message's date stop being one)."""
        anchor = self.anchor(user)
        return (
            anchor is not None
            and local_date.year > anchor.year
            and calendar.occurrence_in_year(anchor, local_date.year, settings.FEB29_POLICY) == local_date
        )

    def due_at(self, user, local_date: datetime.date) -> datetime.datetime:
        """SEND_HOUR on that date in the user's zone, in UTC."""
        return calendar.due_instant(local_date, user.timezone, settings.SEND_HOUR)

    def next_on_or_after(self, user, local_date: datetime.date) -> datetime.date | None:
        anchor = self.anchor(user)
        return None if anchor is None else calendar.next_occurrence(anchor, local_date, settings.FEB29_POLICY)

    def next_due(self, user, now: datetime.datetime) -> tuple[datetime.date, datetime.datetime] | None:
        """The next occurrence on or after the user's local today (a user created on their
        birthday after SEND_HOUR is still owed today's message) and its instant, or None
        without an anchor date."""
        local_date = self.next_on_or_after(user, calendar.local_today(user.timezone, now))
        return None if local_date is None else (local_date, self.due_at(user, local_date))

    def due_after_edit(
        self, user, now: datetime.datetime, scheduled_date: datetime.date | None
    ) -> tuple[datetime.date, datetime.datetime] | None:
        """What an edit of the user's schedule fields leaves due: the occurrence the schedule
        already held, when it is still one (a zone change, a corrected birth year), at SEND_HOUR
        in the user's zone now; otherwise `next_due`.

        Kept even when its new instant has passed: an occurrence due and waiting for the tick
        (late by a minute, or by an outage) is still owed, as it would be had the tick made its
        message before the edit (messages are re-timed the same way); the catch-up window still
        expires it. Recomputing from the local today instead lost it."""
        if scheduled_date is not None and self.falls_on(user, scheduled_date):
            return scheduled_date, self.due_at(user, scheduled_date)
        return self.next_due(user, now)
