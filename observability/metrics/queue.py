"""Messages published to the broker, counted in whichever process publishes (beat, worker, API)."""

from celery import signals

from .definitions import QUEUE_PUBLISHED


@signals.after_task_publish.connect(dispatch_uid="metrics.queue.published")
def _published(sender=None, routing_key=None, **kwargs):
    # Every queue here has a direct exchange whose routing key is the queue's name.
    QUEUE_PUBLISHED.labels(routing_key or "default").inc()
