"""Open-loop load for the users API, with the CPU each request costs.

    python -m bench.api_profile --base http://127.0.0.1:18000 --token bdy_... --mode get --rate 200
    python -m bench.api_profile ... --mode post --rate 0          # 0: as fast as it goes (closed loop)

At a fixed rate every request is scheduled by the clock (request i at start + i/rate) and its
latency runs from that scheduled instant, not from when a connection became free, so a server
that falls behind shows the queueing it causes (the wrk2 method; wrk2 is not packaged for
Debian). Connections are opened as needed, up to --connections; a request that finds none free
waits, and that wait counts. `--rate 0` keeps --connections requests in flight back to back and
measures the most the server answers.

CPU per request: the user+system CPU time of the processes given with --pid (and their
children), and of the PostgreSQL backends serving --database, over the run, divided by the
answered requests. The generator itself is not counted.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from urllib.parse import urlsplit

import psutil

from .procs import cpu_seconds

ZONES = ["UTC", "Europe/London", "Asia/Kathmandu", "America/New_York", "Australia/Eucla", "Pacific/Chatham",
         "America/St_Johns", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12"]


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Client:
    """HTTP/1.1 keep-alive connections, minimal parsing (status, Content-Length, body)."""

    def __init__(self, host: str, port: int, limit: int):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.limit = limit
        self.freed = asyncio.Condition()

    async def _acquire(self):
        async with self.freed:
            while not self.idle and self.open >= self.limit:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop()
            self.open += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            async with self.freed:
                self.open -= 1
                self.freed.notify()
            raise

    async def _release(self, conn, reusable: bool):
        async with self.freed:
            if reusable:
                self.idle.append(conn)
            else:
                self.open -= 1
                conn[1].close()
            self.freed.notify()

    async def request(self, raw: bytes) -> int:
        conn = await self._acquire()
        reader, writer = conn
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            keep = True
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep = False
            if length:
                await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self._release(conn, False)
            raise
        await self._release(conn, keep)
        return status


def build_request(mode: str, host: str, token: str, max_id: int, prefix: str, counter: int) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    if mode == "post":
        body = json.dumps({
            "first_name": "Api", "last_name": "Bench", "email": f"{prefix}-{counter}@bench.example",
            "birthday": f"19{random.randint(50, 99)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}",
            "timezone": random.choice(ZONES),
        }).encode()
        return (f"POST /user HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return f"GET /user/{random.randint(1, max_id)} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode()


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


async def run(args) -> dict:
    url = urlsplit(args.base)
    client = Client(url.hostname, url.port or 80, args.connections)
    prefix = f"{args.prefix}{int(time.time() * 1000)}"
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    errors = 0
    counter = 0

    async def one(scheduled: float, raw: bytes):
        nonlocal errors
        try:
            status = await client.request(raw)
        except Exception:
            errors += 1
            return
        latencies.append((time.perf_counter() - scheduled) * 1000)
        statuses[status] = statuses.get(status, 0) + 1

    def next_request() -> bytes:
        nonlocal counter
        counter += 1
        return build_request(args.mode, url.netloc, args.token, args.max_id, prefix, counter)

    # Warm the connections and the server's caches before measuring.
    await asyncio.gather(*(one(time.perf_counter(), next_request()) for _ in range(min(args.connections, 20))))
    latencies.clear()
    statuses.clear()
    errors = 0

    meter = CpuMeter(args.pid, args.database, args.db_url)
    before = meter.snapshot()
    started = time.perf_counter()
    end = started + args.seconds
    if args.rate > 0:
        tasks = []
        interval = 1 / args.rate
        i = 0
        while True:
            scheduled = started + i * interval
            if scheduled >= end:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled, next_request())))
            i += 1
        # A server far behind would keep the run going for minutes: what is not answered within
        # --drain seconds of the end counts as unanswered.
        done, pending = await asyncio.wait(tasks, timeout=args.drain)
        for task in pending:
            task.cancel()
        unanswered = len(pending)
        offered = args.rate
    else:
        async def loop():
            while time.perf_counter() < end:
                await one(time.perf_counter(), next_request())

        await asyncio.gather(*(loop() for _ in range(args.connections)))
        offered = None
        unanswered = 0
    elapsed = time.perf_counter() - started
    after = meter.snapshot()
    cpu_s = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    answered = len(latencies)
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "mode": args.mode,
        "offered_rps": offered,
        "achieved_rps": round(answered / elapsed, 1),
        "seconds": round(elapsed, 2),
        "requests": answered,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
        "unanswered": unanswered,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p90_ms": round(percentile(latencies, 90), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "cpu_ms_per_request": round(cpu_s * 1000 / answered, 3) if answered else None,
        "connections": args.connections,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_profile")
    parser.add_argument("--base", default="http://127.0.0.1:18000")
    parser.add_argument("--token", default=os.environ.get("BENCH_TOKEN", ""))
    parser.add_argument("--mode", choices=["get", "post"], default="get")
    parser.add_argument("--rate", type=float, default=200, help="requests/s offered; 0 = closed loop, flat out")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--drain", type=float, default=5, help="seconds to wait for answers after the run")
    parser.add_argument("--max-id", type=int, default=1000, help="GET reads random ids in 1..max-id")
    parser.add_argument("--prefix", default="apiprof")
    parser.add_argument("--pid", type=int, action="append", default=[], help="server process (children included)")
    parser.add_argument("--database", help="count the CPU of PostgreSQL backends on this database")
    parser.add_argument("--db-url", default=os.environ.get("BENCH_ADMIN_DB_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
