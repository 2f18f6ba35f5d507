"""Every alert's promtool tests pin its thresholds and `for` (tests/deploy/mutate_alerts.py)."""

import subprocess
import sys

import pytest

from .conftest import PROMTOOL_TESTS, ROOT, load_module, tool

thresholds = load_module(PROMTOOL_TESTS / "thresholds.py", "promtool_thresholds")

def test_threshold_tests_are_the_generators_output():
    committed = {name: (PROMTOOL_TESTS / name).read_text() for name in thresholds.render()}
    assert committed == thresholds.render(), "run: python deploy/prometheus/tests/thresholds.py"


@pytest.mark.integration  # runs promtool once per mutant
@pytest.mark.timeout(900)
def test_every_threshold_and_for_mutant_fails_some_promtool_test():
    tool("promtool")
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "deploy" / "mutate_alerts.py")], capture_output=True,
                       text=True, timeout=900)
    print("\n" + r.stdout)
    assert "tests fail unmutated" not in r.stdout and "alerts without tests" not in r.stdout, r.stdout
    survived = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if "SURVIVED" in parts:
            survived.add((parts[0], parts[1], " ".join(parts[2:5])))
    assert survived == set(), r.stdout
    assert "mutation score 100.0%" in r.stdout, r.stdout
