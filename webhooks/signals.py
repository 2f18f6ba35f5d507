"""Webhook delivery events; observability subscribes, the services know nothing of Prometheus."""

from django.dispatch import Signal

# event_type: str, outcome: "success" | "http_error" | "timeout" | "connection_error",
# http_status: int | None, duration_seconds: float, final: "delivered" | "pending" | "dead"
webhook_attempted = Signal()
