"""The tick on real PostgreSQL and RabbitMQ: what becomes due, when, and only once."""

import datetime
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from messaging.models import Message
from core import clock
from scheduler import services
from scheduler.models import Occasion
from tests.factories import make_user, utc
from tests.queues import drain_task_args, queue_depth

pytestmark = pytest.mark.django_db(transaction=True)


def test_user_created_on_their_birthday_after_send_hour_still_gets_todays_message(purge_queues):
    now = utc(2026, 11, 27, 6, 0)  # 17:00 in Melbourne on 27 November
    user = make_user(birthday=datetime.date(1990, 11, 27), timezone="Australia/Melbourne", now=now)
    occasion = Occasion.objects.get(user=user, kind="birthday")
    assert occasion.local_date == datetime.date(2026, 11, 27)
    assert occasion.due_at == utc(2026, 11, 26, 22, 0)  # 09:00 AEDT, already past

    result = services.run_tick(now=now)

    assert result.scheduled == 1
    message = Message.objects.get(user=user)
    assert (message.kind, message.occasion_date, message.status) == ("birthday", datetime.date(2026, 11, 27), "queued")
    assert drain_task_args() == [[message.id]]
    occasion.refresh_from_db()
    assert occasion.local_date == datetime.date(2027, 11, 27)


def test_occasions_before_the_user_existed_are_not_sent(purge_queues):
    now = utc(2026, 11, 27, 12, 0)
    user = make_user(birthday=datetime.date(1990, 11, 26), timezone="UTC", now=now)
    assert Occasion.objects.get(user=user).local_date == datetime.date(2027, 11, 26)
    assert services.run_tick(now=now).scheduled == 0
    assert not Message.objects.exists()


def test_nothing_is_due_before_send_hour_local_and_everything_at_it(purge_queues):
    user = make_user(birthday=datetime.date(1985, 3, 1), timezone="Asia/Kathmandu", now=utc(2026, 2, 1))
    due = utc(2026, 3, 1, 3, 15)  # 09:00 at +05:45
    assert services.run_tick(now=due - datetime.timedelta(seconds=1)).scheduled == 0
    assert services.run_tick(now=due).scheduled == 1
    assert Message.objects.get(user=user).due_at == due


def test_a_repeated_tick_creates_nothing_twice(purge_queues):
    now = utc(2026, 6, 15, 10, 0)
    make_user(birthday=datetime.date(1990, 6, 15), now=utc(2026, 6, 1))
    assert services.run_tick(now=now).scheduled == 1
    assert services.run_tick(now=now).scheduled == 0
    call_command("schedule_due", "--now", now.isoformat())
    assert Message.objects.count() == 1


def test_two_ticks_at_once_split_the_work_without_doubling(purge_queues, settings):
    settings.SCHEDULE_BATCH_SIZE = 100
    created_at = utc(2026, 6, 1)
    zones = ["UTC", "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Kiritimati", "Etc/GMT+12", "Europe/Paris"]
    for i in range(1200):
        make_user(birthday=datetime.date(1980 + i % 30, 6, 15), timezone=zones[i % len(zones)], now=created_at)
    now = utc(2026, 6, 17)
    results, errors = [], []

    def tick():
        try:
            results.append(services.run_tick(now=now))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sum(r.scheduled for r in results) == 1200
    assert Message.objects.count() == 1200
    assert Message.objects.filter(status="queued").count() == 1200
    published = [mid for ids in drain_task_args() for mid in ids]
    assert sorted(set(published)) == sorted(Message.objects.values_list("id", flat=True))
    assert not Occasion.objects.filter(due_at__lte=now).exists()


def test_after_a_day_of_downtime_everything_due_meanwhile_goes_out_oldest_first(purge_queues):
    outage_start = utc(2026, 11, 26, 0, 0)
    users = [
        make_user(birthday=datetime.date(1990, 11, 26), timezone=zone, now=outage_start - datetime.timedelta(days=30))
        for zone in ["Pacific/Kiritimati", "Asia/Tokyo", "Europe/Berlin", "America/New_York", "Pacific/Pago_Pago"]
    ]
    back = outage_start + datetime.timedelta(hours=30)

    result = services.run_tick(now=back)

    assert result.scheduled == 5 and result.expired == 0
    published = [mid for ids in drain_task_args() for mid in ids]
    by_due = list(Message.objects.order_by("due_at").values_list("id", flat=True))
    assert published == by_due
    assert {m.user_id for m in Message.objects.all()} == {u.id for u in users}


