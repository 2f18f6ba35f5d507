"""The vendor simulator: the contract, idempotency, fault injection, control endpoints, load."""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path

import httpx
import pytest

from devtools.vendor_simulator import ConfigError, VendorSimulator
from messaging.vendor import VendorClient
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
BODY = {"email": "ada@example.com", "message": "Hey, Ada Lovelace it's your birthday"}


@pytest.fixture
def simulator():
    sim = VendorSimulator(seed=1).start()
    yield sim
    sim.stop()


@pytest.fixture
def http(simulator):
    with httpx.Client(base_url=simulator.url, timeout=5.0) as client:
        yield client


def post(http, body=BODY, key=None, timeout=5.0):
    headers = {"Idempotency-Key": key} if key else {}
    return http.post("/send-email", json=body, headers=headers, timeout=timeout)


def test_valid_request_is_accepted_and_recorded(simulator, http):
    response = post(http, key="k-1")
    assert response.status_code == 200
    payload = response.json()
    assert payload["success"] is True and payload["messageId"]
    [record] = simulator.accepted()
    assert record["messageId"] == payload["messageId"]
    assert (record["email"], record["message"], record["idempotency_key"]) == (BODY["email"], BODY["message"], "k-1")
    assert record["accepted_at"].endswith("+00:00")


def test_same_key_twice_is_one_acceptance_with_the_same_message_id(simulator, http):
    first = post(http, key="k-1").json()
    second = post(http, key="k-1").json()
    assert first == second
    assert len(simulator.accepted()) == 1
    assert simulator.stats()["duplicate_key_hits"] == 1


