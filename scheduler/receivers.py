"""The scheduler keeps each user's occasions in step with the user, inside the user's
transaction (users send `user_changed` and know nothing of the scheduler)."""

from django.dispatch import receiver

from users.signals import user_changed, user_deleting

from .services import lock_occasions, sync_occasions


@receiver(user_changed, dispatch_uid="scheduler.sync_occasions")
def _sync_occasions(sender, user, changed_fields, **kwargs):
    sync_occasions(user, changed_fields=changed_fields)


@receiver(user_deleting, dispatch_uid="scheduler.lock_occasions")
def _lock_occasions(sender, user, **kwargs):
    lock_occasions(user)
