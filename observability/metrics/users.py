"""User metrics: creations as they happen; the population gauges from periodic queries."""

import datetime

from django.conf import settings
from django.db.models import Count
from django.db.models.signals import post_save
from django.dispatch import receiver

from core import occasions
from scheduler.models import Occasion
from users.models import User

from .definitions import USER_REGISTRATION_RATE, USERS_ACTIVE, USERS_BY_TIMEZONE, USERS_CREATED, USERS_INACTIVE
from .messages import timezone_label


def region(zone: str) -> str:
    """The IANA area ("Europe", "America", "Etc", "UTC"...): about a dozen values."""
    zone = timezone_label(zone)
    return zone.split("/", 1)[0] if zone != "other" else "other"


def count_created(zone: str) -> None:
    """One user created in `zone`: on every save that creates one, and by the API's hot path,
    which writes users without the ORM (birthday/hot_path/creates.py)."""
    USERS_CREATED.labels(region(zone)).inc()


@receiver(post_save, sender=User, dispatch_uid="metrics.users.created")
def _created(sender, instance, created, **kwargs):
    if created:
        count_created(instance.timezone)


# The last counts, for figures derived from them (cost per active user).
population: dict[str, int] = {}


def active_counts(now: datetime.datetime) -> tuple[dict[str, int], int]:
    """({occasion type: users with an unsent occasion of it due within USERS_ACTIVE_WINDOW_DAYS},
    users with any). An occasion row is the next unsent occurrence (the tick moves it on once
    materialised), so a due_at range on its index is the whole query: about 1/12 of the rows
    for the default 30 days, whatever the window's position in the year."""
    window = Occasion.objects.filter(
        due_at__gte=now, due_at__lt=now + datetime.timedelta(days=settings.USERS_ACTIVE_WINDOW_DAYS)
    )
    by_kind = {occasion_type.name: 0 for occasion_type in occasions.all_types()}
    for row in window.values("kind").annotate(n=Count("user_id", distinct=True)).order_by():
        by_kind[row["kind"]] = row["n"]
    return by_kind, window.values("user_id").distinct().count()


def refresh_population(now: datetime.datetime) -> None:
    """Counts over indexed columns: users by zone, active users in the window, the last hour."""
    by_zone: dict[str, int] = {}
    for row in User.objects.values("timezone").annotate(n=Count("id")).order_by():
        label = timezone_label(row["timezone"])
        by_zone[label] = by_zone.get(label, 0) + row["n"]
    USERS_BY_TIMEZONE.clear()
    for zone, count in by_zone.items():
        USERS_BY_TIMEZONE.labels(zone).set(count)

    by_kind, active = active_counts(now)
    for kind, count in by_kind.items():
        USERS_ACTIVE.labels(kind).set(count)
    population["active"] = active
    USERS_INACTIVE.set(max(0, sum(by_zone.values()) - active))
    USER_REGISTRATION_RATE.set(User.objects.filter(created_at__gte=now - datetime.timedelta(hours=1)).count())
