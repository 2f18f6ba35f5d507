"""Edits to a user's schedule fields (zone, birthday, anniversary) against the tick, on real
PostgreSQL: what the edit leaves due, and that an edit and a tick working on the same user at
the same moment both succeed, in either order, with one message for the occasion."""

import datetime
import threading

import pytest
from django.db import connection, connections

from core import clock
from messaging.models import Message
from scheduler import services
from scheduler.models import Occasion
from tests.conftest import wait_until
from tests.factories import make_user, utc
from users import services as user_services

pytestmark = pytest.mark.django_db(transaction=True)


def edit(user, now, **fields):
    with clock.frozen(now):
        return user_services.update_user(user.pk, fields)


# --- What an edit leaves due -------------------------------------------------------------------

def test_an_edit_during_an_outage_keeps_the_occasion_that_fell_due_meanwhile(purge_queues):
    """The tick has been down since before 09:00 Kyiv on the birthday; 16 h later the user
    renames their zone to its new spelling (the same rules). The occasion, due and waiting for
    the tick, was recomputed from 'local today' and jumped to next year: this year's message
    was never made."""
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="Europe/Kiev", now=utc(2026, 6, 1))
    back = utc(2026, 6, 16, 1, 0)
    edit(user, back, timezone="Europe/Kyiv")

    occasion = Occasion.objects.get(user=user, kind="birthday")
    assert (occasion.local_date, occasion.due_at) == (datetime.date(2026, 6, 15), utc(2026, 6, 15, 6))
    assert services.run_tick(now=back).scheduled == 1
    assert Message.objects.get(user=user).occasion_date == datetime.date(2026, 6, 15)


def test_correcting_the_birth_year_while_the_occasion_waits_for_the_tick_keeps_it(purge_queues):
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="UTC", now=utc(2026, 6, 1))
    back = utc(2026, 6, 16, 2, 0)  # the tick down since before 09:00 on the 15th
    edit(user, back, birthday=datetime.date(1991, 6, 15))
    assert services.run_tick(now=back).scheduled == 1
    assert Message.objects.get(user=user).occasion_date == datetime.date(2026, 6, 15)


def test_moving_east_past_the_send_hour_before_the_tick_sends_like_moving_after_it(purge_queues):
    """08:00 in Honolulu on the birthday, the user moves to Tokyo, where it is already 03:00 the
    next day. Had the tick made the message first, the move would re-time it to 09:00 Tokyo on
    the birthday (past) and it would go out at once; the occasion was instead moved to next
    year. Both orders now give the same: the birthday's message, at once."""
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="Pacific/Honolulu", now=utc(2026, 6, 1))
    moved = utc(2026, 6, 15, 18, 0)  # 08:00 HST, 03:00 JST on 16 June
    edit(user, moved, timezone="Asia/Tokyo")

    occasion = Occasion.objects.get(user=user, kind="birthday")
    assert (occasion.local_date, occasion.due_at) == (datetime.date(2026, 6, 15), utc(2026, 6, 15, 0))
    assert services.run_tick(now=moved).scheduled == 1
    message = Message.objects.get(user=user)
    assert (message.occasion_date, message.status) == (datetime.date(2026, 6, 15), "queued")


def test_moving_west_after_the_message_was_made_does_not_make_a_second_one(purge_queues):
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="Asia/Tokyo", now=utc(2026, 6, 1))
    services.run_tick(now=utc(2026, 6, 15, 0, 30))
    Message.objects.filter(user=user).update(status="sent", sent_at=utc(2026, 6, 15, 0, 31), dispatch_after=None)
    edit(user, utc(2026, 6, 15, 1), timezone="Pacific/Honolulu")  # 15:00 on the 14th there
    assert Occasion.objects.get(user=user, kind="birthday").local_date == datetime.date(2027, 6, 15)
    services.run_tick(now=utc(2026, 6, 15, 19, 30))
    assert Message.objects.filter(user=user).count() == 1


