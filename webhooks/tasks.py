"""Celery tasks on the `webhooks` queue: a dead or hanging endpoint holds up only webhook
workers, never the deliveries queue. Retries live in the outbox (`next_attempt_at`)."""

from celery import shared_task

from . import services


@shared_task(name="webhooks.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(event_ids: list[str], token: str) -> None:
    services.deliver(event_ids=[str(event_id) for event_id in event_ids], token=str(token))


@shared_task(name="webhooks.dispatch", acks_late=True, ignore_result=True)
def dispatch() -> None:
    services.dispatch_due()
