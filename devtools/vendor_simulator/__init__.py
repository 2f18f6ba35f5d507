"""A stand-in for the email vendor's API, with the vendor's bad habits on demand.

`POST /send-email` behaves as the vendor's contract says; configurable shares of requests get
a 5xx, a 429 with `retryAfter`, or no answer at all (half of those after the message was
accepted, the case that makes idempotency matter). An `Idempotency-Key` seen before with a
successful answer gets that same answer back without a second acceptance.

Control endpoints (no faults, no latency): `GET /_simulator/accepted`, `GET /_simulator/stats`,
`GET|POST /_simulator/config`, `POST /_simulator/reset`.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import json
import random
import re
import socket
import sys
import threading
import uuid
from collections import Counter
from typing import NamedTuple

MAX_BODY_BYTES = 1024 * 1024
MAX_MESSAGE_CHARS = 100_000
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
IDLE_CONNECTION_SECONDS = 60

_BAD_GATEWAY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


class ConfigError(ValueError):
    pass


@dataclasses.dataclass
class SimulatorConfig:
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    timeout_rate: float = 0.0
    latency_ms: float = 0.0
    hang_seconds: float = 30.0
    retry_after: float = 1.0
    # Share of hangs that happen after the message was accepted.
    hang_after_accept_ratio: float = 0.5

    def updated(self, changes: dict) -> SimulatorConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values = dataclasses.asdict(self)
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number")
            values[name] = float(value)
        new = SimulatorConfig(**values)
        new.validate()
        return new

    def validate(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "timeout_rate", "hang_after_accept_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1")
        if self.error_rate + self.rate_limit_rate + self.timeout_rate > 1.0 + 1e-9:
            raise ConfigError("error_rate + rate_limit_rate + timeout_rate must not exceed 1")
        for name in ("latency_ms", "hang_seconds", "retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")


class Answer(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    hang_seconds: float | None = None  # wait this long, then close without answering
    extra_headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, payload) -> Answer:
    return Answer(status, json.dumps(payload).encode())


def _invalid(message: str) -> Answer:
    return _json(400, {"error": "invalid_request", "message": message})


class SimulatorState:
    """Everything the simulator remembers; thread-safe. Separate from HTTP so it can be
    reasoned about (and seeded) on its own."""

    def __init__(self, config: SimulatorConfig, *, seed: int | None = None, log_path: str | None = None):
        config.validate()
        self.config = config
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._answers: dict[str, Answer] = {}
        self._accepted: list[dict] = []
        self._outcomes: Counter[str] = Counter()
        self._duplicate_key_hits = 0
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None

    def send_email(self, body: bytes, idempotency_key: str | None) -> Answer:
        email, message, problem = _parse(body)
        if problem:
            with self._lock:
                self._outcomes["bad_request"] += 1
            return _invalid(problem)
        with self._lock:
            config = self.config
            roll, hang_roll = self._random.random(), self._random.random()
            if roll < config.error_rate:
                self._outcomes["server_error"] += 1
                return self._server_error()
            if roll < config.error_rate + config.rate_limit_rate:
                self._outcomes["rate_limited"] += 1
                retry_after = config.retry_after
                return Answer(
                    429,
                    json.dumps({"error": "rate_limited", "message": "Too many requests", "retryAfter": retry_after}).encode(),
                    extra_headers=(("Retry-After", str(max(0, round(retry_after)))),),
                )
            hang = roll < config.error_rate + config.rate_limit_rate + config.timeout_rate
            if hang and hang_roll >= config.hang_after_accept_ratio:
                self._outcomes["hang_before_accept"] += 1
                return Answer(0, b"", hang_seconds=config.hang_seconds)
            answer = self._answers.get(idempotency_key) if idempotency_key else None
            if answer is not None:
                self._duplicate_key_hits += 1
                self._outcomes["hang_after_accept" if hang else "replayed"] += 1
            else:
                answer = self._accept(email, message, idempotency_key)
                self._outcomes["hang_after_accept" if hang else "sent"] += 1
            return answer._replace(hang_seconds=config.hang_seconds) if hang else answer

    def _server_error(self) -> Answer:
        status = self._random.choice((500, 502, 503))
        if status == 502:
            # Real outages often come from a proxy's HTML page, not the vendor's JSON.
            return Answer(502, _BAD_GATEWAY_PAGE, content_type="text/html")
        return _json(status, {"error": "server_error", "message": "Internal error, try again"})

    def _accept(self, email: str, message: str, idempotency_key: str | None) -> Answer:
        message_id = f"msg_{uuid.uuid4().hex}"
        record = {
            "messageId": message_id,
            "idempotency_key": idempotency_key,
            "email": email,
            "message": message,
            "accepted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        self._accepted.append(record)
        if self._log is not None:
            self._log.write(json.dumps(record) + "\n")
            self._log.flush()
        answer = _json(200, {"success": True, "messageId": message_id})
        if idempotency_key:
            self._answers[idempotency_key] = answer
        return answer

    def accepted(self) -> list[dict]:
        with self._lock:
            return [dict(record) for record in self._accepted]

    def stats(self) -> dict:
        with self._lock:
            return {
                "requests": sum(self._outcomes.values()),
                "accepted": len(self._accepted),
                "duplicate_key_hits": self._duplicate_key_hits,
                "outcomes": dict(self._outcomes),
            }

    def configure(self, **changes) -> SimulatorConfig:
        with self._lock:
            self.config = self.config.updated(changes)
            return self.config

    def reset(self) -> None:
        """Forget acceptances, idempotency keys and counts; the configuration stays."""
        with self._lock:
            self._answers.clear()
            self._accepted.clear()
            self._outcomes.clear()
            self._duplicate_key_hits = 0

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None


def _parse(body: bytes) -> tuple[str, str, str]:
    """(email, message, problem); problem is "" when the body is valid."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", "", "body must be a JSON object"
    if not isinstance(payload, dict):
        return "", "", "body must be a JSON object"
    email, message = payload.get("email"), payload.get("message")
    if not isinstance(email, str) or not email:
        return "", "", "email is required"
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        return "", "", "email is not a valid address"
    if not isinstance(message, str) or not message.strip():
        return "", "", "message is required"
    if len(message) > MAX_MESSAGE_CHARS:
        return "", "", f"message is longer than {MAX_MESSAGE_CHARS} characters"
    return email, message, ""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, a response written in two segments waits for the client's delayed ACK.
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_SECONDS
    server_version = "vendor-simulator/1.0"
    server: _Server

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        if body is None:
            return
        state = self.server.state
        if path == "/send-email":
            latency = state.config.latency_ms
            if latency:
                self.server.stopping.wait(latency / 1000)
            answer = state.send_email(body, self.headers.get("Idempotency-Key"))
            if answer.hang_seconds is not None:
                self.server.stopping.wait(answer.hang_seconds)
                self.close_connection = True
                return
            self._respond(answer)
        elif path == "/_simulator/config":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ConfigError("body must be a JSON object")
                config = state.configure(**changes)
            except (ValueError, TypeError) as exc:
                self._respond(_json(400, {"error": "invalid_config", "message": str(exc)}))
                return
            self._respond(_json(200, dataclasses.asdict(config)))
        elif path == "/_simulator/reset":
            state.reset()
            self._respond(_json(200, {"reset": True}))
        else:
            self._not_found()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        state = self.server.state
        if path == "/_simulator/accepted":
            self._respond(_json(200, state.accepted()))
        elif path == "/_simulator/stats":
            self._respond(_json(200, state.stats()))
        elif path == "/_simulator/config":
            self._respond(_json(200, dataclasses.asdict(state.config)))
        elif path == "/send-email":
            self._respond(_json(405, {"error": "method_not_allowed", "message": "use POST"})._replace(
                extra_headers=(("Allow", "POST"),)))
        else:
            self._not_found()

    def _not_found(self):
        self._respond(_json(404, {"error": "not_found", "message": f"no such endpoint: {self.path}"}))

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400 (the connection then closes, since an
        unread body would corrupt the next request on it)."""
        length = self.headers.get("Content-Length")
        problem = ""
        if self.headers.get("Transfer-Encoding"):
            problem = "chunked bodies are not supported; send Content-Length"
        elif length is None:
            length = "0"
        if not problem:
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size < 0:
                problem = "invalid Content-Length"
            elif size > MAX_BODY_BYTES:
                problem = f"body larger than {MAX_BODY_BYTES} bytes"
        if problem:
            self.close_connection = True
            self._respond(_invalid(problem))
            return None
        return self.rfile.read(size) if size else b""

    def _respond(self, answer: Answer) -> None:
        reason = self.responses.get(answer.status, ("",))[0]
        lines = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in answer.extra_headers]
        if self.close_connection:
            lines.append("Connection: close")
        # One write per response: headers and body in the same segment.
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body)
        if self.server.verbose:
            self.log_request(answer.status, len(answer.body))

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address, state: SimulatorState, verbose: bool):
        self.state = state
        self.verbose = verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on an idle keep-alive connection so it can exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that hung up mid-answer is routine here (timeouts are the point).
        if isinstance(sys.exc_info()[1], OSError) and not self.verbose:
            return
        super().handle_error(request, client_address)


class VendorSimulator:
    """The simulator as an object: `start()` serves from a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        log_path: str | None = None,
        verbose: bool = False,
        **config,
    ):
        self.host = host
        self.requested_port = port
        self.verbose = verbose
        self.state = SimulatorState(SimulatorConfig().updated(config), seed=seed, log_path=log_path)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> VendorSimulator:
        self._server = _Server((self.host, self.requested_port), self.state, self.verbose)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="vendor-simulator", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def configure(self, **changes) -> SimulatorConfig:
        return self.state.configure(**changes)

    def accepted(self) -> list[dict]:
        return self.state.accepted()

    def stats(self) -> dict:
        return self.state.stats()

    def reset(self) -> None:
        self.state.reset()

    def stop(self, timeout: float = 5.0) -> None:
        server = self._server
        if server is None:
            return
        server.stopping.set()  # ends hangs and latency waits at once
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self.state.close()
        self._server = self._thread = None

    def __enter__(self) -> VendorSimulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_until_signalled(simulator: VendorSimulator, out=sys.stdout) -> None:
    """Run in the foreground until SIGTERM or SIGINT, then stop cleanly."""
    import signal

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    simulator.start()
    _say(out, f"Vendor simulator listening on {simulator.url}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _say(out, "Vendor simulator stopped")


def _say(out, line: str) -> None:
    out.write(line + "\n")
    out.flush()
