"""What happens to users, for the apps above that keep things in step with them (the
scheduler's occasions). Sent inside the transaction that changes the user, so a receiver's
writes commit or roll back with it; users know nothing of who listens."""

from django.dispatch import Signal

# user: User, changed_fields: set[str] | None (None: a new user)
user_changed = Signal()
# user: User, locked, about to be deleted with what refers to it
user_deleting = Signal()
