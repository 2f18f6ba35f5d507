"""Pseudonymous references to users, for traces and logs that must not carry the user id."""

import hashlib
import hmac


def user_ref(user_id) -> str:
    """A stable, non-reversible reference to a user for span attributes: the same user gets
    the same value across traces, and nobody without SECRET_KEY can map it back to the id."""
    from django.conf import settings

    digest = hmac.new(settings.SECRET_KEY.encode("utf-8"), f"user:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]
