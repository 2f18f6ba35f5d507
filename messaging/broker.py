"""The RabbitMQ topology: declared when a worker or beat starts, so the dead-letter queue
exists before anything can be dead-lettered into it (RabbitMQ drops dead letters routed to a
queue that does not exist, and no worker consumes the dead-letter queue to declare it)."""

import logging

from celery.signals import beat_init, worker_ready
from django.conf import settings

log = logging.getLogger(__name__)


def declare_topology(app) -> None:
    if not settings.BROKER_IS_AMQP:
        return
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()
    log.info("broker topology declared", extra={"queues": [q.name for q in app.conf.task_queues]})


@worker_ready.connect
def _on_worker_ready(sender=None, **kwargs):
    declare_topology(sender.app)


@beat_init.connect
def _on_beat_init(sender=None, **kwargs):
    declare_topology(sender.app)
