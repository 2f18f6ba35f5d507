"""Creating, changing and deleting users.

Each operation is one transaction: the user row and whatever the `user_changed` receivers keep
in step with it (the scheduler's occasions, unsent messages that have to move) change together
or not at all.
"""

from django.db import IntegrityError, transaction

from core.exceptions import ConflictError

from . import selectors
from .signals import user_changed, user_deleting
from .models import User

EDITABLE_FIELDS = ("first_name", "last_name", "email", "birthday", "timezone", "anniversary_date")
EMAIL_CONSTRAINT = "users_user_email_ci_unique"


class UserNotFound(Exception):
    pass


class StaleEdit(Exception):
    """The user was changed after the editor read them: applying the edit would undo that."""


def _email_conflict() -> ConflictError:
    return ConflictError(
        {"email": ["A user with this email already exists."]}, detail="A user with this email already exists."
    )


def _save(user: User, **save_kwargs) -> None:
    # The pre-check below cannot see a concurrent insert; the case-insensitive unique index
    # can. The savepoint keeps the outer transaction usable after the violation.
    try:
        with transaction.atomic():
            user.save(**save_kwargs)
    except IntegrityError as exc:
        if EMAIL_CONSTRAINT in str(exc):
            raise _email_conflict() from exc
        raise


def create_user(data: dict) -> User:
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not user fields: {sorted(unknown)}")
    # No "is the email taken?" query first: the case-insensitive unique index answers that in
    # the INSERT itself, and a violation rolls this whole block back (to its savepoint when
    # the caller has a transaction open), so the common case is two statements, not five.
    try:
        with transaction.atomic():
            user = User(**data)
            user.save()
            user_changed.send(sender=User, user=user, changed_fields=None)
    except IntegrityError as exc:
        if EMAIL_CONSTRAINT in str(exc):
            raise _email_conflict() from exc
        raise
    return user


def update_user(user_id: int, data: dict, *, unchanged_since=None) -> User:
    """Apply the given field values; only fields whose value changes move the schedule.

    `unchanged_since`: the `updated_at` the editor saw. When the row has changed since, nothing
    is applied and StaleEdit is raised: a form filled in before another save would otherwise
    put back the values that save replaced."""
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not user fields: {sorted(unknown)}")
    with transaction.atomic():
        # Locked so concurrent edits see each other's values when deciding what changed. NO KEY
        # UPDATE, as the UPDATE itself takes: a tick committing messages for this user needs KEY
        # SHARE on the row for their foreign key, and while it holds the user's occasion, which
        # the edit waits for, a FOR UPDATE here deadlocked the two.
        user = User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
        if user is None:
            raise UserNotFound(user_id)
        if unchanged_since is not None and user.updated_at != unchanged_since:
            raise StaleEdit(user_id)
        changed = {field for field, value in data.items() if getattr(user, field) != value}
        if not changed:
            return user
        if "email" in changed and selectors.email_taken(data["email"], exclude_id=user.pk):
            raise _email_conflict()
        for field in changed:
            setattr(user, field, data[field])
        _save(user, update_fields=[*sorted(changed), "updated_at"])
        user_changed.send(sender=User, user=user, changed_fields=changed)
    return user


def delete_user(user_id: int) -> None:
    """Remove the user; their occasions and unsent messages go with them (ON DELETE CASCADE)."""
    with transaction.atomic():
        # NO KEY UPDATE for the reason update_user gives; the DELETE takes the full lock later.
        user = User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
        if user is None:
            raise UserNotFound(user_id)
        # The apps that keep rows for the user lock them first, so that work in flight on them
        # (a tick writing the user's messages) commits before the cascade reads what to delete.
        user_deleting.send(sender=User, user=user)
        user.delete()
