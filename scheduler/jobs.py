"""The scheduler's periodic jobs report each run the same way: one `scheduler_job_ran` per run,
success or failure, whatever the job."""

import contextlib
import dataclasses
import datetime
import time
from collections.abc import Iterator

from django.dispatch import Signal

from core import clock

# job_name: str, status: "success" | "failure", duration_seconds: float,
# scheduled_for: datetime | None, started_at: datetime, messages_scheduled: int
scheduler_job_ran = Signal()


@dataclasses.dataclass
class JobRun:
    started_at: datetime.datetime
    # What the run produced, reported as messages_scheduled (created by a tick, published by
    # the dispatcher); the job sets it as it goes.
    messages: int = 0


@contextlib.contextmanager
def reporting(job_name: str, *, sender: str, now: datetime.datetime | None = None,
              scheduled_for: datetime.datetime | None = None) -> Iterator[JobRun]:
    run = JobRun(started_at=now or clock.now())
    started = time.monotonic()
    status = "failure"
    try:
        yield run
        status = "success"
    finally:
        scheduler_job_ran.send(
            sender=sender, job_name=job_name, status=status, duration_seconds=time.monotonic() - started,
            scheduled_for=scheduled_for, started_at=run.started_at, messages_scheduled=run.messages,
        )
