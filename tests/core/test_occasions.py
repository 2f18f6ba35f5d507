"""The occasion rules an edit uses, without a database: which occurrence stays due."""

import datetime
import types
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from core.occasions.birthday import BIRTHDAY

ZONES = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})


def person(birthday, zone):
    return types.SimpleNamespace(birthday=birthday, timezone=zone)


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def test_a_scheduled_occurrence_that_is_still_one_stays_even_when_its_hour_has_passed():
    user = person(datetime.date(1990, 6, 15), "Asia/Tokyo")
    now = utc(2026, 6, 15, 18)  # 03:00 on 16 June in Tokyo
    assert BIRTHDAY.next_due(user, now) == (datetime.date(2027, 6, 15), utc(2027, 6, 15, 0))
    kept = BIRTHDAY.due_after_edit(user, now, datetime.date(2026, 6, 15))
    assert kept == (datetime.date(2026, 6, 15), utc(2026, 6, 15, 0))


def test_a_scheduled_date_that_is_no_longer_an_occurrence_gives_way_to_the_next_one():
    user = person(datetime.date(1990, 7, 1), "UTC")  # the birthday was 15 June
    now = utc(2026, 6, 15, 10)
    assert BIRTHDAY.due_after_edit(user, now, datetime.date(2026, 6, 15)) == BIRTHDAY.next_due(user, now)
    assert BIRTHDAY.due_after_edit(user, now, None) == BIRTHDAY.next_due(user, now)


@given(
    birthday=st.dates(datetime.date(1940, 1, 1), datetime.date(2020, 12, 31)),
    zone=st.sampled_from(ZONES),
    year=st.integers(2021, 2035),
    now=st.datetimes(datetime.datetime(2021, 1, 1), datetime.datetime(2036, 1, 1), timezones=st.just(datetime.UTC)),
)
def test_an_edit_keeps_the_scheduled_occurrence_exactly_when_it_is_still_one(birthday, zone, year, now):
    user = person(birthday, zone)
    scheduled = BIRTHDAY.next_on_or_after(user, datetime.date(year, 1, 1))
    kept = BIRTHDAY.due_after_edit(user, now, scheduled)
    assert kept == (scheduled, BIRTHDAY.due_at(user, scheduled))
    moved = person(birthday + datetime.timedelta(days=1) if birthday.day < 28 else birthday.replace(day=1), zone)
    assert BIRTHDAY.due_after_edit(moved, now, scheduled) == BIRTHDAY.next_due(moved, now)
