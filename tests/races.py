"""Races with a second writer on the real database: another connection (a thread's) that has
written and not committed yet, the moment a check-then-insert loses."""

import contextlib
import threading

from django.db import connections, transaction


@contextlib.contextmanager
def uncommitted(write, commit_after: float = 1.0):
    """Run `write` in a transaction on a thread's own connection and keep it open: the block
    runs while the rows are written but invisible, and the thread commits `commit_after`
    seconds later (whatever in the block waits on those rows then goes on)."""
    written, failures = threading.Event(), []

    def hold():
        try:
            with transaction.atomic():
                write()
                written.set()
                threading.Event().wait(commit_after)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            failures.append(exc)
        finally:
            written.set()
            connections.close_all()

    thread = threading.Thread(target=hold, name="uncommitted-writer")
    thread.start()
    written.wait(30)
    try:
        if failures:
            raise failures[0]
        yield
    finally:
        thread.join(30)
    if failures:
        raise failures[0]
