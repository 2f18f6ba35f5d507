"""What the broker itself says about the queues.

RabbitMQ: a passive queue_declare over AMQP gives ready messages and consumers; the management
API (RABBITMQ_MANAGEMENT_URL) adds unacknowledged messages, publish/deliver rates and each
consumer's prefetch. Either source may be unreachable; what it would have given is then absent
rather than stale. The embedded filesystem broker: ready messages are files in its folder.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from django.conf import settings

log = logging.getLogger(__name__)


def management_url(broker_url: str, configured: str = "") -> str:
    """The configured URL, else http://<broker host>:15672 with the broker's credentials."""
    if configured:
        return configured.rstrip("/")
    parts = urlsplit(broker_url)
    host = parts.hostname or "127.0.0.1"
    credentials = ""
    if parts.username:
        credentials = f"{parts.username}:{parts.password or ''}@"
    return f"http://{credentials}{host}:15672"


def vhost(broker_url: str) -> str:
    path = urlsplit(broker_url).path.lstrip("/")
    return path or "/"


def amqp_counts(app, queue_names) -> dict[str, tuple[int, int]]:
    """queue name -> (ready messages, consumers)."""
    counts = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in queue_names:
            try:
                _, messages, consumers = channel.queue_declare(name, passive=True)
            except Exception:  # the queue does not exist (yet); the channel is closed by it
                channel = connection.channel()
                continue
            counts[name] = (messages, consumers)
    return counts


def management_stats(base_url: str, virtual_host: str, timeout: float = 2.0) -> dict[str, dict]:
    """queue name -> {unacked, publish_rate, consume_rate, prefetch}."""
    parts = urlsplit(base_url)
    auth = (parts.username or "guest", parts.password or "guest")
    root = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}{parts.path}"
    encoded = quote(virtual_host, safe="")
    stats: dict[str, dict] = {}
    with httpx.Client(auth=auth, timeout=timeout) as client:
        queues = client.get(f"{root}/api/queues/{encoded}").raise_for_status().json()
        for queue in queues:
            message_stats = queue.get("message_stats") or {}
            stats[queue["name"]] = {
                "unacked": queue.get("messages_unacknowledged", 0) or 0,
                "publish_rate": (message_stats.get("publish_details") or {}).get("rate", 0.0),
                "consume_rate": (message_stats.get("deliver_get_details") or {}).get("rate", 0.0),
                "prefetch": 0,
            }
        consumers = client.get(f"{root}/api/consumers/{encoded}").raise_for_status().json()
        for consumer in consumers:
            name = (consumer.get("queue") or {}).get("name")
            if name in stats:
                stats[name]["prefetch"] = max(stats[name]["prefetch"], consumer.get("prefetch_count", 0) or 0)
    return stats


def filesystem_depths(folder: Path, queue_names) -> dict[str, int]:
    depths = {name: 0 for name in queue_names}
    for entry in Path(folder).glob("*.msg"):
        # kombu names each file <timestamp>_<uuid>.<queue>.msg
        queue = entry.name[: -len(".msg")].split(".", 1)[-1]
        if queue in depths:
            depths[queue] += 1
    return depths


class Throttled:
    """Log a failing source once a minute, not once a scrape."""

    def __init__(self, every: float = 60.0):
        self.every = every
        self.last = 0.0

    def warn(self, message: str, *args) -> None:
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            log.warning(message, *args)


def rabbitmq_management_url() -> str:
    return management_url(settings.CELERY_BROKER_URL, getattr(settings, "RABBITMQ_MANAGEMENT_URL", ""))
