"""The queue names are defined once (core/queues.py); files that cannot import them say the same."""

import re
from pathlib import Path

from core.queues import WORKER_QUEUES

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployed_worker_consumes_the_queues_core_names():
    for path in ("deploy/compose.yaml", "deploy/k8s/worker.yaml"):
        found = re.findall(r'"worker", "-Q", "([^"]+)"', (ROOT / path).read_text())
        assert found == [WORKER_QUEUES], path
