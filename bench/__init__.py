"""The performance benchmark: `bin/bench` (or `python -m bench run`); docs/performance.md has the figures."""
