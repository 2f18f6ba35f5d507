"""Domain events of the message lifecycle. Observability (metrics, logs) subscribes to these;
the services that send them know nothing of Prometheus.

Every signal is sent with `sender` = the module that produced it, plus the keyword arguments
documented beside it. Counts are exact: a signal is sent only after its transaction committed
(or, for vendor calls, after the call returned).
"""

from django.dispatch import Signal

# kind: str, timezone: str, status: "pending" | "expired"  (one per created message)
#   plus lag_seconds: float, how late the tick materialised it after its due time
message_scheduled = Signal()

# kind, attempt_number: int, outcome: DeliveryAttempt.Outcome value, http_status: int | None,
# duration_seconds: float, retry_after: float | None, error_type: str | None
delivery_attempted = Signal()

# kind, status: the terminal (or retry) status reached, attempts: int, failures: int,
# due_at: datetime, finished_at: datetime, processing_seconds: float (claim to outcome),
# http_status: int | None (the vendor's answer that led here; absent for expiry)
message_finished = Signal()

# kind, reason: "already_done" | "in_flight" | "not_ready" | "user_gone" | "occasion_moved"
#   a delivery task found nothing to do for a message: the duplicate-prevention path
idempotency_skipped = Signal()

# count: int, queue: str  (tasks published), messages: int
tasks_published = Signal()

# vendor: str, state: "closed" | "open" | "half_open"
circuit_state_changed = Signal()

# rows: list[dict] with id, user_id, kind, occasion_date, due_at, status, attempts, sent_at; one
#   per message that became sent, failed, dead or expired. Unlike the others this is sent INSIDE
#   the transaction that changed the status, so a receiver's writes (the webhook outbox) commit
#   or roll back with it: no status change without its event, no event without the change.
messages_terminal = Signal()
