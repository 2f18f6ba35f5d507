"""Celery tasks: each body only calls a service. Retries live in the database (the outbox's
`dispatch_after`), not in Celery, so a lost or failed task is re-published, never dropped.
The periodic dispatch that publishes ready messages is a scheduler job (scheduler/tasks.py)."""

from celery import shared_task

from . import delivery


@shared_task(name="messaging.deliver", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(message_ids: list[int]) -> None:
    delivery.deliver_batch([int(message_id) for message_id in message_ids])
