"""User metrics: creations as they happen; the population gauges from periodic queries."""

import datetime

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


@receiver(post_save, sender=User, dispatch_uid="metrics.users.created")
def _created(sender, instance, created, **kwargs):
    if created:
        USERS_CREATED.labels(region(instance.timezone)).inc()


# The last counts, for figures derived from them (cost per active user).
population: dict[str, int] = {}


def refresh_population(now: datetime.datetime) -> None:
    """Three grouped counts over indexed columns plus one over the last hour."""
    by_zone: dict[str, int] = {}
    for row in User.objects.values("timezone").annotate(n=Count("id")).order_by():
        label = timezone_label(row["timezone"])
        by_zone[label] = by_zone.get(label, 0) + row["n"]
    USERS_BY_TIMEZONE.clear()
    for zone, count in by_zone.items():
        USERS_BY_TIMEZONE.labels(zone).set(count)

    active = {occasion_type.name: 0 for occasion_type in occasions.all_types()}
    for row in Occasion.objects.values("kind").annotate(n=Count("id")).order_by():
        active[row["kind"]] = row["n"]
    for kind, count in active.items():
        USERS_ACTIVE.labels(kind).set(count)

    with_upcoming = Occasion.objects.values("user_id").distinct().count()
    population["with_upcoming"] = with_upcoming
    USERS_INACTIVE.set(max(0, sum(by_zone.values()) - with_upcoming))
    USER_REGISTRATION_RATE.set(User.objects.filter(created_at__gte=now - datetime.timedelta(hours=1)).count())