def test_older_than_the_catch_up_window_is_expired_visibly(purge_queues, settings):
    settings.CATCH_UP_WINDOW_HOURS = 72
    make_user(birthday=datetime.date(1990, 11, 20), timezone="UTC", now=utc(2026, 11, 1))
    make_user(birthday=datetime.date(1990, 11, 25), timezone="UTC", now=utc(2026, 11, 1))
    result = services.run_tick(now=utc(2026, 11, 27, 12))
    assert (result.scheduled, result.expired) == (1, 1)
    assert Message.objects.get(occasion_date=datetime.date(2026, 11, 20)).status == "expired"
    assert Message.objects.get(occasion_date=datetime.date(2026, 11, 25)).status == "queued"
    assert [len(ids) for ids in drain_task_args()] == [1]


def test_changing_time_zone_moves_an_unsent_message_to_the_new_send_hour(purge_queues):
    now = utc(2026, 6, 15, 9, 30)
    user = make_user(birthday=datetime.date(1990, 6, 15), timezone="UTC", now=utc(2026, 6, 1))
    services.run_tick(now=now)
    assert Message.objects.get(user=user).status == "queued"

    user.timezone = "America/Los_Angeles"  # 09:00 there is 16:00 UTC: no longer due
    user.save()
    with clock.frozen(now):
        services.sync_occasions(user, {"timezone"})

    message = Message.objects.get(user=user)
    assert (message.status, message.due_at) == ("pending", utc(2026, 6, 15, 16))
    assert message.dispatch_after == utc(2026, 6, 15, 16)
    assert services.run_tick(now=utc(2026, 6, 15, 16)).scheduled == 0  # same occasion: no second row
    assert Message.objects.get(user=user).status == "queued"


def test_changing_the_birthday_drops_the_stale_message_and_schedules_the_new_date(purge_queues):
    user = make_user(birthday=datetime.date(1990, 6, 15), now=utc(2026, 6, 1))
    services.run_tick(now=utc(2026, 6, 15, 9, 30))
    user.birthday = datetime.date(1990, 7, 1)
    user.save()
    services.sync_occasions(user, {"birthday"}, utc(2026, 6, 15, 10))
    assert not Message.objects.filter(user=user).exists()
    assert Occasion.objects.get(user=user, kind="birthday").local_date == datetime.date(2026, 7, 1)


def test_a_sent_message_is_not_sent_again_when_the_user_edits_on_the_day(purge_queues):
    user = make_user(birthday=datetime.date(1990, 6, 15), now=utc(2026, 6, 1))
    services.run_tick(now=utc(2026, 6, 15, 9, 30))
    Message.objects.filter(user=user).update(status="sent", sent_at=utc(2026, 6, 15, 9, 31), dispatch_after=None)
    user.timezone = "Europe/Lisbon"
    user.save()
    services.sync_occasions(user, {"timezone"}, utc(2026, 6, 15, 10))
    services.run_tick(now=utc(2026, 6, 15, 12))
    assert list(Message.objects.filter(user=user).values_list("status", flat=True)) == ["sent"]


def test_deleting_a_user_removes_their_pending_messages(purge_queues):
    user = make_user(birthday=datetime.date(1990, 6, 15), now=utc(2026, 6, 1))
    services.run_tick(now=utc(2026, 6, 15, 9, 30))
    user.delete()
    assert not Message.objects.exists() and not Occasion.objects.exists()


def test_anniversaries_are_scheduled_alongside_birthdays(purge_queues):
    user = make_user(birthday=datetime.date(1990, 6, 15), anniversary_date=datetime.date(2015, 6, 15), now=utc(2026, 6, 1))
    services.run_tick(now=utc(2026, 6, 15, 10))
    assert sorted(Message.objects.filter(user=user).values_list("kind", flat=True)) == ["anniversary", "birthday"]


def test_29_february_birthdays_fall_due_on_28_february_in_common_years(purge_queues):
    user = make_user(birthday=datetime.date(1996, 2, 29), now=utc(2027, 1, 1))
    assert Occasion.objects.get(user=user, kind="birthday").local_date == datetime.date(2027, 2, 28)
    services.run_tick(now=utc(2027, 2, 28, 9))
    assert Occasion.objects.get(user=user, kind="birthday").local_date == datetime.date(2028, 2, 29)


def test_the_due_query_uses_the_due_index(purge_queues):
    from users.models import User

    users = User.objects.bulk_create(
        User(first_name="a", last_name="b", email=f"plan{i}@example.com", birthday=datetime.date(1990, 1, 1), timezone="UTC")
        for i in range(20000)
    )
    Occasion.objects.bulk_create(
        Occasion(user=u, kind="birthday", local_date=datetime.date(2027, 1, 1), due_at=utc(2027, 1, 1, 9) + datetime.timedelta(minutes=i))
        for i, u in enumerate(users)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduler_occasion")
    query = (
        Occasion.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(due_at__lte=utc(2027, 1, 1, 9, 30))
        .select_related("user")
        .order_by("due_at")[:5000]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "scheduler_occasion_due_idx" in plan, plan
    assert "Seq Scan on scheduler_occasion" not in plan, plan
