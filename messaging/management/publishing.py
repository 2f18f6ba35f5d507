"""For the commands that change messages and then publish them (retry_dead, send_now,
schedule_due): the change commits before anything is published, so a broker that cannot be
reached is not a failure of the change, and must not read as one."""

import contextlib

from django.core.management.base import CommandError

from core.exit_status import SAVED_NOT_IN_EFFECT
from messaging.outbox import BrokerUnreachable


@contextlib.contextmanager
def saved_if_the_broker_is_down(saved: str, again: str):
    """Turn a broker error raised after the commit into an operator's message: what was saved
    (`saved`), that the periodic dispatcher publishes it, and whether running the command again
    is needed (`again`)."""
    try:
        yield
    except BrokerUnreachable as exc:
        raise CommandError(
            f"{saved}, but the broker could not be reached to publish ({exc}). Nothing is lost: the rows "
            f"wait in the database and the periodic dispatcher publishes them once the broker is back. {again}",
            returncode=SAVED_NOT_IN_EFFECT,
        ) from None
