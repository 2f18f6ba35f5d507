"""Registering endpoints, writing the webhook outbox, publishing and delivering its events.

Events are written by `record_message_events` inside the transaction that moved a message to a
terminal status (messaging's `messages_terminal` signal), so the outbox holds an event for every
change that committed. The dispatcher publishes due events to the `webhooks` queue (never the
deliveries queue) under a fresh token; a delivery task records results only where an event still
carries its token, and an event whose task was lost is published again once the token's instant
passes. Every event is therefore attempted until a 2xx or WEBHOOK_MAX_ATTEMPTS: at least once,
sometimes more, in no promised order; receivers dedupe on the event id.
"""

import asyncio
import dataclasses
import datetime
import json
import logging
import secrets as secret_tokens
import socket
import time
import uuid

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from core import clock

from . import policy, signals
from .models import EVENT_TYPES, Endpoint, Event, validate_event_types

log = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
EDITABLE_FIELDS = ("url", "description", "event_types", "is_active")
USER_AGENT = "birthday-webhooks/1"


class EndpointNotFound(Exception):
    pass


def new_secret() -> str:
    return "whsec_" + secret_tokens.token_urlsafe(32)


# --- endpoints ------------------------------------------------------------------------------------


def _check_event_types(value) -> None:
    """Refuses, as a per-field error, a value `record_message_events` could not read: it runs
    inside every message outcome's transaction."""
    try:
        validate_event_types(value)
    except ValidationError as exc:
        raise ValidationError({"event_types": exc.error_list}) from None


def create_endpoint(*, url: str, description: str = "", event_types: list[str] | None = None,
                    is_active: bool = True) -> Endpoint:
    event_types = list(EVENT_TYPES) if event_types is None else event_types
    _check_event_types(event_types)
    return Endpoint.objects.create(
        url=url, description=description, event_types=event_types, is_active=is_active, secret=new_secret(),
    )


def update_endpoint(*, endpoint_id: int, data: dict) -> Endpoint:
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not endpoint fields: {sorted(unknown)}")
    if "event_types" in data:
        _check_event_types(data["event_types"])
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None:
            raise EndpointNotFound(endpoint_id)
        for field, value in data.items():
            setattr(endpoint, field, value)
        endpoint.save()
    return endpoint


def delete_endpoint(*, endpoint_id: int) -> None:
    deleted, _ = Endpoint.objects.filter(pk=endpoint_id).delete()
    if not deleted:
        raise EndpointNotFound(endpoint_id)


def rotate_secret(*, endpoint_id: int, overlap_hours: int | None = None) -> Endpoint:
    """A new signing secret; the current one stays valid (events carry both signatures) for
    `overlap_hours` (WEBHOOK_SECRET_OVERLAP_HOURS), 0 to drop it at once."""
    hours = settings.WEBHOOK_SECRET_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None:
            raise EndpointNotFound(endpoint_id)
        if hours > 0:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = clock.now() + datetime.timedelta(hours=hours)
        else:
            endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
        endpoint.secret = new_secret()
        endpoint.save()
    return endpoint


def active_secrets(endpoint: Endpoint, now: datetime.datetime) -> list[str]:
    """The secrets events are signed with now: the current one, and the previous one during its overlap."""
    found = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        found.append(endpoint.previous_secret)
    return found


