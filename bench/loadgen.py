"""HTTP load generator for the API benchmarks: `python -m bench.loadgen SPEC.json` prints JSON.

Two modes, both over keep-alive HTTP/1.1 connections to one host on loopback:

- **open** (wrk2-style, constant rate): request i is due at start + i / rate, whatever happened
  to the requests before it. Its latency is measured from that scheduled instant, not from when
  a connection was free to send it, so a server that falls behind shows the queueing it causes
  (no coordinated omission). The achieved rate is reported beside the offered one.
- **closed** (max throughput): `connections` connections each send their next request as soon
  as the previous answer arrives, for `seconds`.

The spec (JSON): `mode`, `host`, `port`, `seconds`, `rate` (open), `connections`, `timeout`,
`method`, `path` and `body` templates (`{n}`: a per-run counter, `{id}`: a random entry of
`ids`, `{zone}`: a random entry of `zones`, `{year}` `{month}` `{day}`: a random date),
`headers`, and `header_sets` (request i also sends set i mod n: several integrators' tokens).
It runs in its own process so its CPU is not the server's and is reported separately.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import resource
import sys
import time


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


class Requests:
    """Builds request bytes from the spec's templates."""

    def __init__(self, spec: dict, seed: int = 1):
        self.method = spec.get("method", "GET")
        self.path = spec["path"]
        self.body = spec.get("body")
        self.ids = spec.get("ids") or []
        self.zones = spec.get("zones") or []
        self.host = f"{spec['host']}:{spec['port']}"
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (spec.get("headers") or {}).items())
        # `header_sets`: request i adds set i mod n (e.g. one Authorization per integrator).
        self.header_sets = ["".join(f"{k}: {v}\r\n" for k, v in headers.items()) for headers in spec.get("header_sets") or []]
        self.sent = 0
        self.rng = random.Random(seed)
        self.counter = 0
        self.prefix = spec.get("prefix", f"lg{int(time.time())}")

    def _fill(self, template: str) -> str:
        self.counter += 1
        values = {"n": f"{self.prefix}-{self.counter}"}
        if "{id}" in template:
            values["id"] = self.rng.choice(self.ids)
        if "{zone}" in template:
            values["zone"] = self.rng.choice(self.zones)
        if "{year}" in template:
            values.update(year=self.rng.randint(1950, 1999), month=f"{self.rng.randint(1, 12):02d}",
                          day=f"{self.rng.randint(1, 28):02d}")
        return template.format(**values)

    def next(self) -> bytes:
        path = self._fill(self.path) if "{" in self.path else self.path
        head = f"{self.method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.headers}"
        if self.header_sets:
            head += self.header_sets[self.sent % len(self.header_sets)]
        self.sent += 1
        if self.body is None:
            return (head + "\r\n").encode()
        body = self._fill(self.body).encode()
        return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request and read its answer; returns (status, keep-alive)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        return status, not close

    def close(self) -> None:
        self.writer.close()


class Pool:
    """At most `size` connections; a request waits for a free one (its wait counts as latency)."""

    def __init__(self, host: str, port: int, size: int):
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(size)
        self.opened = 0

    async def run(self, request: bytes, timeout: float) -> int:
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                conn = self.idle.pop()
                if conn.reader.at_eof():
                    # The server closed it while it sat idle (its keep-alive timeout: gunicorn's is
                    # 5 s). Like any HTTP client's pool, do not send on a connection known closed.
                    conn.close()
                    conn = None
            if conn is None:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                conn = Connection(reader, writer)
                self.opened += 1
            try:
                status, keep = await asyncio.wait_for(conn.exchange(request), timeout)
            except BaseException:
                conn.close()
                raise
            if keep:
                self.idle.append(conn)
            else:
                conn.close()
            return status

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


async def _one(pool: Pool, request: bytes, scheduled: float, timeout: float, out: dict) -> None:
    try:
        status = await pool.run(request, timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        out["errors"][type(exc).__name__] = out["errors"].get(type(exc).__name__, 0) + 1
        return
    done = time.perf_counter()
    out["latencies"].append(done - scheduled)
    out["last_done"] = done
    if not 200 <= status < 300:
        out["non_2xx"] += 1
        out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1


async def open_loop(spec: dict) -> dict:
    rate, seconds = float(spec["rate"]), float(spec["seconds"])
    timeout = float(spec.get("timeout", 10))
    requests = Requests(spec)
    pool = Pool(spec["host"], spec["port"], int(spec.get("connections", 256)))
    out = {"latencies": [], "errors": {}, "non_2xx": 0, "statuses": {}, "last_done": None}
    total = int(rate * seconds)
    tasks = []
    start = time.perf_counter() + 0.05
    late_sends = 0
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late_sends += 1  # the generator itself fell behind: reported, so a bad run is visible
        tasks.append(asyncio.create_task(_one(pool, requests.next(), scheduled, timeout, out)))
    await asyncio.gather(*tasks)
    pool.close()
    return _summary(out, start, seconds, total, pool.opened, mode="open", offered_rps=rate, late_sends=late_sends)


async def closed_loop(spec: dict) -> dict:
    seconds = float(spec["seconds"])
    timeout = float(spec.get("timeout", 10))
    connections = int(spec.get("connections", 32))
    requests = Requests(spec)
    pool = Pool(spec["host"], spec["port"], connections)
    out = {"latencies": [], "errors": {}, "non_2xx": 0, "statuses": {}, "last_done": None}
    start = time.perf_counter()
    stop = start + seconds
    sent = 0

    async def client() -> None:
        nonlocal sent
        while time.perf_counter() < stop:
            sent += 1
            await _one(pool, requests.next(), time.perf_counter(), timeout, out)

    await asyncio.gather(*(client() for _ in range(connections)))
    pool.close()
    return _summary(out, start, seconds, sent, pool.opened, mode="closed", offered_rps=None, late_sends=0)


def _summary(out, start, seconds, sent, opened, *, mode, offered_rps, late_sends) -> dict:
    lat = out["latencies"]
    elapsed = max((out["last_done"] or start) - start, seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ms = lambda p: round(percentile(lat, p) * 1000, 2) if lat else None  # noqa: E731
    return {
        "mode": mode,
        "offered_rps": offered_rps,
        "sent": sent,
        "completed": len(lat),
        "achieved_rps": round(len(lat) / elapsed, 1),
        "ok_rps": round((len(lat) - out["non_2xx"]) / elapsed, 1),  # 2xx answers only
        "non_2xx": out["non_2xx"],
        "statuses": out["statuses"],
        "errors": out["errors"],
        "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99),
        "max_ms": round(max(lat) * 1000, 2) if lat else None,
        "connections_opened": opened,
        "generator_late_sends": late_sends,
        "generator_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
    }


def run(spec: dict) -> dict:
    return asyncio.run(open_loop(spec) if spec.get("mode", "open") == "open" else closed_loop(spec))


def main(argv: list[str]) -> int:
    spec = json.loads(open(argv[0]).read() if argv and argv[0] != "-" else sys.stdin.read())
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(json.dumps(run(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