def test_a_message_moved_back_east_goes_out_at_once(purge_queues):
    """Made at 09:01 in London, moved to Los Angeles (back to pending until 09:00 there, 16:00
    UTC), moved back to London at 10:00 BST: due for an hour, but its wake-up stayed at 16:00
    UTC and the dispatcher would have held it six hours."""
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="Europe/London", now=utc(2026, 6, 1))
    services.run_tick(now=utc(2026, 6, 15, 8, 1))
    edit(user, utc(2026, 6, 15, 8, 30), timezone="America/Los_Angeles")
    message = Message.objects.get(user=user)
    assert (message.status, message.dispatch_after) == ("pending", utc(2026, 6, 15, 16))

    edit(user, utc(2026, 6, 15, 9), timezone="Europe/London")
    message.refresh_from_db()
    assert message.due_at == utc(2026, 6, 15, 8)
    assert message.dispatch_after <= utc(2026, 6, 15, 9)
    services.run_tick(now=utc(2026, 6, 15, 9, 1))
    message.refresh_from_db()
    assert message.status == "queued"


# --- An edit and a tick at the same moment ---------------------------------------------------

HOLD = 4242  # the advisory lock a tick's message insert waits for while the test holds it


@pytest.fixture
def tick_paused_before_commit():
    """Runs a tick in a thread and holds it after it has written its messages, with the due
    occasions locked and its transaction open, which is where an edit used to deadlock it. The
    hold is PostgreSQL's own: a trigger after the insert into messages waits for an advisory
    lock this test holds."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION test_hold_tick() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_lock_shared({HOLD}); PERFORM pg_advisory_unlock_shared({HOLD}); RETURN NULL; END $$;
            CREATE TRIGGER test_hold_tick AFTER INSERT ON messaging_message
                FOR EACH STATEMENT EXECUTE FUNCTION test_hold_tick();
            SELECT pg_advisory_lock({HOLD});
        """)
    held = [True]
    outcome = {}

    def waiting_on_the_hold() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
                           [HOLD])
            return cursor.fetchone()[0] > 0

    def start(now):
        def tick():
            try:
                outcome["tick"] = services.run_tick(now=now)
            except Exception as exc:  # asserted by the test
                outcome["tick"] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=tick)
        thread.start()
        wait_until(waiting_on_the_hold, timeout=20, message="the tick writing its messages")
        return thread

    def release():
        if held[0]:
            held[0] = False
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT pg_advisory_unlock({HOLD})")

    yield start, release, outcome
    release()
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_hold_tick ON messaging_message; DROP FUNCTION test_hold_tick()")


def run_in_thread(function, outcome, key):
    def target():
        try:
            outcome[key] = function()
        except Exception as exc:  # asserted by the test
            outcome[key] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def both_finish(tick, change, resume, outcome):
    """The change waits for the paused tick; once the tick goes on, both succeed."""
    change.join(1.5)
    assert change.is_alive(), "the change should wait for the tick's lock on the occasion"
    resume()
    tick.join(20)
    change.join(20)
    assert not isinstance(outcome["tick"], Exception), outcome["tick"]
    assert not isinstance(outcome["change"], Exception), outcome["change"]


def test_a_zone_change_while_the_tick_holds_the_users_occasion(purge_queues, tick_paused_before_commit):
    """The edit locked the user row FOR UPDATE and waited for the occasion; the tick held the
    occasion and, at commit, needed KEY SHARE on the user for its messages' foreign key:
    PostgreSQL's deadlock detector aborted one (the API answered the edit's 503)."""
    start, resume, outcome = tick_paused_before_commit
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="UTC", now=utc(2026, 6, 1))
    now = utc(2026, 6, 15, 9, 30)
    tick = start(now)
    editing = run_in_thread(lambda: edit(user, now, timezone="America/Los_Angeles"), outcome, "change")
    both_finish(tick, editing, resume, outcome)
    assert outcome["tick"].scheduled == 1
    # The edit came second and saw the tick's message: re-timed to 09:00 in Los Angeles.
    message = Message.objects.get(user=user)
    assert (message.status, message.due_at, message.dispatch_after) == (
        "pending", utc(2026, 6, 15, 16), utc(2026, 6, 15, 16))


def test_deleting_a_user_while_the_tick_holds_their_occasion(purge_queues, tick_paused_before_commit):
    start, resume, outcome = tick_paused_before_commit
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="UTC", now=utc(2026, 6, 1))
    tick = start(utc(2026, 6, 15, 9, 30))
    deleting = run_in_thread(lambda: user_services.delete_user(user.pk), outcome, "change")
    both_finish(tick, deleting, resume, outcome)
    assert not Message.objects.filter(user_id=user.pk).exists()
    assert not Occasion.objects.filter(user_id=user.pk).exists()
