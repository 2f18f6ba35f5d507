"""How the vendor client classifies every kind of answer, against real sockets on this machine."""

import http.server
import json
import multiprocessing
import socket
import threading
import time

import pytest

from messaging import vendor
from messaging.delivery.policy import VENDOR_FAULTS  # the outcomes that are retried
from devtools.vendor_simulator import VendorSimulator
from messaging.vendor import VendorClient

# Each path prefix is one scripted answer: (status, body bytes, content type, extra headers).
CASES = {
    "ok": (200, b'{"success": true, "messageId": "m-1"}', "application/json", {}),
    "ok-no-success": (200, b'{"messageId": "m-2"}', "application/json", {}),
    "ok-malformed": (200, b'{"success": tru', "application/json", {}),
    "ok-html": (200, b"<html>maintenance</html>", "text/html", {}),
    "bad-request": (400, b'{"error": "invalid_email", "message": "email is not valid"}', "application/json", {}),
    "unprocessable": (422, b'{"error": "unprocessable", "message": "no"}', "application/json", {}),
    "request-timeout": (408, b"", "text/plain", {}),
    "limited": (429, b'{"error": "rate_limited", "message": "slow down", "retryAfter": 7}', "application/json", {}),
    "limited-header": (429, b"", "text/plain", {"Retry-After": "12"}),
    "limited-bare": (429, b"{}", "application/json", {}),
    "limited-huge": (429, b'{"retryAfter": 999999}', "application/json", {}),
    "server-error": (500, b'{"error": "boom", "message": "internal"}', "application/json", {}),
    "unavailable-html": (503, b"<html><body>Service Unavailable</body></html>", "text/html", {}),
    "redirect": (302, b"", "text/plain", {"Location": "http://elsewhere/"}),
    # Nested past what the JSON decoder recurses into (it raises RecursionError, not ValueError).
    "ok-deep": (200, b"[" * 100_000 + b"]" * 100_000, "application/json", {}),
    # A success, padded past the most the client reads of an answer (a base URL naming a file server).
    "ok-huge": (200, b'{"success": true, "messageId": "m-3", "pad": "' + b"x" * (3 << 20) + b'"}', "application/json", {}),
}


class ScriptedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        case = self.path.strip("/").split("/")[0]
        self.server.seen.append({"case": case, "path": self.path, "headers": dict(self.headers), "body": body,
                               "client_port": self.client_address[1]})
        if case == "hang":
            self.server.release.wait(5)
            self.close_connection = True
            return
        if case == "drop":  # read the request, then hang up without a word
            self.close_connection = True
            return
        status, payload, content_type, headers = CASES[case]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHandler)
    server.daemon_threads = True
    server.seen = []
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def client_for(server, case, read_timeout=2.0):
    return VendorClient(f"http://127.0.0.1:{server.server_address[1]}/{case}", connect_timeout=1.0, read_timeout=read_timeout)


def send(server, case, **kwargs):
    with client_for(server, case, **kwargs) as client:
        return client.send("ada@example.com", "Hey, Ada Lovelace it's your birthday", "key-1")


def test_success_carries_message_id_and_no_error(scripted):
    result = send(scripted, "ok")
    assert (result.outcome, result.http_status, result.vendor_message_id) == ("sent", 200, "m-1")
    assert result.error == "" and result.error_type is None and result.retry_after is None
    assert result.sent and result.outcome not in VENDOR_FAULTS
    assert result.duration_seconds > 0


def test_request_has_json_body_and_idempotency_key(scripted):
    send(scripted, "ok")
    [request] = scripted.seen
    assert request["path"] == "/ok/send-email"
    assert request["headers"]["Idempotency-Key"] == "key-1"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"email": "ada@example.com", "message": "Hey, Ada Lovelace it's your birthday"}


@pytest.mark.parametrize("case", ["ok-no-success", "ok-malformed", "ok-html"])
def test_200_without_success_true_is_an_invalid_response_to_retry(scripted, case):
    result = send(scripted, case)
    assert (result.outcome, result.error_type, result.http_status) == ("server_error", "invalid_response", 200)
    assert result.outcome in VENDOR_FAULTS and not result.sent
    assert result.vendor_message_id == ""


@pytest.mark.parametrize(
    "case,status,error_type",
    [("bad-request", 400, "bad_request"), ("unprocessable", 422, "client_error")],
)
def test_client_errors_are_permanent_rejections(scripted, case, status, error_type):
    result = send(scripted, case)
    assert (result.outcome, result.http_status, result.error_type) == ("rejected", status, error_type)
    assert result.outcome not in VENDOR_FAULTS


def test_rejection_keeps_the_vendors_explanation(scripted):
    assert send(scripted, "bad-request").error == "HTTP 400: invalid_email: email is not valid"


