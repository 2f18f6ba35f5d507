import datetime

from celery import shared_task
from celery.signals import before_task_publish

from . import services

TICK_TASK = "scheduler.tick"
DISPATCH_TASK = "scheduler.dispatch"


@before_task_publish.connect
def _stamp_tick_schedule(sender=None, headers=None, **kwargs):
    """Beat publishes a tick at the instant it meant to run it: stamp that instant on the
    message so the worker can measure scheduling lag."""
    if sender == TICK_TASK and headers is not None:
        headers.setdefault("scheduled_for", datetime.datetime.now(datetime.UTC).isoformat())


@shared_task(name=TICK_TASK, bind=True, acks_late=True, ignore_result=True)
def tick(self) -> None:
    stamp = getattr(self.request, "scheduled_for", None) or (self.request.headers or {}).get("scheduled_for")
    scheduled_for = datetime.datetime.fromisoformat(stamp) if stamp else None
    services.run_tick(scheduled_for=scheduled_for)


@shared_task(name=DISPATCH_TASK, acks_late=True, ignore_result=True)
def dispatch() -> None:
    """Publish the outbox's ready messages (retries, re-publishes of lost tasks) between ticks."""
    services.run_dispatch()
