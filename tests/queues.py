from birthday.celery import app
from core.queues import DELIVERY_QUEUE


def queue_depth(name: str = DELIVERY_QUEUE) -> int:
    """Messages ready in a queue, read from RabbitMQ itself (passive declare)."""
    with app.connection_for_read() as conn:
        _name, messages, _consumers = conn.default_channel.queue_declare(queue=name, passive=True)
        return messages


def drain_task_args(name: str = DELIVERY_QUEUE) -> list:
    """Take every task off a queue and return their first argument (message id lists)."""
    import json

    taken = []
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        while True:
            message = channel.basic_get(queue=name, no_ack=True)
            if message is None:
                return taken
            body = message.body if isinstance(message.body, (bytes, str)) else message.body
            args = json.loads(body)[0]
            taken.append(args[0])
