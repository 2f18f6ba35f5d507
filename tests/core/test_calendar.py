import datetime
import zoneinfo

import pytest
from hypothesis import given, strategies as st

from core import calendar

ZONES = sorted(zoneinfo.available_timezones())
dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 12, 31))


@given(zone_name=st.sampled_from(ZONES), day=dates, hour=st.integers(min_value=0, max_value=23))
def test_due_instant_is_send_hour_on_that_local_date_in_every_zone(zone_name, day, hour):
    instant = calendar.due_instant(day, zone_name, hour)
    assert instant.tzinfo is not None
    local = instant.astimezone(zoneinfo.ZoneInfo(zone_name))
    if local.date() == day and local.hour == hour and local.minute == 0:
        return
    # Only a wall time that a transition skips may move, and then only forward, to just after it.
    requested = datetime.datetime.combine(day, datetime.time(hour))
    tz = zoneinfo.ZoneInfo(zone_name)
    assert requested.replace(tzinfo=tz, fold=0).utcoffset() != requested.replace(tzinfo=tz, fold=1).utcoffset()
    assert requested < local.replace(tzinfo=None) <= requested + datetime.timedelta(hours=24)


@given(anchor=dates, on_or_after=dates, policy=st.sampled_from(["feb28", "mar1"]))
def test_next_occurrence_is_the_first_anniversary_on_or_after(anchor, on_or_after, policy):
    result = calendar.next_occurrence(anchor, on_or_after, policy)
    assert result >= on_or_after
    assert result.year > anchor.year
    assert result == calendar.occurrence_in_year(anchor, result.year, policy)
    previous_year = result.year - 1
    if previous_year > anchor.year:
        assert calendar.occurrence_in_year(anchor, previous_year, policy) < on_or_after


@pytest.mark.parametrize(
    "zone_name, day, expected_utc",
    [
        ("Asia/Kathmandu", datetime.date(2026, 5, 1), "2026-05-01T03:15:00+00:00"),  # +05:45
        ("Asia/Kolkata", datetime.date(2026, 5, 1), "2026-05-01T03:30:00+00:00"),  # +05:30
        ("Pacific/Chatham", datetime.date(2026, 1, 10), "2026-01-09T19:15:00+00:00"),  # +13:45 (DST)
        ("Pacific/Chatham", datetime.date(2026, 7, 10), "2026-07-09T20:15:00+00:00"),  # +12:45
        ("Pacific/Kiritimati", datetime.date(2026, 5, 1), "2026-04-30T19:00:00+00:00"),  # +14:00
        ("Etc/GMT+12", datetime.date(2026, 5, 1), "2026-05-01T21:00:00+00:00"),  # -12:00
        ("America/New_York", datetime.date(2026, 3, 8), "2026-03-08T13:00:00+00:00"),  # DST starts that night
        ("America/New_York", datetime.date(2026, 3, 7), "2026-03-07T14:00:00+00:00"),
        ("Europe/London", datetime.date(2026, 10, 25), "2026-10-25T09:00:00+00:00"),  # DST ends that night
        ("Europe/London", datetime.date(2026, 10, 24), "2026-10-24T08:00:00+00:00"),
        ("Australia/Melbourne", datetime.date(2026, 4, 5), "2026-04-04T23:00:00+00:00"),  # AEST from 03:00
    ],
)
def test_due_instant_known_offsets(zone_name, day, expected_utc):
    assert calendar.due_instant(day, zone_name, 9).isoformat() == expected_utc


@pytest.mark.parametrize("zone_name", ZONES)
def test_every_zone_over_two_years_of_send_hours(zone_name):
    """Deterministic sweep: every zone, every day of a common and a leap year, at 09:00."""
    tz = zoneinfo.ZoneInfo(zone_name)
    day = datetime.date(2027, 1, 1)
    while day < datetime.date(2029, 1, 1):
        local = calendar.due_instant(day, zone_name, 9).astimezone(tz)
        assert (local.date(), local.hour, local.minute) == (day, 9, 0) or local.replace(tzinfo=None) > datetime.datetime.combine(day, datetime.time(9))
        day += datetime.timedelta(days=1)


def test_a_new_york_gap_hour_moves_forward_by_the_gap():
    local = calendar.due_instant(datetime.date(2026, 3, 8), "America/New_York", 2).astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (3, 0)


def test_a_zone_whose_gap_covers_send_hour_gets_the_first_instant_after_it():
    # Pacific/Apia skipped 30 December 2011 entirely (moved across the date line).
    instant = calendar.due_instant(datetime.date(2011, 12, 30), "Pacific/Apia", 9)
    local = instant.astimezone(zoneinfo.ZoneInfo("Pacific/Apia"))
    assert local.date() == datetime.date(2011, 12, 31)


@pytest.mark.parametrize(
    "year, policy, expected",
    [
        (2027, "feb28", datetime.date(2027, 2, 28)),
        (2027, "mar1", datetime.date(2027, 3, 1)),
        (2028, "feb28", datetime.date(2028, 2, 29)),
        (2100, "feb28", datetime.date(2100, 2, 28)),  # not a leap year
        (2000, "mar1", datetime.date(2000, 2, 29)),  # a leap year
    ],
)
def test_29_february_in_common_and_leap_years(year, policy, expected):
    assert calendar.occurrence_in_year(datetime.date(1996, 2, 29), year, policy) == expected


def test_next_occurrence_includes_today_and_skips_the_birth_year():
    assert calendar.next_occurrence(datetime.date(1990, 11, 27), datetime.date(2026, 11, 27)) == datetime.date(2026, 11, 27)
    assert calendar.next_occurrence(datetime.date(1990, 11, 26), datetime.date(2026, 11, 27)) == datetime.date(2027, 11, 26)
    assert calendar.next_occurrence(datetime.date(2026, 1, 5), datetime.date(2026, 1, 5)) == datetime.date(2027, 1, 5)


def test_local_today_differs_from_utc_date_at_the_extremes():
    instant = datetime.datetime(2026, 11, 27, 11, 0, tzinfo=datetime.UTC)
    assert calendar.local_today("Pacific/Kiritimati", instant) == datetime.date(2026, 11, 28)
    assert calendar.local_today("Etc/GMT+12", instant) == datetime.date(2026, 11, 26)
    assert calendar.local_today("UTC", instant) == datetime.date(2026, 11, 27)
