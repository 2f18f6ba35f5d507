"""Where an API worker's CPU goes, by layer: `python -m bench.profile_layers PROFILE.txt...`.

Reads py-spy raw profiles (`py-spy record --gil -f raw`: one line per distinct stack,
`frame;frame;... count`, outermost frame first) of gunicorn workers and prints the share of the
samples each layer owns, as the table in docs/performance.md ("The floor").

A sample belongs to the first of the `OWNERS` with a frame anywhere in its stack (their work runs
below Django's middleware, so they are found however deep it is), else to the `LAYERS` entry of
its innermost matching frame, else to the server. Middleware `__call__` frames wrap the whole
rest of the request and never decide ownership by themselves.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

OWNERS = [
    ("auth: token lookup (one Redis GET)", ("apiauth/services.py", "apiauth/authentication.py")),
    ("throttle: one Redis pipeline", ("apiauth/throttling.py",)),
    ("the JSON access line", ("AccessLogger",)),
    ("request id (django-guid)", ("django_guid", "request_id.py")),
    ("the view: the constant answer", ("bench/floor_urls.py",)),
]
LAYERS = [
    ("metrics: middleware, histograms, counters (multiprocess files)",
     ("observability/metrics", "prometheus_client", "django_prometheus")),
    ("DRF: dispatch, content negotiation, rendering", ("rest_framework",)),
    ("Django: middleware chain, URL resolution, request and response objects",
     ("django/", "whitenoise", "axes/", "asgiref", "request_id.py")),
]
SERVER = "server: gunicorn parsing, dispatch, writing, its event loop"


def layer_of(frames: list[str]) -> str:
    own_work = [f for f in frames if "Middleware.__call__" not in f]
    for name, marks in OWNERS:
        if any(mark in frame for frame in own_work for mark in marks):
            return name
    for frame in reversed(frames):
        for name, marks in LAYERS:
            if any(mark in frame for mark in marks):
                return name
    return SERVER


def shares(lines) -> Counter:
    samples: Counter = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack:
            samples[layer_of(stack.split(";"))] += int(count)
    return samples


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    samples: Counter = Counter()
    for path in paths:
        with path.open() as lines:
            samples.update(shares(lines))
    total = sum(samples.values())
    print(f"| layer | share ({total:,} samples) |\n|---|---|")
    for name, count in samples.most_common():
        print(f"| {name} | {100 * count / total:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
