"""The benchmark's load generator against a server on this machine: open loop means requests
leave on the clock and queueing behind a slow server counts as latency."""

import http.server
import json
import threading
import time

import pytest

from bench import api_profile, loadgen


class SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hold_seconds = 0.05

    def do_GET(self):
        self.server.authorizations.append(self.headers.get("Authorization"))
        time.sleep(self.hold_seconds)
        body = b'{"ok":true}'
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    srv.daemon_threads = True
    srv.bodies = []
    srv.authorizations = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def spec(server, **extra):
    return dict({"host": "127.0.0.1", "port": server.server_address[1], "method": "GET", "path": "/", "timeout": 10}, **extra)


def test_open_loop_counts_queueing_behind_a_slow_server_as_latency(server):
    # One connection, each answer held 50 ms, 40 requests offered over one second: the server can
    # answer only 20 a second, so the last request, due at 0.975 s, cannot be answered before
    # 40 x 50 ms = 2 s. Measured from its scheduled instant its latency is at least 1 s; a
    # closed-loop client would report about 50 ms for every request.
    result = loadgen.run(spec(server, mode="open", rate=40, seconds=1, connections=1))
    assert result["sent"] == result["completed"] == 40
    assert result["max_ms"] >= 1000
    assert result["p50_ms"] < result["max_ms"]
    assert result["offered_rps"] == 40 and result["achieved_rps"] < 40


def test_closed_loop_keeps_each_connection_busy_and_reuses_it(server):
    result = loadgen.run(spec(server, mode="closed", seconds=0.5, connections=2))
    assert result["completed"] >= 2 and result["non_2xx"] == 0 and not result["errors"]
    assert result["connections_opened"] == 2


def test_bodies_are_filled_per_request_and_statuses_counted(server):
    result = loadgen.run(spec(server, mode="open", rate=20, seconds=0.5, connections=4, method="POST", path="/missing",
                              body='{{"email":"{n}@x.example","birthday":"{year}-{month}-{day}"}}'))
    assert result["completed"] == 10 and result["non_2xx"] == 10 and result["statuses"] == {"404": 10}
    emails = {body.split(b'"')[3] for body in server.bodies}
    assert len(emails) == 10


def test_api_profile_posts_unique_users_across_its_warm_up_and_run(server, capsys):
    """bench.api_profile warms up, then measures: two loadgen runs of one spec. Each counts its
    `{n}` from 1, so without a prefix of its own the run repeated the warm-up's emails and the
    API answered 409 for them."""
    api_profile.main(["--base", f"http://127.0.0.1:{server.server_address[1]}", "--mode", "post", "--rate", "40",
                      "--seconds", "0.5", "--connections", "2", "--token", "t"])
    result = json.loads(capsys.readouterr().out)
    users = [json.loads(body) for body in server.bodies]
    emails = [user["email"] for user in users]
    assert result["api_mode"] == "post" and result["completed"] == 20
    assert len(emails) > 20 and len(set(emails)) == len(emails)
    assert {user["timezone"] for user in users} <= set(api_profile.ZONES)
    assert set(server.authorizations) == {"Bearer t"}


def test_header_sets_are_taken_in_turn_and_only_2xx_answers_count_as_ok(server):
    # Two integrators' tokens over ten requests: five each. Every answer is a 404, so the server
    # answered at the offered rate but served nothing a caller asked for.
    result = loadgen.run(spec(server, mode="open", rate=20, seconds=0.5, connections=2, path="/missing",
                              header_sets=[{"Authorization": "Bearer a"}, {"Authorization": "Bearer b"}]))
    assert sorted(server.authorizations) == ["Bearer a"] * 5 + ["Bearer b"] * 5
    assert result["achieved_rps"] > 0 and result["ok_rps"] == 0


class IdleClosingHandler(SlowHandler):
    hold_seconds = 0.0
    timeout = 0.1  # a keep-alive connection idle this long is closed by the server


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    # One request every 250 ms on one connection, which the server closes after 100 ms idle:
    # every request after the first finds its connection closed, as a client finds gunicorn's
    # after its keep-alive timeout. Sent on it, it would fail; the pool opens a new one instead.
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), IdleClosingHandler)
    srv.daemon_threads = True
    srv.authorizations = []
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        result = loadgen.run(spec(srv, mode="open", rate=4, seconds=1.5, connections=1))
    finally:
        srv.shutdown()
        srv.server_close()
    assert result["errors"] == {} and result["completed"] == 6
    assert result["connections_opened"] == 6
