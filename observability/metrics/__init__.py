"""Prometheus metrics: definitions, the sources that move them, and how each process exposes
them. docs/metrics.md lists every metric."""
