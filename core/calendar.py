"""When an occasion falls due: pure functions over dates and IANA zones (zoneinfo).

An occurrence of an anchor date (a birthday, an anniversary) in a given year is the same month
and day; 29 February in a common year follows FEB29_POLICY (28 February by default, or
1 March). It is due at SEND_HOUR:00 local time, converted to UTC with the zone's rules for
that date, so daylight-saving changes and offsets such as +05:45 or +12:45 come out right.
"""

import datetime
import functools
import zoneinfo

UTC = datetime.UTC


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


# Files in the zone database that are not places: `localtime` (and `posixrules`) are whatever
# this server was configured with, so the same name would mean another zone on another machine;
# `Factory` is tzdata's "-00" placeholder for a machine nobody configured.
NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})


@functools.lru_cache(maxsize=1)
def available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES


def is_valid_zone(name: str) -> bool:
    return name in available_zones()


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def occurrence_in_year(anchor: datetime.date, year: int, feb29_policy: str = "feb28") -> datetime.date:
    if anchor.month == 2 and anchor.day == 29 and not _is_leap(year):
        return datetime.date(year, 3, 1) if feb29_policy == "mar1" else datetime.date(year, 2, 28)
    return datetime.date(year, anchor.month, anchor.day)


def next_occurrence(
    anchor: datetime.date, on_or_after: datetime.date, feb29_policy: str = "feb28"
) -> datetime.date:
    """The first occurrence on or after `on_or_after`, never in the anchor's own year."""
    year = max(on_or_after.year, anchor.year + 1)
    while True:
        candidate = occurrence_in_year(anchor, year, feb29_policy)
        if candidate >= on_or_after:
            return candidate
        year += 1


def due_instant(local_date: datetime.date, zone_name: str, send_hour: int) -> datetime.datetime:
    """SEND_HOUR:00 on `local_date` in the zone, as a UTC instant.

    A wall time that a daylight-saving gap skips resolves with the offset in force before the
    gap (zoneinfo's fold=0), i.e. the first real instant after it.
    """
    local = datetime.datetime.combine(local_date, datetime.time(send_hour), tzinfo=zone(zone_name))
    return local.astimezone(UTC)


def local_today(zone_name: str, instant: datetime.datetime) -> datetime.date:
    return instant.astimezone(zone(zone_name)).date()
