"""docs/metrics.md covers every metric of the inventory (observability/inventory.yaml)."""

from pathlib import Path

from observability import inventory

ROOT = Path(__file__).resolve().parents[2]


def test_every_inventory_metric_is_documented():
    docs = (ROOT / "docs/metrics.md").read_text()
    missing = []
    for name in inventory.load().metrics:
        short = name.removeprefix("birthday_scheduler_")
        if f"`{short}`" not in docs and f"`{name}`" not in docs:
            missing.append(name)
    assert not missing, missing
