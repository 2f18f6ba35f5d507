"""Bulk loading: the user population (COPY) and cohorts of users due at a chosen instant.

Occasion rows are computed with `core.calendar`, once per distinct (zone, month, day):
for every user that is all `next_occurrence` and `due_instant` depend on (an anchor year is
always before the current one), so a million users need a few hundred thousand calls, not a
million.
"""

from __future__ import annotations

import datetime
import random
import sys
import time

from django.conf import settings
from django.db import connection

from core import calendar

USER_COLUMNS = "id, first_name, last_name, email, birthday, timezone, anniversary_date, created_at, updated_at"
OCCASION_COLUMNS = "user_id, kind, local_date, due_at"
# Population birthdays keep this many days clear either side of the run's date, so nothing of
# the population falls due while the benchmark runs; the due sets are cohorts added on purpose.
QUIET_DAYS = 3
COPY_CHUNK = 50_000


def zones() -> list[str]:
    return sorted(calendar.available_zones())


def _progress(total: int, label: str, quiet: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None and not quiet:
        return tqdm(total=total, desc=label, unit="rows", unit_scale=True, file=sys.stderr)
    return _Lines(total, label, quiet)


class _Lines:
    def __init__(self, total, label, quiet):
        self.total, self.label, self.quiet, self.done, self.next_report = total, label, quiet, 0, 0

    def update(self, n):
        self.done += n
        if not self.quiet and self.done >= self.next_report:
            print(f"{self.label}: {self.done}/{self.total}", file=sys.stderr, flush=True)
            self.next_report += max(1, self.total // 10)

    def close(self):
        pass


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_deliveryattempt, messaging_message, scheduler_occasion, users_user RESTART IDENTITY CASCADE"
        )


def _birthdays(rng: random.Random, today: datetime.date):
    quiet = {(today + datetime.timedelta(days=d)).timetuple()[1:3] for d in range(-QUIET_DAYS, QUIET_DAYS + 1)}
    while True:
        year = rng.randint(1940, 2005)
        day = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randrange(366 if year % 4 == 0 else 365))
        if (day.month, day.day) not in quiet:
            yield day


def seed_population(count: int, now: datetime.datetime, seed: int = 1, quiet: bool = False) -> dict:
    """Replace all users with `count` users spread evenly over every IANA zone, and their occasions."""
    started = time.perf_counter()
    reset()
    rng = random.Random(seed)
    all_zones = zones()
    birthdays = _birthdays(rng, now.date())
    today = {zone: calendar.local_today(zone, now) for zone in all_zones}
    due: dict[tuple[str, int, int], tuple[datetime.date, datetime.datetime]] = {}
    raw = connection.connection
    bar = _progress(count, "users", quiet)
    with raw.cursor() as cursor:
        for start in range(1, count + 1, COPY_CHUNK):
            end = min(count + 1, start + COPY_CHUNK)
            users, occasions = [], []
            for user_id in range(start, end):
                zone = all_zones[user_id % len(all_zones)]
                birthday = next(birthdays)
                users.append((user_id, f"First{user_id}", f"Last{user_id}", f"user{user_id}@bench.example",
                              birthday, zone, None, now, now))
                key = (zone, birthday.month, birthday.day)
                occasion = due.get(key)
                if occasion is None:
                    local_date = calendar.next_occurrence(birthday, today[zone], settings.FEB29_POLICY)
                    occasion = due[key] = (local_date, calendar.due_instant(local_date, zone, settings.SEND_HOUR))
                occasions.append((user_id, "birthday", *occasion))
            _copy(cursor, "users_user", USER_COLUMNS, users)
            _copy(cursor, "scheduler_occasion", OCCASION_COLUMNS, occasions)
            raw.commit()
            bar.update(end - start)
        bar.close()
        cursor.execute("SELECT setval(pg_get_serial_sequence('users_user', 'id'), %s)", [count])
        cursor.execute("ANALYZE users_user")
        cursor.execute("ANALYZE scheduler_occasion")
        raw.commit()
    seconds = time.perf_counter() - started
    return {
        "users": count,
        "occasions": count,
        "zones": len(all_zones),
        "distinct_zone_dates_computed": len(due),
        "seconds": round(seconds, 2),
        "users_per_s": round(count / seconds),
    }


def _copy(cursor, table: str, columns: str, rows) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def zones_at_send_hour(instant: datetime.datetime) -> list[str]:
    """The zones where `instant` is SEND_HOUR:00 local time."""
    return [
        zone for zone in zones()
        if calendar.due_instant(calendar.local_today(zone, instant), zone, settings.SEND_HOUR) == instant
    ]


def next_due_instant(after: datetime.datetime) -> datetime.datetime:
    """The first whole UTC hour after `after`: SEND_HOUR:00 somewhere, in many zones at once."""
    return after.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)


def reserve_ids(count: int) -> int:
    """Take `count` user ids from the sequence, so cohorts never collide with API-created users."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT GREATEST(nextval(pg_get_serial_sequence('users_user', 'id')), "
                       "(SELECT COALESCE(MAX(id), 0) + 1 FROM users_user))")
        first = cursor.fetchone()[0]
        cursor.execute("SELECT setval(pg_get_serial_sequence('users_user', 'id'), %s)", [first + count - 1])
    return first


def add_cohort(count: int, due_at: datetime.datetime, created: datetime.datetime, seed: int = 2) -> range:
    """`count` users whose birthday is today where `due_at` is SEND_HOUR:00, so each has one
    occasion due exactly at `due_at`, as the API would have computed it. Returns their ids."""
    rng = random.Random(seed)
    cohort_zones = zones_at_send_hour(due_at)
    first = reserve_ids(count)
    users, occasions = [], []
    for user_id in range(first, first + count):
        zone = cohort_zones[user_id % len(cohort_zones)]
        local_date = calendar.local_today(zone, due_at)
        birthday = local_date.replace(year=rng.randint(1950, 2000)) if (local_date.month, local_date.day) != (2, 29) \
            else local_date.replace(year=1996)
        users.append((user_id, f"Due{user_id}", f"Cohort{user_id}", f"due{user_id}@bench.example",
                      birthday, zone, None, created, created))
        occasions.append((user_id, "birthday", local_date, due_at))
    raw = connection.connection
    with raw.cursor() as cursor:
        _copy(cursor, "users_user", USER_COLUMNS, users)
        _copy(cursor, "scheduler_occasion", OCCASION_COLUMNS, occasions)
    if raw.info.transaction_status:  # psycopg: idle in transaction after COPY under autocommit off
        raw.commit()
    return range(first, first + count)


def remove_users(ids: range | None = None, email_like: str | None = None) -> None:
    """Delete users and everything hanging off them (the schema's foreign keys do not cascade)."""
    if ids is not None:
        where, params = "id >= %s AND id < %s", [ids.start, ids.stop]
    else:
        where, params = "email LIKE %s", [email_like]
    users = f"SELECT id FROM users_user WHERE {where}"
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM messaging_deliveryattempt WHERE message_id IN "
            f"(SELECT id FROM messaging_message WHERE user_id IN ({users}))", params)
        cursor.execute(f"DELETE FROM messaging_message WHERE user_id IN ({users})", params)
        cursor.execute(f"DELETE FROM scheduler_occasion WHERE user_id IN ({users})", params)
        cursor.execute(f"DELETE FROM users_user WHERE {where}", params)
