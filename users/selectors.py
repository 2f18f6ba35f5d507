"""Read queries for users."""

import re

from django.db.models import QuerySet
from django.db.models.functions import Lower

from .models import User

_ID = re.compile(r"[0-9]{1,19}")
# Ids are PostgreSQL bigints; a larger number can name no user and must not reach the query.
MAX_ID = 2**63 - 1


def parse_user_id(raw) -> int | None:
    """The integer id in a URL segment, or None if it cannot name a user."""
    text = str(raw)
    if not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def users_with_occasions() -> QuerySet[User]:
    return User.objects.prefetch_related("occasions")


def get_user(user_id: int) -> User | None:
    """The user with its occasions, in one query (the occasions joined to their user): the hot
    path of GET /user/<id>. A user without occasions costs a second query."""
    # The occasion model through the relation users already render (`user.occasions`), not
    # through an import of the scheduler, which sits above users.
    occasion_model = User.occasions.field.model
    occasions = list(occasion_model.objects.filter(user_id=user_id).select_related("user"))
    if not occasions:
        return users_with_occasions().filter(pk=user_id).first()
    user = occasions[0].user
    for occasion in occasions:
        occasion.user = user
    # What prefetch_related("occasions") leaves behind, without its second query.
    loaded = user.occasions.all()
    loaded._result_cache = occasions
    loaded._prefetch_done = True
    user._prefetched_objects_cache = {"occasions": loaded}
    return user


def list_users(*, timezone: str | None = None, birthday_month: int | None = None) -> QuerySet[User]:
    queryset = users_with_occasions().order_by("id")
    if timezone is not None:
        queryset = queryset.filter(timezone=timezone)
    if birthday_month is not None:
        queryset = queryset.filter(birthday__month=birthday_month)
    return queryset


def email_taken(email: str, *, exclude_id: int | None = None) -> bool:
    # LOWER(email) = LOWER(%s) is exactly the unique index's expression, so this is an index
    # lookup; `email__iexact` (UPPER(...)) would scan every user.
    queryset = User.objects.annotate(email_lower=Lower("email")).filter(email_lower=email.lower())
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.exists()
