"""Exit statuses of the operator commands, beside Django's 1 (nothing was done: a CommandError)
and argparse's 2 (a usage error)."""

# The change is saved, but not in effect yet: a revocation the token cache has not taken, or
# messages the broker could not be given (the periodic dispatcher publishes them later).
SAVED_NOT_IN_EFFECT = 3
