"""Celery configuration, derived from Django settings so there is one source of truth.

Delivery guarantees lean on three things here: durable quorum queues (replicated, persistent),
publisher confirms (a publish returns only once RabbitMQ has the message), and late acks with
reject-on-worker-lost (a task whose worker dies is redelivered, never dropped).
"""

from django.conf import settings
from kombu import Exchange, Queue

from core.queues import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, DELIVERY_QUEUE, SCHEDULER_QUEUE, WEBHOOK_QUEUE

broker_url = settings.CELERY_BROKER_URL
broker_connection_retry_on_startup = True
task_ignore_result = True
result_backend = None
task_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_concurrency = settings.WORKER_CONCURRENCY
worker_send_task_events = True
task_send_sent_event = True
worker_hijack_root_logger = False
task_default_queue = DELIVERY_QUEUE
task_routes = {
    "scheduler.*": {"queue": SCHEDULER_QUEUE},
    "observability.*": {"queue": SCHEDULER_QUEUE},
    "messaging.deliver": {"queue": DELIVERY_QUEUE},
    "webhooks.*": {"queue": WEBHOOK_QUEUE},
}

if settings.BROKER_IS_AMQP:
    _dlx = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)
    _quorum = {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": DEAD_LETTER_QUEUE,
        # A task redelivered this often (a poison message) goes to the dead-letter queue.
        "x-delivery-limit": 20,
    }
    task_queues = [
        Queue(SCHEDULER_QUEUE, Exchange(SCHEDULER_QUEUE, type="direct", durable=True),
              routing_key=SCHEDULER_QUEUE, durable=True, queue_arguments=_quorum),
        Queue(DELIVERY_QUEUE, Exchange(DELIVERY_QUEUE, type="direct", durable=True),
              routing_key=DELIVERY_QUEUE, durable=True, queue_arguments=_quorum),
        Queue(WEBHOOK_QUEUE, Exchange(WEBHOOK_QUEUE, type="direct", durable=True),
              routing_key=WEBHOOK_QUEUE, durable=True, queue_arguments=_quorum),
        Queue(DEAD_LETTER_QUEUE, _dlx, routing_key=DEAD_LETTER_QUEUE, durable=True,
              queue_arguments={"x-queue-type": "quorum"}, no_declare=False),
    ]
    broker_transport_options = {"confirm_publish": True}
    # Quorum queues do not support global QoS; Celery detects them and uses per-consumer QoS.
    worker_detect_quorum_queues = True
    task_create_missing_queues = False
else:
    # The folders are made when the app is configured (birthday/celery.py), not here.
    broker_transport_options = {
        "data_folder_in": str(settings.EMBEDDED_BROKER_DIR / "out"),
        "data_folder_out": str(settings.EMBEDDED_BROKER_DIR / "out"),
        "processed_folder": str(settings.EMBEDDED_BROKER_DIR / "processed"),
        # Exchange bindings (fanout for events and remote control) would land in ./control.
        "control_folder": str(settings.EMBEDDED_BROKER_DIR / "control"),
        "store_processed": False,
    }
    task_queues = [Queue(SCHEDULER_QUEUE), Queue(DELIVERY_QUEUE), Queue(WEBHOOK_QUEUE)]

beat_schedule_filename = str(settings.VAR_DIR / "celerybeat-schedule")
beat_schedule = {
    "scheduler-tick": {
        "task": "scheduler.tick",
        "schedule": float(settings.SCHEDULER_TICK_SECONDS),
        "options": {"expires": float(settings.SCHEDULER_TICK_SECONDS) * 5},
    },
    "scheduler-dispatch": {
        "task": "scheduler.dispatch",
        "schedule": float(settings.DISPATCH_INTERVAL_SECONDS),
        "options": {"expires": float(settings.DISPATCH_INTERVAL_SECONDS) * 5},
    },
    "webhooks-dispatch": {
        "task": "webhooks.dispatch",
        "schedule": float(settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS),
        "options": {"expires": float(settings.WEBHOOK_DISPATCH_INTERVAL_SECONDS) * 5},
    },
}
