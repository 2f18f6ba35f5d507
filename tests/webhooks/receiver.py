"""A local webhook receiver for tests: records every event whose signature verifies (with the
verification code of docs/api.md's receiver example), and answers 500 or hangs when told to;
on a path ending in /drip it trickles its answer's headers out over 3 s."""

import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs/api.md"


def docs_receiver_namespace() -> dict:
    """Runs the receiver example of docs/api.md (not as __main__, so it serves nothing)."""
    text = DOCS.read_text()
    found = re.search(r"<!-- webhook-receiver-example -->\s*```python\n(.*?)```", text, re.S)
    assert found, "docs/api.md has no webhook receiver example"
    namespace: dict = {"__name__": "docs_receiver_example"}
    exec(compile(found.group(1), str(DOCS), "exec"), namespace)
    return namespace


class Receiver:
    def __init__(self, secrets: list[str] | None = None, seed: int = 5):
        self.secrets = list(secrets or [])
        self.verify = docs_receiver_namespace()["verify"]
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.mode = "ok"  # ok | hang | random
        self.fail_rate = 0.3
        self.hang_rate = 0.2
        self.received: list[dict] = []  # verified deliveries, duplicates included
        self.bad_signatures = 0
        self.requests = 0
        self.answers = {"ok": 0, "fail": 0, "hang": 0}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests += 1
                    choice = receiver._choose()
                    receiver.answers[choice] += 1
                if choice == "hang":
                    receiver.released.wait(30)  # until the test ends: the sender's timeout gives up first
                    return
                if self.path.endswith("/drip"):
                    # A 200 whose headers come one every 0.2 s for 3 s: no single read waits long.
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for line in range(15):
                        self.wfile.flush()
                        if receiver.released.wait(0.2):
                            return
                        self.wfile.write(b"X-Drip: %d\r\n" % line)
                    self.wfile.write(b"Content-Length: 0\r\n\r\n")
                    return
                if choice == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                header = self.headers.get("Birthday-Signature", "")
                verified = any(receiver.verify(header, body, secret) for secret in receiver.secrets)
                with receiver.lock:
                    if verified:
                        receiver.received.append({"headers": dict(self.headers), "event": json.loads(body)})
                    else:
                        receiver.bad_signatures += 1
                self.send_response(204 if verified else 400)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _choose(self) -> str:
        if self.mode == "hang":
            return "hang"
        if self.mode == "random":
            roll = self.rng.random()
            if roll < self.hang_rate:
                return "hang"
            if roll < self.hang_rate + self.fail_rate:
                return "fail"
        return "ok"

    def event_ids(self) -> set[str]:
        with self.lock:
            return {r["event"]["id"] for r in self.received}

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