# --- the outbox -----------------------------------------------------------------------------------


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def record_message_events(*, rows: list[dict], now: datetime.datetime | None = None) -> int:
    """One outbox row per (active endpoint subscribed to the type, message row); written in the
    caller's transaction. Returns the number of events written."""
    endpoints = []
    for endpoint_id, types in Endpoint.objects.filter(is_active=True).values_list("id", "event_types"):
        try:
            validate_event_types(types)
        except ValidationError:
            # Stored before event_types was checked, or written around the services: raising
            # here would roll back every message outcome while the endpoint is active.
            log.warning("webhook endpoint %s skipped: its event_types %r is not a list of event types; "
                        "fix it in the admin", endpoint_id, types)
            continue
        endpoints.append((endpoint_id, types))
    if not endpoints:
        return 0
    now = now or clock.now()
    events = []
    for row in rows:
        event_type = f"message.{row['status']}"
        message = {
            "id": row["id"], "user_id": row["user_id"], "kind": row["kind"],
            "occasion_date": _iso(row["occasion_date"]), "due_at": _iso(row["due_at"]), "status": row["status"],
            "attempts": row["attempts"], "sent_at": _iso(row.get("sent_at")),
        }
        for endpoint_id, types in endpoints:
            if event_type not in types:
                continue
            event_id = uuid.uuid4()
            events.append(Event(
                id=event_id, endpoint_id=endpoint_id, type=event_type, message_id=row["id"], created_at=now,
                next_attempt_at=now,
                payload={"id": str(event_id), "type": event_type, "created_at": _iso(now), "data": {"message": message}},
            ))
    Event.objects.bulk_create(events, batch_size=1000)
    return len(events)


# --- dispatch -------------------------------------------------------------------------------------


def dispatch_due(*, now: datetime.datetime | None = None, limit: int = 2000) -> int:
    """Publish every pending event whose time has come, under a token that is also its new
    wake-up instant. Returns the number of events published."""
    # The project's Celery app (birthday/celery.py, loaded with the settings) is the current one.
    from celery import current_app as app

    now = now or clock.now()
    token = now + datetime.timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    published = 0
    while True:
        with transaction.atomic():
            ids = [
                str(event_id) for event_id in Event.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(next_attempt_at__lte=now, status=Event.Status.PENDING, endpoint__is_active=True)
                .order_by("next_attempt_at").values_list("id", flat=True)[:limit]
            ]
            if not ids:
                return published
            Event.objects.filter(id__in=ids).update(next_attempt_at=token)
            size = settings.WEBHOOK_BATCH_SIZE
            with app.producer_or_acquire() as producer:
                for start in range(0, len(ids), size):
                    app.send_task(DELIVER_TASK, args=[ids[start : start + size], token.isoformat()], producer=producer)
        published += len(ids)
        if len(ids) < limit:
            return published


# --- delivery -------------------------------------------------------------------------------------


@dataclasses.dataclass
class AttemptResult:
    event_id: uuid.UUID
    event_type: str
    outcome: str  # success | http_error | timeout | connection_error
    http_status: int | None
    duration_seconds: float
    error: str = ""


@dataclasses.dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    skipped: int = 0


def deliver(*, event_ids: list[str], token: str) -> DeliveryReport:
    """Attempt each event the task's token still holds, concurrently, and record the outcomes."""
    lease = datetime.datetime.fromisoformat(token)
    report = DeliveryReport()
    events = list(
        Event.objects.select_related("endpoint")
        .filter(id__in=event_ids, status=Event.Status.PENDING, next_attempt_at=lease)
    )
    report.skipped = len(event_ids) - len(events)
    if not events:
        return report
    now = clock.now()
    results = asyncio.run(_attempt_all(events, now))
    announced = []
    finished_at = clock.now()
    with transaction.atomic():
        for event, result in zip(events, results):
            attempt = event.attempts + 1
            verdict = policy.decide(
                http_status=result.http_status, attempt=attempt, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
                base=settings.WEBHOOK_BACKOFF_BASE_SECONDS, cap=settings.WEBHOOK_BACKOFF_MAX_SECONDS,
            )
            fields = dict(attempts=attempt, last_attempt_at=finished_at, last_status_code=result.http_status,
                          last_error=result.error[:1000], status=verdict.status)
            if verdict.status == Event.Status.DELIVERED:
                fields.update(delivered_at=finished_at, next_attempt_at=None)
            elif verdict.status == Event.Status.DEAD:
                fields.update(next_attempt_at=None)
            else:
                fields.update(next_attempt_at=finished_at + datetime.timedelta(seconds=verdict.delay_seconds))
            written = Event.objects.filter(id=event.id, status=Event.Status.PENDING, next_attempt_at=lease).update(**fields)
            if not written:
                report.skipped += 1
                continue
            counter = {"delivered": "delivered", "pending": "retrying", "dead": "dead"}[verdict.status]
            setattr(report, counter, getattr(report, counter) + 1)
            announced.append((result, verdict.status))

        def announce():
            for result, final in announced:
                signals.webhook_attempted.send(
                    sender=__name__, event_type=result.event_type, outcome=result.outcome,
                    http_status=result.http_status, duration_seconds=result.duration_seconds, final=final,
                )

        transaction.on_commit(announce)
    return report


