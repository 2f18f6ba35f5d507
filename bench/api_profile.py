"""The comparison's load generator (`bench/loadgen.py`) against one running API, with the CPU
each request costs the server.

    python -m bench.api_profile --base http://127.0.0.1:18000 --token bdy_... --mode get --rate 200
    python -m bench.api_profile ... --mode post --rate 0          # 0: as fast as it goes (closed loop)

`--rate R` is loadgen's open loop (request i due at start + i/R, latency from that instant);
`--rate 0` is its closed loop on --connections connections. GET reads random ids in
1..--max-id; POST creates users with random birthdays in the zones below.

CPU per request: the user+system CPU time of the processes given with --pid (and their
children), and of the PostgreSQL backends serving --database, over the run, divided by the
answered requests. The generator itself is not counted (loadgen reports its own CPU).

Prints one JSON object: loadgen's summary plus `cpu_ms_per_request`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from urllib.parse import urlsplit

import psutil

from . import loadgen
from .procs import cpu_seconds

ZONES = ["UTC", "Europe/London", "Asia/Kathmandu", "America/New_York", "Australia/Eucla", "Pacific/Chatham",
         "America/St_Johns", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12"]
POST_BODY = ('{{"first_name": "Api", "last_name": "Bench", "email": "{n}@bench.example", '
             '"birthday": "{year}-{month}-{day}", "timezone": "{zone}"}}')


def spec_for(args) -> dict:
    url = urlsplit(args.base)
    spec = {
        "host": url.hostname, "port": url.port or 80, "seconds": args.seconds, "connections": args.connections,
        "timeout": args.timeout, "prefix": f"{args.prefix}{int(time.time() * 1000)}",
        "headers": {"Authorization": f"Bearer {args.token}"} if args.token else {},
    }
    if args.rate > 0:
        spec.update(mode="open", rate=args.rate)
    else:
        spec.update(mode="closed")
    if args.mode == "post":
        spec.update(method="POST", path="/user", body=POST_BODY, zones=ZONES)
    else:
        spec.update(method="GET", path="/user/{id}", ids=list(range(1, args.max_id + 1)))
    return spec


class CpuMeter:
    def __init__(self, pids: list[int], database: str | None, db_url: str | None):
        self.pids, self.database, self.db_url = pids, database, db_url

    def _procs(self) -> list[psutil.Process]:
        procs = []
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                procs += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        if self.database and self.db_url:
            import psycopg

            with psycopg.connect(self.db_url, autocommit=True) as conn:
                rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                    (self.database,)).fetchall()
            for (pid,) in rows:
                try:
                    procs.append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    pass
        return procs

    def snapshot(self) -> dict[int, float]:
        return cpu_seconds(self._procs())


def run(args) -> dict:
    spec = spec_for(args)
    # Warm the connections and the server's caches before measuring.
    # Its own prefix: each run counts from 1, and a POST's email must not repeat the warm-up's.
    loadgen.run({**spec, "mode": "closed", "seconds": 0.5, "connections": min(args.connections, 20),
                 "prefix": spec["prefix"] + "warm"})
    meter = CpuMeter(args.pid, args.database, args.db_url)
    before = meter.snapshot()
    result = loadgen.run(spec)
    after = meter.snapshot()
    cpu_s = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    answered = result["completed"]
    return {"api_mode": args.mode, **result,
            "cpu_ms_per_request": round(cpu_s * 1000 / answered, 3) if answered else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_profile")
    parser.add_argument("--base", default="http://127.0.0.1:18000")
    parser.add_argument("--token", default=os.environ.get("BENCH_TOKEN", ""))
    parser.add_argument("--mode", choices=["get", "post"], default="get")
    parser.add_argument("--rate", type=float, default=200, help="requests/s offered; 0 = closed loop, flat out")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10,
                        help="seconds an answer may take before it counts as an error")
    parser.add_argument("--max-id", type=int, default=1000, help="GET reads random ids in 1..max-id")
    parser.add_argument("--prefix", default="apiprof")
    parser.add_argument("--pid", type=int, action="append", default=[], help="server process (children included)")
    parser.add_argument("--database", help="count the CPU of PostgreSQL backends on this database")
    parser.add_argument("--db-url", default=os.environ.get("BENCH_ADMIN_DB_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
