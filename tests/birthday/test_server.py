"""The API as its server process serves it: JSON for every error a client can cause (gunicorn's
own rejections included), 503 while PostgreSQL is down, access lines that carry the request's
ids. Each test starts gunicorn with birthday/gunicorn_config.py and talks to it over a socket."""

import datetime
import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from messaging.models import Message
from observability.metrics.definitions import NS
from tests.chaos.private_services import PrivatePostgres, make_root
from tests.conftest import ROOT, ProcessGroup, wait_until
from tests.factories import make_user, user_payload, utc
from tests.system import start_api

pytestmark = pytest.mark.integration

HEX32 = re.compile(r"[0-9a-f]{32}")


def raw_request(base: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (no client library would send these) and reads the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def assert_json_error(status_headers_body, status: int, error: str):
    code, headers, body = status_headers_body
    assert code == status, body
    assert headers["content-type"].startswith("application/json"), headers
    document = json.loads(body)
    assert document["error"] == error and document["detail"], document
    assert headers.get("x-request-id"), headers


@pytest.fixture
def server_token(transactional_db, token):
    """A token the server process can see: committed, not inside the test's transaction."""
    return token


@pytest.fixture
def api_server(processes, server_token):
    token = server_token
    base, proc = start_api(processes, {"API_THREADS": "2"})
    return base, proc, token


# --- Issue 12 item 3: errors gunicorn answers itself are JSON ---------------------------------

def test_a_5000_digit_id_is_a_json_414(api_server):
    base, _, token = api_server
    request = f"GET /user/{'9' * 5000} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    assert_json_error(raw_request(base, request.encode()), 414, "uri_too_long")


def test_a_control_character_in_the_authorization_header_is_a_json_400(api_server):
    base, _, _ = api_server
    request = b"GET /user/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \x01abc\r\n\r\n"
    assert_json_error(raw_request(base, request), 400, "bad_request")


def test_malformed_request_lines_and_oversized_headers_are_json(api_server):
    base, _, _ = api_server
    assert_json_error(raw_request(base, b"GARBAGE\r\n\r\n"), 400, "bad_request")
    headers = "".join(f"X-Filler-{n}: {'a' * 100}\r\n" for n in range(120))
    assert_json_error(raw_request(base, f"GET /user/1 HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()), 431,
                      "headers_too_large")


def test_the_server_still_serves_after_rejecting(api_server):
    base, _, token = api_server
    raw_request(base, b"GET /user/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\r\n\r\n")
    assert httpx.get(f"{base}/user/1", headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_head_answers_have_the_get_headers_and_no_body_without_a_server_warning(api_server, processes):
    """A HEAD (uptime monitors send them) gets the GET's status and headers, no body, and costs
    no warning line: Django writes the body anyway, and gunicorn dropped it with a warning each time."""
    base, proc, token = api_server
    auth = f"Authorization: Bearer {token}\r\n"
    for path, headers, status in [("/healthz", "", 200), ("/user", auth, 200), ("/user", "", 401), ("/nope", auth, 404)]:
        code, answer_headers, body = raw_request(
            base, f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode())
        assert (code, body) == (status, b""), (path, code, body)
        assert int(answer_headers["content-length"]) > 0 and answer_headers["x-request-id"]
    time.sleep(0.5)  # the server's lines reach its log
    assert "no-body response" not in processes.output(proc)


def test_an_answer_that_leaves_a_large_body_unread_says_the_connection_closes(api_server):
    """A 413 (or a 401 before the body is read) leaves the body unread; gunicorn drains at most
    64 KiB of it before the next request and otherwise drops the connection. The answer said
    `Connection: keep-alive`, so a client's next request on it failed ("Server disconnected")."""
    base, _, token = api_server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        big = client.post("/user", content=b"[" * 2_000_000, headers={"Content-Type": "application/json"})
        assert big.status_code == 413 and big.headers["connection"] == "close"
        assert client.get("/user").status_code == 200
        small = client.post("/user", content=b"{" * 10_000, headers={"Content-Type": "application/json"})
        assert small.status_code == 400 and small.headers["connection"] == "keep-alive"
        unread = httpx.post(base + "/user", content=b"{" * 10_000, headers={"Content-Type": "application/json"})
        assert unread.status_code == 401 and unread.headers["connection"] == "keep-alive"
        assert client.get("/user").status_code == 200


def test_a_retry_while_the_broker_is_down_is_accepted_and_waits_for_the_dispatcher(processes, server_token):
    """The retry commits before it publishes; the publish raised kombu's OperationalError out of
    the view, a 500 for a retry that had been saved and that the dispatcher sends later."""
    user = make_user(birthday=datetime.date(1990, 6, 15))
    dead = Message.objects.create(user=user, kind="birthday", occasion_date=datetime.date(2026, 6, 15),
                                  due_at=utc(2026, 6, 15, 9), status="dead", attempts=3, failures=3)
    base, _ = start_api(processes, {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:9/none"})
    answer = httpx.post(f"{base}/messages/{dead.id}/retry", headers={"Authorization": f"Bearer {server_token}"},
                        timeout=60)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending"
    dead.refresh_from_db()
    assert dead.status == "pending" and dead.failures == 0


def test_the_server_opens_no_control_socket(processes, tmp_path):
    """gunicorn 25.1+ listens on a control socket by default, at one path per user
    ($HOME/.gunicorn/gunicorn.ctl): every API server of that user (several per machine in tests
    and benchmarks, or beside a developer's own) would take the same path over. Nothing here uses
    it; servers are managed by their signals."""
    home = tmp_path / "home"
    home.mkdir()
    base, proc = start_api(processes, {"HOME": str(home), "XDG_RUNTIME_DIR": ""})
    assert httpx.get(base + "/healthz", timeout=10).status_code == 200
    assert not (home / ".gunicorn").exists()
    assert "control socket" not in processes.output(proc).lower()


# --- Issue 15 item 6: every access line carries request_id and trace_id -------------------------

def access_lines(processes, proc) -> list[dict]:
    lines = []
    for line in processes.output(proc).splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "gunicorn.access":
            lines.append(entry)
    return lines


def test_every_access_line_carries_the_request_id_and_trace_id(processes, server_token):
    token = server_token
    # Tracing on, exported to the console: every request has a trace.
    base, proc = start_api(processes, {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                                       "OTEL_LOGS_EXPORTER": "none"})
    auth = {"Authorization": f"Bearer {token}"}
    answers = [
        httpx.post(f"{base}/user", json=user_payload(), headers=auth),
        httpx.get(f"{base}/user/999999", headers=auth),
        httpx.get(f"{base}/user", headers={"Authorization": "Bearer bdy_wrong"}),
    ]
    assert [answer.status_code for answer in answers] == [201, 404, 401]
    _, rejected_headers, _ = raw_request(base, f"GET /user/{'1' * 5000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    sent_ids = [answer.headers["X-Request-ID"] for answer in answers] + [rejected_headers["x-request-id"]]

    def ours():
        found = [line for line in access_lines(processes, proc) if line["request_id"] in sent_ids]
        return found if len(found) == len(sent_ids) else None

    lines = wait_until(ours, timeout=30, message="the access lines of the requests sent")
    assert sorted(line["status"] for line in lines) == [201, 401, 404, 414]
    for line in lines:
        assert HEX32.fullmatch(line["trace_id"] or ""), line
    # The readiness polls start_api made: not traced on purpose (probes are excluded), but
    # each line still has its request id.
    probes = [line for line in access_lines(processes, proc) if line["path"] == "/healthz"]
    assert probes and all(HEX32.fullmatch(line["request_id"]) for line in probes)


def test_with_tracing_off_the_callers_trace_context_names_the_trace(processes, server_token):
    token = server_token
    base, proc = start_api(processes)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    answer = httpx.get(f"{base}/user/1", headers={"Authorization": f"Bearer {token}",
                                                   "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"})
    assert answer.status_code == 404
    sent_id = answer.headers["X-Request-ID"]
    [line] = wait_until(lambda: [line for line in access_lines(processes, proc) if line["request_id"] == sent_id],
                        timeout=30, message="the request's access line")
    assert line["trace_id"] == trace_id


def test_the_hot_paths_answers_have_their_access_lines_and_ids(processes, server_token):
    """After a token's first request, GET /user/<id> and POST /user are the hot path's
    (birthday/hot_path/): their answers still carry a request id, and the access line names it
    and the caller's trace."""
    token = server_token
    base, proc = start_api(processes)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    auth = {"Authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    with httpx.Client(base_url=base, headers=auth) as client:  # one connection: one worker process
        answers = [client.get("/user/999999") for _ in range(4)]
        created = [client.post("/user", json=user_payload(email=f"hot-{n}@example.com")) for n in range(2)]
    assert [answer.status_code for answer in answers] == [404] * 4
    assert all(answer.json() == {"error": "not_found", "detail": "No user with this id."} for answer in answers)
    assert [answer.status_code for answer in created] == [201, 201], [answer.text for answer in created]
    sent_ids = [answer.headers["X-Request-ID"] for answer in answers]
    assert len(set(sent_ids)) == 4
    created_ids = [answer.headers["X-Request-ID"] for answer in created]

    def ours():
        found = [line for line in access_lines(processes, proc) if line["request_id"] in sent_ids]
        return found if len(found) == len(sent_ids) else None

    lines = wait_until(ours, timeout=30, message="the access lines of the requests sent")
    assert all(line["status"] == 404 and line["trace_id"] == trace_id and line["path"] == "/user/999999"
               for line in lines), lines
    sent_ids = created_ids
    lines = wait_until(ours, timeout=30, message="the access lines of the users created")
    assert all(line["status"] == 201 and line["trace_id"] == trace_id and line["path"] == "/user"
               for line in lines), lines


# --- Issue 12 item 2: a database outage is a 503 to retry, not a 500 ----------------------------

@pytest.fixture
def private_postgres():
    postgres = PrivatePostgres(make_root("api-outage-pg-"))
    try:
        postgres.init()
        yield postgres
    finally:
        postgres.teardown()


def _manage(env, *args) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


# Default: the connection pool (a request during the outage waits DB_POOL_TIMEOUT_SECONDS for a
# connection, then answers 503). Off: Django's own persistent connections.
@pytest.mark.parametrize("pool", [{}, {"DB_POOL_MAX_SIZE": "0"}], ids=["default pool", "no pool"])
def test_while_postgres_is_down_the_api_answers_503_with_retry_after(private_postgres, tmp_path, pool):
    url = private_postgres.create_database("birthday")
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="birthday.settings", PYTHONUNBUFFERED="1",
               BIRTHDAY_VAR_DIR=str(tmp_path / "var"))
    _manage(env, "migrate", "-v", "0")
    token = _manage(env, "create_api_token", "outage").strip().splitlines()[-1]
    group = ProcessGroup(env, tmp_path)
    try:
        base, _ = start_api(group, {"API_THREADS": "4", **pool})
        auth = {"Authorization": f"Bearer {token}"}
        httpx_timeout = httpx.Timeout(60)
        created = httpx.post(f"{base}/user", json=user_payload(email="before@example.com"), headers=auth)
        assert created.status_code == 201, created.text
        user_url = f"{base}/user/{created.json()['id']}"
        assert httpx.get(user_url, headers=auth).status_code == 200

        private_postgres.stop("fast")
        during = [
            httpx.get(user_url, headers=auth, timeout=httpx_timeout),
            httpx.post(f"{base}/user", json=user_payload(email="during@example.com"), headers=auth, timeout=httpx_timeout),
            httpx.patch(user_url, json={"first_name": "Changed"}, headers=auth, timeout=httpx_timeout),
            httpx.get(f"{base}/user", headers=auth, timeout=httpx_timeout),
        ]
        for answer in during:
            assert answer.status_code == 503, (answer.request.method, answer.status_code, answer.text)
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.json()["error"] == "database_unavailable"
            assert answer.json()["detail"]
        metrics = httpx.get(f"{base}/metrics").text
        counted = {
            method: sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                        if line.startswith(f"{NS}_api_requests_total{{") and f'method="{method}"' in line
                        and 'status="503"' in line)
            for method in ("GET", "POST", "PATCH")
        }
        assert counted == {"GET": 2.0, "POST": 1.0, "PATCH": 1.0}, counted

        private_postgres.start()
        # Back at once: the first requests after the restart, whichever thread serves them,
        # reconnect instead of failing on their dead connection, each within a second.
        # The seconds each took are printed (`-s`): docs/reliability.md quotes them.
        after = []
        for _ in range(8):
            started = time.monotonic()
            code = httpx.get(user_url, headers=auth, timeout=httpx_timeout).status_code
            after.append((code, round(time.monotonic() - started, 3)))
        print(f"pool {pool or 'default'}: after the restart {after}")
        assert [(code, seconds < 1.0) for code, seconds in after] == [(200, True)] * 8
        assert httpx.patch(user_url, json={"first_name": "Changed"}, headers=auth, timeout=httpx_timeout).status_code == 200
    finally:
        group.stop_all()