def test_408_is_a_retryable_timeout(scripted):
    result = send(scripted, "request-timeout")
    assert (result.outcome, result.http_status, result.error_type) == ("timeout", 408, "timeout")
    assert result.outcome in VENDOR_FAULTS


@pytest.mark.parametrize(
    "case,retry_after",
    [("limited", 7.0), ("limited-header", 12.0), ("limited-bare", 1.0), ("limited-huge", 3600.0)],
)
def test_429_is_rate_limited_with_bounded_retry_after(scripted, case, retry_after):
    result = send(scripted, case)
    assert (result.outcome, result.http_status, result.error_type) == ("rate_limited", 429, "rate_limited")
    assert result.retry_after == retry_after
    # Rate limiting is waited out, not charged to the retry budget.
    assert result.outcome not in VENDOR_FAULTS


@pytest.mark.parametrize("case,status", [("server-error", 500), ("unavailable-html", 503)])
def test_5xx_is_a_retryable_server_error(scripted, case, status):
    result = send(scripted, case)
    assert (result.outcome, result.http_status, result.error_type) == ("server_error", status, "server_error")
    assert result.outcome in VENDOR_FAULTS


def test_html_error_page_is_summarised_not_dumped(scripted):
    result = send(scripted, "unavailable-html")
    assert result.error.startswith("HTTP 503: server error (<html>")
    assert len(result.error) <= vendor.MAX_ERROR_CHARS


def test_an_answer_nested_too_deep_to_decode_is_an_invalid_response_to_retry(scripted):
    result = send(scripted, "ok-deep")
    assert (result.outcome, result.error_type, result.http_status) == ("server_error", "invalid_response", 200)


def test_an_answer_larger_than_the_client_reads_is_invalid_and_its_connection_dropped(scripted):
    assert len(CASES["ok-huge"][1]) > vendor.MAX_RESPONSE_BYTES
    with client_for(scripted, "ok-huge") as client:
        first = client.send("ada@example.com", "hi", "key-1")
        client.send("ada@example.com", "hi", "key-2")
    assert (first.outcome, first.error_type, first.http_status) == ("server_error", "invalid_response", 200)
    assert "larger than" in first.error
    # The unread rest of the body would have been taken for the next answer: a new connection.
    assert len({r["client_port"] for r in scripted.seen}) == 2


def test_redirect_is_not_followed_and_counts_as_invalid(scripted):
    result = send(scripted, "redirect")
    assert (result.outcome, result.error_type, result.http_status) == ("server_error", "invalid_response", 302)
    assert len(scripted.seen) == 1


def test_no_answer_times_out_at_the_read_timeout(scripted):
    started = time.monotonic()
    result = send(scripted, "hang", read_timeout=0.3)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.error_type, result.http_status) == ("timeout", "timeout", None)
    assert result.outcome in VENDOR_FAULTS
    assert 0.25 <= elapsed < 2.0


def test_hang_up_without_answer_is_a_connection_error(scripted):
    result = send(scripted, "drop")
    assert (result.outcome, result.error_type, result.http_status) == ("connection_error", "connection_error", None)
    assert result.outcome in VENDOR_FAULTS


def test_refused_connection_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with VendorClient(f"http://127.0.0.1:{port}", connect_timeout=1.0, read_timeout=1.0) as client:
        result = client.send("ada@example.com", "hi", "key-1")
    assert (result.outcome, result.error_type, result.http_status) == ("connection_error", "connection_error", None)
    assert "ConnectError" in result.error


def test_connections_are_reused(scripted):
    with client_for(scripted, "ok") as client:
        for n in range(5):
            assert client.send("ada@example.com", "hi", f"key-{n}").sent
    assert len(scripted.seen) == 5
    # One source port means one TCP connection carried all five requests.
    assert len({r["client_port"] for r in scripted.seen}) == 1


def test_get_client_is_one_per_process_from_settings(settings):
    settings.VENDOR_BASE_URL = "http://127.0.0.1:9/"
    vendor.reset_client()
    try:
        client = vendor.get_client()
        assert vendor.get_client() is client
        assert client.url == "http://127.0.0.1:9/send-email"
    finally:
        vendor.reset_client()


def _child_client_report(queue, parent_client_id):
    client = vendor.get_client()
    queue.put((id(client) != parent_client_id, vendor._client_pid == multiprocessing.current_process().pid))


def test_get_client_builds_a_new_client_after_fork():
    vendor.reset_client()
    try:
        parent = vendor.get_client()
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_child_client_report, args=(queue, id(parent)))
        child.start()
        fresh, owned_by_child = queue.get(timeout=10)
        child.join(10)
        assert fresh and owned_by_child
        assert vendor.get_client() is parent
    finally:
        vendor.reset_client()
