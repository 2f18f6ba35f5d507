"""The collector's tail sampling holds the peak's traces until it decides (issue 15 item 7)."""

import re
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "otel" / "otel-collector-config.yaml"
# The peak delivery rate measured in docs/performance.md: one trace per message.
PEAK_MESSAGES_PER_SECOND = 1000


def test_tail_sampling_keeps_every_trace_of_the_peak_until_its_decision():
    sampling = yaml.safe_load(CONFIG.read_text())["processors"]["tail_sampling"]
    wait = float(re.fullmatch(r"(\d+)s", sampling["decision_wait"]).group(1))
    assert sampling["expected_new_traces_per_sec"] >= PEAK_MESSAGES_PER_SECOND
    # Traces arriving during one decision_wait, with room for bursts and retries.
    assert sampling["num_traces"] >= 2 * sampling["expected_new_traces_per_sec"] * wait
