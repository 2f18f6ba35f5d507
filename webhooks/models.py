import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from .policy import port_refusal, target_refusal

EVENT_TYPES = ("message.sent", "message.failed", "message.dead", "message.expired")


def all_event_types() -> list[str]:
    return list(EVENT_TYPES)


def validate_event_types(value) -> None:
    """An endpoint's event_types: a non-empty list of distinct known types. JSON is what the
    column and the admin's box hold, so anything (a number, a string, an object) can arrive."""
    known = ", ".join(EVENT_TYPES)
    if not isinstance(value, list):
        raise ValidationError(f'Enter a list of event types, such as ["message.sent"]; the types are {known}.',
                              code="not_a_list")
    if not value:
        raise ValidationError("Enter at least one event type.", code="empty")
    errors = []
    for item in value:
        if not isinstance(item, str) or item not in EVENT_TYPES:
            errors.append(ValidationError(f"{item!r} is not an event type; the types are {known}.",
                                          code="invalid_choice"))
    errors.extend(ValidationError(f"{item!r} is listed twice.", code="duplicate")
                  for item in sorted({i for i in value if isinstance(i, str) and value.count(i) > 1}))
    if errors:
        raise ValidationError(errors)


def validate_public_target(url: str) -> None:
    """Refuses a URL that names a non-public address, unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES."""
    refusal = None if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES else target_refusal(url)
    if refusal:
        raise ValidationError(refusal, code="private_address")


def validate_port(url: str) -> None:
    """Refuses a port no connection can use, whatever WEBHOOK_ALLOW_PRIVATE_ADDRESSES says."""
    refusal = port_refusal(url)
    if refusal:
        raise ValidationError(refusal, code="invalid_port")


# The model's and the API's: a URLField's own URLValidator admits ftp too.
URL_VALIDATORS = (URLValidator(schemes=["http", "https"]), validate_port, validate_public_target)


class Endpoint(models.Model):
    """An integrator's URL that receives signed delivery events.

    Two secrets may be active at once: after a rotation every event is signed with the new
    secret and, until `previous_secret_expires_at`, with the previous one too, so a receiver can
    switch over without losing an event.
    """

    url = models.URLField(max_length=2000, validators=list(URL_VALIDATORS))
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=all_event_types, validators=[validate_event_types],
                                   help_text="Event types sent to this endpoint")
    is_active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """The webhook outbox: one row per (endpoint, message status change), written in the same
    transaction as the change. `next_attempt_at` is the wake-up column of pending rows (also the
    token of the delivery task that holds them); delivered and dead rows clear it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead", "dead (attempts exhausted)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The event id, for dedupe")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32)
    # No foreign key: the event outlives a deleted user's messages.
    message_id = models.BigIntegerField()
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "webhook event"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "delivered", "dead"]), name="webhooks_event_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="pending") | models.Q(next_attempt_at__isnull=False),
                name="webhooks_event_pending_has_wakeup",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhooks_event_wake_idx",
                condition=models.Q(next_attempt_at__isnull=False),
            ),
            models.Index(fields=["endpoint", "created_at"], name="webhooks_event_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} for message {self.message_id} ({self.status})"