def encode_body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


async def _attempt_all(events: list[Event], now: datetime.datetime) -> list[AttemptResult]:
    """All of a task's calls at once, at most WEBHOOK_CONCURRENCY connections. A client per task:
    its connections live for one batch, so nothing outlives the event loop or a fork."""
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS, connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    limits = httpx.Limits(max_connections=settings.WEBHOOK_CONCURRENCY,
                          max_keepalive_connections=settings.WEBHOOK_CONCURRENCY)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False) as client:
        return await asyncio.gather(*(_attempt(client, event, now) for event in events))


async def _attempt(client: httpx.AsyncClient, event: Event, now: datetime.datetime) -> AttemptResult:
    body = encode_body(event.payload)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Birthday-Event-Id": str(event.id),
        "Birthday-Event-Type": event.type,
        policy.SIGNATURE_HEADER: policy.signature_header(active_secrets(event.endpoint, now), timestamp, body),
    }
    started = time.monotonic()
    try:
        # WEBHOOK_TIMEOUT_SECONDS for the whole call, name resolution to the status line: httpx's
        # timeouts bound each read, so a receiver sending its headers a line at a time held the
        # call past the task's lease, and the event went out again to every endpoint in the batch.
        async with asyncio.timeout(settings.WEBHOOK_TIMEOUT_SECONDS):
            url, pinned_headers, extensions = await asyncio.to_thread(pinned_target, event.endpoint.url)
            # Streamed and closed unread: a receiver's large or endless answer costs nothing.
            async with client.stream("POST", url, content=body, headers={**headers, **pinned_headers},
                                     extensions=extensions) as response:
                status = response.status_code
    except (TimeoutError, httpx.TimeoutException) as exc:
        return AttemptResult(event.id, event.type, "timeout", None, time.monotonic() - started, f"timeout: {exc!r}")
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
        return AttemptResult(event.id, event.type, "connection_error", None, time.monotonic() - started,
                             f"{type(exc).__name__}: {exc}")
    duration = time.monotonic() - started
    if policy.is_success(status):
        return AttemptResult(event.id, event.type, "success", status, duration)
    return AttemptResult(event.id, event.type, "http_error", status, duration, f"HTTP {status}")


class TargetRefused(ValueError):
    pass


def pinned_target(url: str) -> tuple[str, dict, dict]:
    """(URL, headers, request extensions) for one call: the host resolved once, every address
    it has checked as public, and the connection made to the checked address (Host header and
    TLS server name still the host's), so a name that re-resolves to a private address between
    the check and the connection (DNS rebinding) gains nothing."""
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return url, {}, {}
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    # The Host header's form, not parsed.host (Unicode): getaddrinfo would encode that with
    # IDNA 2003 and could resolve another domain (faß.de as fass.de) than the one named.
    host = policy.request_host(url)
    addresses = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    if not addresses or not all(policy.is_public_address(address) for address in addresses):
        raise TargetRefused(f"{host} resolves to a non-public address")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return str(parsed.copy_with(host=addresses[0])), {"Host": parsed.netloc.decode("ascii")}, extensions
