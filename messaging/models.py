import uuid

from django.db import models

from . import outcomes


class Message(models.Model):
    """One message per (user, occasion type, occasion date): the database forbids a second.

    `dispatch_after` is the single wake-up column for every non-terminal state: when a pending
    or retrying message may be published, when a queued one is presumed lost by the broker,
    when a sending one's lease has expired. The dispatcher reads it through a partial index;
    terminal states clear it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending (not yet on the queue)"
        QUEUED = "queued", "queued"
        SENDING = "sending", "sending"
        RETRY = "retry", "waiting to retry"
        SENT = "sent", "sent"
        FAILED = "failed", "failed permanently"
        DEAD = "dead", "dead (retries exhausted)"
        EXPIRED = "expired", "expired (older than the catch-up window)"

    TERMINAL = (Status.SENT, Status.FAILED, Status.DEAD, Status.EXPIRED)

    user = models.ForeignKey("users.User", on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=32)
    occasion_date = models.DateField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Calls made to the vendor")
    failures = models.PositiveIntegerField(
        default=0, help_text="Failed calls that spend the retry budget (rate limiting does not)"
    )
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dispatch_after = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    vendor_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "occasion_date"], name="messaging_message_one_per_occasion"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "queued", "sending", "retry", "sent", "failed", "dead", "expired"]),
                name="messaging_message_status_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="messaging_message_sent_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["dispatch_after"],
                name="messaging_message_wake_idx",
                condition=models.Q(dispatch_after__isnull=False),
            ),
            # Listings (GET /messages) page by keyset on (due_at, id), with or without a status.
            models.Index(fields=["status", "due_at", "id"], name="messaging_message_status_idx"),
            models.Index(fields=["due_at", "id"], name="messaging_msg_due_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.user_id} on {self.occasion_date} ({self.status})"


class DeliveryAttempt(models.Model):
    """One call to the vendor for a message: the read-only delivery history operators see."""

    Outcome = models.TextChoices("Outcome", [(name.upper(), name) for name in outcomes.ALL])

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["message_id", "number"]
        indexes = [
            models.Index(fields=["message", "number"], name="messaging_attempt_msg_idx"),
            # The operations overview counts the last hours' attempts by time.
            models.Index(fields=["started_at"], name="messaging_attempt_started_idx"),
        ]

    def __str__(self) -> str:
        status = f", HTTP {self.http_status}" if self.http_status else ""
        return f"attempt {self.number}: {self.get_outcome_display()}{status}"
