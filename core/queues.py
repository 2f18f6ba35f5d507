"""The broker's names, in one place: the Celery config declares them, the outbox publishes to
them, the metrics read their depth, and deploy files (worker `-Q`, KEDA trigger, dashboards)
name them. Plain constants: importable without Django."""

SCHEDULER_QUEUE = "scheduler"
DELIVERY_QUEUE = "deliveries"
DEAD_LETTER_EXCHANGE = "birthday.dlx"
DEAD_LETTER_QUEUE = "deliveries.dead"
# Webhooks have their own queue and worker: a slow integrator endpoint never holds up delivery.
WEBHOOK_QUEUE = "webhooks"
# What a worker consumes (`celery worker -Q ...`).
WORKER_QUEUES = f"{DELIVERY_QUEUE},{SCHEDULER_QUEUE}"
