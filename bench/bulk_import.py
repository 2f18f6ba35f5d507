"""`python -m bench import --users N`: the bulk import benchmark (docs/performance.md, "Bulk import").

Writes N JSON Lines rows to a temporary file (a share of them invalid), empties the user tables
of DATABASE_URL's database (it must be a database of its own), and imports the file through the
same code path as POST /users/bulk and `manage.py import_users` (users/bulk.py), in this
process. Reports rows per second, peak RSS, and checks that every valid row became a user with
its occasions and every invalid row an error result: nothing lost.
"""

import datetime
import json
import os
import platform
import random
import resource
import tempfile
import time
from pathlib import Path

from . import seed

BAD_EVERY = 1000  # one invalid row in this many


def write_rows(path: Path, count: int, rng: random.Random) -> int:
    zones = seed.zones()
    bad = 0
    with path.open("w") as out:
        for n in range(count):
            row = {
                "first_name": f"First{n}", "last_name": f"Last{n}", "email": f"bulk{n}@example.com",
                "birthday": (datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(20000))).isoformat(),
                "timezone": zones[n % len(zones)],
            }
            if n % 3 == 0:
                row["anniversary_date"] = "2015-06-01"
            if n % BAD_EVERY == BAD_EVERY - 1:
                row["timezone"] = "Nowhere/Atlantis"
                bad += 1
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    return bad


def _backend_cpu_seconds(connection) -> float | None:
    """CPU of this connection's PostgreSQL backend, when the server runs on this machine."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(count: int, chunk_rows: int | None, quiet: bool, workers: int = 1) -> dict:
    from django.conf import settings
    from django.db import connection

    from scheduler.models import Occasion
    from users import bulk
    from users.models import User

    if chunk_rows:
        settings.BULK_IMPORT_CHUNK_ROWS = chunk_rows
    seed.reset()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.jsonl"
        bad = write_rows(path, count, random.Random(1))
        size = path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        summary = bulk.Summary()
        load_before = os.getloadavg()
        backend_before = _backend_cpu_seconds(connection)
        started = time.monotonic()
        cpu_started = time.process_time()
        with path.open("rb") as stream:
            results = bulk.results_as_jsonl(bulk.import_rows(bulk.parse_jsonl(bulk.open_lines(stream)), workers=workers), summary)
            for n, _line in enumerate(results):
                if not quiet and n % 100_000 == 0 and n:
                    print(f"  {n} rows, {time.monotonic() - started:.1f}s", flush=True)
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        load_after = os.getloadavg()
        backend_after = _backend_cpu_seconds(connection)
    users = User.objects.count()
    occasions = Occasion.objects.count()
    with_anniversary = User.objects.filter(anniversary_date__isnull=False).count()
    result = {
        "rows": count, "invalid_rows": bad, "bytes": size, "seconds": round(elapsed, 1),
        "rows_per_second": round(count / elapsed), "import_process_cpu_seconds": round(cpu, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_import_mib": round(rss_before / 1024, 1),
        "chunk_rows": settings.BULK_IMPORT_CHUNK_ROWS, "workers": workers,
        "postgres_backend_cpu_seconds": None if backend_before is None or backend_after is None
        else round(backend_after - backend_before, 1),
        "children_cpu_seconds": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
                                      + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime, 1),
        "children_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "summary": {"created": summary.created, "duplicate": summary.duplicate, "error": summary.error},
        "users": users, "occasions": occasions,
        "checks": {
            "every_valid_row_a_user": users == count - bad == summary.created,
            "every_invalid_row_an_error": summary.error == bad,
            "occasions_for_all": occasions == users + with_anniversary,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "database": connection.cursor().connection.info.server_version if connection.vendor == "postgresql"
                    else connection.vendor,
                    "load_average_before": [round(v, 2) for v in load_before],
                    "load_average_after": [round(v, 2) for v in load_after]},
    }
    return result
