"""RabbitMQ topology on the real broker: durable quorum queues whose rejected tasks are
dead-lettered into a queue that exists."""

import base64
import json
import os
import urllib.parse
import urllib.request

import pytest
from kombu import Connection, Producer

from birthday.celery import app
from core.queues import DEAD_LETTER_QUEUE, DELIVERY_QUEUE, SCHEDULER_QUEUE
from messaging.broker import declare_topology
from tests.conftest import wait_until
from tests.queues import queue_depth


def management_queue(name: str) -> dict:
    broker = urllib.parse.urlparse(os.environ["CELERY_BROKER_URL"])
    vhost = urllib.parse.quote(broker.path.lstrip("/") or "/", safe="")
    request = urllib.request.Request(f"http://{broker.hostname}:15672/api/queues/{vhost}/{urllib.parse.quote(name)}")
    credentials = f"{broker.username or 'guest'}:{broker.password or 'guest'}".encode()
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def topology(purge_queues):
    declare_topology(app)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(DEAD_LETTER_QUEUE)
    yield


def test_queues_are_durable_quorum_queues_with_a_dead_letter_exchange(topology):
    for name in (DELIVERY_QUEUE, SCHEDULER_QUEUE, DEAD_LETTER_QUEUE):
        queue = management_queue(name)
        assert queue["durable"] is True and queue["type"] == "quorum", queue
    arguments = management_queue(DELIVERY_QUEUE)["arguments"]
    assert arguments["x-dead-letter-exchange"] == "birthday.dlx"
    assert arguments["x-dead-letter-routing-key"] == DEAD_LETTER_QUEUE


def test_a_rejected_task_is_dead_lettered_not_dropped(topology):
    with Connection(app.conf.broker_url) as conn:
        Producer(conn.default_channel).publish(
            {"poison": True}, exchange=DELIVERY_QUEUE, routing_key=DELIVERY_QUEUE, delivery_mode=2, serializer="json"
        )
        channel = conn.default_channel
        message = wait_until(lambda: channel.basic_get(queue=DELIVERY_QUEUE), timeout=10)
        channel.basic_reject(message.delivery_tag, requeue=False)
    wait_until(lambda: queue_depth(DEAD_LETTER_QUEUE) == 1, timeout=10, message="the task in the dead-letter queue")


@pytest.mark.django_db(transaction=True)
def test_a_starting_worker_declares_the_dead_letter_queue(processes):
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(DEAD_LETTER_QUEUE)
    processes.worker(queues=DELIVERY_QUEUE, concurrency=1)
    assert management_queue(DEAD_LETTER_QUEUE)["type"] == "quorum"