def test_different_keys_and_missing_keys_are_separate_acceptances(simulator, http):
    ids = {post(http, key="k-1").json()["messageId"], post(http, key="k-2").json()["messageId"]}
    ids |= {post(http).json()["messageId"], post(http).json()["messageId"]}
    assert len(ids) == 4 and len(simulator.accepted()) == 4


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"not json", "body must be a JSON object"),
        (b"[1, 2]", "body must be a JSON object"),
        (json.dumps({"message": "hi"}).encode(), "email is required"),
        (json.dumps({"email": "no-at-sign.example.com", "message": "hi"}).encode(), "email is not a valid address"),
        (json.dumps({"email": "ada@example.com"}).encode(), "message is required"),
        (json.dumps({"email": "ada@example.com", "message": "  "}).encode(), "message is required"),
    ],
)
def test_invalid_requests_get_400_and_nothing_is_accepted(simulator, http, content, problem):
    response = http.post("/send-email", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": problem}
    assert simulator.accepted() == []


def test_faults_follow_the_configured_rates(simulator, http):
    simulator.configure(error_rate=0.3, rate_limit_rate=0.2, retry_after=4)
    statuses = Counter()
    for n in range(600):
        response = post(http, key=f"k-{n}")
        statuses["5xx" if response.status_code >= 500 else response.status_code] += 1
        if response.status_code == 429:
            assert response.json()["retryAfter"] == 4
    assert 150 <= statuses["5xx"] <= 210  # 180 expected
    assert 90 <= statuses[429] <= 150  # 120 expected
    assert statuses[200] == len(simulator.accepted())
    assert simulator.stats()["outcomes"]["server_error"] == statuses["5xx"]


def test_same_seed_gives_the_same_fault_sequence():
    def run():
        with VendorSimulator(seed=42, error_rate=0.5) as sim, httpx.Client(base_url=sim.url) as http:
            return [post(http, key=f"k-{n}").status_code for n in range(40)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and any(status >= 500 for status in first)


def test_hang_after_accept_then_retry_returns_the_first_answer(simulator, http):
    simulator.configure(timeout_rate=1.0, hang_after_accept_ratio=1.0, hang_seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        post(http, key="k-1", timeout=0.3)
    [record] = simulator.accepted()
    simulator.configure(timeout_rate=0.0)
    retry = post(http, key="k-1")
    assert retry.status_code == 200
    assert retry.json()["messageId"] == record["messageId"]
    assert len(simulator.accepted()) == 1


def test_hang_before_accept_then_retry_is_processed_anew(simulator, http):
    simulator.configure(timeout_rate=1.0, hang_after_accept_ratio=0.0, hang_seconds=0.1)
    with pytest.raises(httpx.RemoteProtocolError):  # closed without an answer
        post(http, key="k-1")
    assert simulator.accepted() == []
    simulator.configure(timeout_rate=0.0)
    assert post(http, key="k-1").status_code == 200
    assert len(simulator.accepted()) == 1


def test_failed_attempts_do_not_pin_the_key(simulator, http):
    simulator.configure(error_rate=1.0)
    assert post(http, key="k-1").status_code >= 500
    simulator.configure(error_rate=0.0)
    assert post(http, key="k-1").status_code == 200
    assert simulator.stats()["duplicate_key_hits"] == 0


def test_about_half_the_hangs_happen_after_acceptance(simulator, http):
    simulator.configure(timeout_rate=1.0, hang_seconds=0)
    for n in range(60):
        with pytest.raises(httpx.RemoteProtocolError):
            post(http, key=f"k-{n}")
    outcomes = simulator.stats()["outcomes"]
    assert outcomes["hang_after_accept"] == len(simulator.accepted())
    assert 15 <= outcomes["hang_after_accept"] <= 45
    assert outcomes["hang_after_accept"] + outcomes["hang_before_accept"] == 60


def test_the_vendor_client_recovers_through_a_hang_with_the_same_key(simulator):
    simulator.configure(timeout_rate=1.0, hang_after_accept_ratio=1.0, hang_seconds=5)
    with VendorClient(simulator.url, connect_timeout=1.0, read_timeout=0.3) as client:
        first = client.send(BODY["email"], BODY["message"], "k-1")
        simulator.configure(timeout_rate=0.0)
        second = client.send(BODY["email"], BODY["message"], "k-1")
    assert first.outcome == "timeout"
    assert second.sent and second.vendor_message_id == simulator.accepted()[0]["messageId"]
    assert len(simulator.accepted()) == 1


def test_latency_is_added_to_sends(simulator, http):
    simulator.configure(latency_ms=150)
    started = time.monotonic()
    assert post(http).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_control_endpoints(simulator, http):
    response = http.post("/_simulator/config", json={"error_rate": 1.0, "latency_ms": 0})
    assert response.status_code == 200 and response.json()["error_rate"] == 1.0
    assert post(http).status_code in {500, 502, 503}
    assert http.get("/_simulator/stats").json()["outcomes"] == {"server_error": 1}

    http.post("/_simulator/config", json={"error_rate": 0})
    post(http, key="k-1")
    assert [r["idempotency_key"] for r in http.get("/_simulator/accepted").json()] == ["k-1"]

    assert http.post("/_simulator/reset").status_code == 200
    assert http.get("/_simulator/accepted").json() == []
    assert http.get("/_simulator/stats").json()["requests"] == 0
    # Reset forgets keys, so the same key is accepted again.
    post(http, key="k-1")
    assert len(simulator.accepted()) == 1


@pytest.mark.parametrize(
    "change", [{"error_rate": 1.5}, {"error_rate": 0.6, "timeout_rate": 0.6}, {"colour": 1}, {"latency_ms": "x"}]
)
def test_invalid_config_is_refused_and_changes_nothing(simulator, http, change):
    response = http.post("/_simulator/config", json=change)
    assert response.status_code == 400 and response.json()["error"] == "invalid_config"
    assert http.get("/_simulator/config").json()["error_rate"] == 0.0
    with pytest.raises(ConfigError):
        simulator.configure(**change)


def test_acceptances_are_appended_to_the_log_file(tmp_path):
    log = tmp_path / "accepted.jsonl"
    with VendorSimulator(log_path=str(log)) as sim, httpx.Client(base_url=sim.url) as http:
        post(http, key="k-1")
        post(http, key="k-1")
        post(http, key="k-2")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["idempotency_key"] for line in lines] == ["k-1", "k-2"]
    assert lines == sim.accepted()


def test_500_requests_from_50_threads_are_all_answered(simulator):
    with httpx.Client(base_url=simulator.url, timeout=10.0, limits=httpx.Limits(max_connections=50)) as http:
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            responses = list(pool.map(lambda n: post(http, key=f"k-{n}"), range(500)))
    assert [r.status_code for r in responses] == [200] * 500
    assert len({r.json()["messageId"] for r in responses}) == 500
    assert len(simulator.accepted()) == 500


def test_200_concurrent_connections_are_served(simulator):
    simulator.configure(latency_ms=300)
    body = json.dumps(BODY)

    def one_connection(_):
        conn = HTTPConnection("127.0.0.1", simulator.port, timeout=10)
        try:
            conn.request("POST", "/send-email", body, {"Content-Type": "application/json"})
            return conn.getresponse().status
        finally:
            conn.close()

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(one_connection, range(200)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 200
    # All held open at once, not queued behind each other (serially this would take 60 s).
    assert elapsed < 3.0


def test_stop_ends_hanging_requests_promptly(simulator):
    simulator.configure(timeout_rate=1.0, hang_seconds=60)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(lambda: httpx.post(f"{simulator.url}/send-email", json=BODY, timeout=30))
        wait_until(lambda: simulator.stats()["requests"] >= 1, timeout=10, interval=0.02, message="the request hanging")
        started = time.monotonic()
        simulator.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            pending.result(timeout=5)
    assert time.monotonic() - started < 2.0


@pytest.mark.integration  # runs the system's processes
def test_the_command_serves_and_stops_on_sigterm(tmp_path):
    log = tmp_path / "accepted.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.vendor_simulator", "--port", "0", "--log", str(log), "--seed", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="birthday.settings"),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Vendor simulator listening on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.rsplit(" ", 1)[1].strip()
        assert httpx.post(f"{url}/send-email", json=BODY, headers={"Idempotency-Key": "k-1"}).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Vendor simulator stopped" in proc.stdout.read()
    assert proc.stderr.read() == ""  # quiet: no per-request lines
    assert json.loads(log.read_text())["idempotency_key"] == "k-1"
