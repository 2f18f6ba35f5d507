"""The queue names are defined once (core/queues.py); files that cannot import them say the same."""

import re
from pathlib import Path

from core.queues import WEBHOOK_QUEUE, WORKER_QUEUES

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployed_worker_consumes_the_queues_core_names():
    # Delivery workers consume WORKER_QUEUES; the webhook worker its own queue.
    for paths in (["deploy/compose.yaml"], ["deploy/k8s/worker.yaml", "deploy/k8s/webhook-worker.yaml"]):
        found = [q for path in paths for q in re.findall(r'"worker", "-Q", "([^"]+)"', (ROOT / path).read_text())]
        assert sorted(found) == sorted([WORKER_QUEUES, WEBHOOK_QUEUE]), paths
