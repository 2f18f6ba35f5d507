"""Helpers shared by the multi-process tests (integration and chaos)."""

import collections
import datetime

from core import calendar, clock
from tests.factories import make_user

# Settings for worker and beat children that make a test's minutes behave like production's
# hours: sub-second ticks and backoff, short leases, a vendor timeout well under its hangs.
FAST = {
    "SEND_HOUR": "0",
    "SCHEDULER_TICK_SECONDS": "1",
    "DISPATCH_INTERVAL_SECONDS": "1",
    "RETRY_BACKOFF_BASE_SECONDS": "0.1",
    "RETRY_BACKOFF_MAX_SECONDS": "1",
    "VENDOR_CONNECT_TIMEOUT_SECONDS": "1",
    "VENDOR_READ_TIMEOUT_SECONDS": "0.5",
    "DELIVERY_LEASE_SECONDS": "5",
    "QUEUED_STALE_SECONDS": "8",
    "CIRCUIT_FAILURE_THRESHOLD": "100000",
}

ZONES = ["UTC", "Asia/Kathmandu", "Pacific/Kiritimati", "Etc/GMT+12", "America/St_Johns", "Australia/Eucla",
         "Pacific/Chatham", "Asia/Kolkata", "Europe/London", "America/Los_Angeles"]


def birthdays_today(count: int) -> list:
    """Users whose birthday is today in their zone (due at once when SEND_HOUR is 0)."""
    now = clock.now()
    users = []
    for i in range(count):
        zone = ZONES[i % len(ZONES)]
        today = calendar.local_today(zone, now)
        users.append(make_user(birthday=today.replace(year=1970 + i % 50), timezone=zone))
    return users


def duplicates(accepted: list[dict]) -> dict:
    """What the vendor accepted more than once: by idempotency key and by (email, text)."""
    by_key = collections.Counter(a["idempotency_key"] for a in accepted)
    by_content = collections.Counter((a["email"], a["message"]) for a in accepted)
    return {
        "by_key": {k: n for k, n in by_key.items() if n > 1},
        "by_content": {k: n for k, n in by_content.items() if n > 1},
    }


def due_within(zone: str, start: datetime.datetime, end: datetime.datetime, send_hour: int) -> datetime.date | None:
    """The local date whose SEND_HOUR falls in (start, end] in `zone`, if one does."""
    day = calendar.local_today(zone, end)
    for _ in range(5):
        due = calendar.due_instant(day, zone, send_hour)
        if start < due <= end:
            return day
        if due <= start:
            return None
        day -= datetime.timedelta(days=1)
    return None


def spread_zones(count: int) -> list[str]:
    """`count` IANA zones spread over the offsets, always including the awkward ones."""
    awkward = ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Eucla",
               "Asia/Kolkata", "America/St_Johns", "Pacific/Marquesas", "Australia/Lord_Howe", "UTC"]
    rest = sorted(z for z in calendar.available_zones() if "/" in z and not z.startswith(("posix/", "right/"))
                  and z not in awkward)
    step = max(1, len(rest) // max(1, count - len(awkward)))
    return (awkward + rest[::step])[:count]
