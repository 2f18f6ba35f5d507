"""GET /user/<id> from the hot path (birthday/hot_path.py): the same answer as Django's, byte for
byte, or no answer at all (and then Django's). Real PostgreSQL and Redis: the hot path reads
committed rows on a connection of its own and counts in the same Redis windows as DRF."""

import datetime
import io
import json
import re
import sys

import pytest

from apiauth import services as tokens
from birthday import hot_path
from birthday.hot_path import connection as connection_module
from birthday.hot_path import reads
from birthday.wsgi import django_application
from observability.metrics.definitions import API_REQUESTS, DB_QUERY_DURATION
from scheduler.models import Occasion
from users import services

pytestmark = pytest.mark.integration


class CountingDjango:
    """Django's WSGI application, counting the requests the hot path left to it."""

    def __init__(self):
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return django_application(environ, start_response)


def environ(path: str, token: str | None = None, *, method: str = "GET", query: str = "", host: str = "testserver",
            **extra) -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token is not None:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    env.update(extra)
    return env


def call(app, env: dict) -> tuple[int, dict, bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), headers

    body = b"".join(app(env, start_response))
    return answer["status"], dict(answer["headers"]), body


def comparable(answer):
    status, headers, body = answer
    assert re.fullmatch(r"[0-9a-f]{32}", headers.pop("X-Request-ID"))
    return status, headers, body


@pytest.fixture
def raw_token(transactional_db, token):
    """A committed token: the hot path reads on a connection of its own."""
    return token


@pytest.fixture
def django_calls():
    return CountingDjango()


@pytest.fixture
def app(django_calls):
    return hot_path.Application([hot_path.UserReads(), hot_path.UserCreates()], django_calls)


@pytest.fixture
def warm(app, raw_token, django_calls):
    """The first request of a token is Django's (it caches the token and records its use)."""
    assert call(app, environ("/user/1", raw_token))[0] == 404
    assert django_calls.calls == 1
    return raw_token


def make_user(**overrides):
    data = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "birthday": datetime.date(1990, 3, 4),
            "timezone": "Asia/Kathmandu", "anniversary_date": datetime.date(2015, 6, 10), **overrides}
    return services.create_user(data)


def test_a_users_answer_is_djangos_byte_for_byte(app, warm, django_calls):
    with_both = make_user()
    without_rows = make_user(email="bo@example.com", timezone="America/St_Johns", anniversary_date=None)
    Occasion.objects.filter(user=without_rows).delete()
    for user in (with_both, without_rows):
        hot = call(app, environ(f"/user/{user.pk}", warm))
        django = call(django_application, environ(f"/user/{user.pk}", warm))
        assert hot[0] == 200
        assert comparable(hot) == comparable(django)
    assert django_calls.calls == 1  # both answered by the hot path
    document = json.loads(call(app, environ(f"/user/{with_both.pk}", warm))[2])
    assert sorted(occasion["type"] for occasion in document["next_occasions"]) == ["anniversary", "birthday"]
    assert document["next_occasions"][0]["local_time"].endswith("+05:45")


def test_an_unknown_user_is_djangos_404(app, warm, django_calls):
    hot = call(app, environ("/user/987654321", warm))
    assert hot[0] == 404
    assert comparable(hot) == comparable(call(django_application, environ("/user/987654321", warm)))
    assert django_calls.calls == 1


def test_a_callers_request_id_is_kept_and_a_bad_one_replaced(app, warm):
    given = "0af7651916cd43dd8448eb211c80319c"
    assert call(app, environ("/user/1", warm, HTTP_X_REQUEST_ID=given))[1]["X-Request-ID"] == given
    assert call(app, environ("/user/1", warm, HTTP_X_REQUEST_ID="not-a-uuid"))[1]["X-Request-ID"] != "not-a-uuid"


def test_the_rate_limit_is_counted_in_djangos_windows(app, raw_token, django_calls, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/minute"}}
    statuses = [call(app, environ("/user/1", raw_token))[0] for _ in range(4)]
    # One request by Django (the token's first), two by the hot path, then the hot path's 429.
    assert statuses == [404, 404, 404, 429]
    assert django_calls.calls == 1
    hot = call(app, environ("/user/1", raw_token))
    django = call(django_application, environ("/user/1", raw_token))
    assert hot[0] == django[0] == 429
    assert django_calls.calls == 1
    hot_status, hot_headers, hot_body = comparable(hot)
    django_status, django_headers, django_body = comparable(django)
    # The wait counts down between the two answers; everything else is the same.
    assert hot_headers.keys() == django_headers.keys() and int(hot_headers["Retry-After"]) >= 1
    seconds = re.compile(rb"\d+ seconds?")
    assert seconds.sub(b"N", hot_body) == seconds.sub(b"N", django_body)


def test_a_revoked_token_is_refused_at_once(app, warm, django_calls):
    assert call(app, environ("/user/1", warm))[0] == 404 and django_calls.calls == 1
    tokens.revoke_by_name("tests")
    status, headers, _ = call(app, environ("/user/1", warm))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert django_calls.calls == 2


@pytest.mark.parametrize("change", [
    {"query": "page=2"},
    {"method": "HEAD"},
    {"path": "/user/abc"},
    {"path": "/user/99999999999999999999"},
    {"host": "evil.example"},
    {"token": "bdy_unknown"},
    {"token": None},
    {"HTTP_AUTHORIZATION": "Basic YTpi"},
    {"HTTP_ACCEPT": "text/html"},
    {"HTTP_ACCEPT": "application/json; indent=4"},
    {"HTTP_ACCEPT": ""},  # present and empty: nothing is acceptable, DRF's 406
    {"HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_HOST": "bad host"},
], ids=lambda change: ",".join(change))
def test_what_it_does_not_answer_django_does(app, warm, django_calls, change):
    change = dict(change)
    path = change.pop("path", "/user/1")
    token = change.pop("token", warm)
    request = environ(path, token, **change)
    answer = call(app, request)
    assert django_calls.calls == 2, "the hot path answered a request that is Django's"
    assert comparable(answer) == comparable(call(django_application, environ(path, token, **change)))


def test_a_broken_connection_is_replaced_without_an_error(app, warm, django_calls):
    assert call(app, environ("/user/1", warm))[0] == 404
    [conn] = connection_module.open_connections()
    # As if PostgreSQL had restarted: the server ends the connection under the hot path.
    pid = conn.info.backend_pid
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert call(app, environ("/user/1", warm))[0] == 404
    assert django_calls.calls == 1


def test_an_error_in_the_hot_path_leaves_the_answer_to_django(app, warm, django_calls, monkeypatch):
    user = make_user()
    # A bug in its rendering; Django's path renders with the same function under its own name.
    monkeypatch.setattr(reads, "render_user", lambda user, occasions: 1 / 0)
    status, _, body = call(app, environ(f"/user/{user.pk}", warm))
    assert status == 200 and json.loads(body)["id"] == user.pk
    assert django_calls.calls == 2


def test_its_answers_are_counted_like_djangos(app, warm):
    user = make_user()
    requests = API_REQUESTS.labels("GET", "user/<str:id>", "200")
    selects = DB_QUERY_DURATION.labels("select", "users_user")
    before_requests, before_selects = requests._value.get(), _count(selects)
    assert call(app, environ(f"/user/{user.pk}", warm))[0] == 200
    assert requests._value.get() == before_requests + 1
    assert _count(selects) == before_selects + 1


def _count(histogram_child) -> float:
    return sum(bucket.get() for bucket in histogram_child._buckets)


def test_it_runs_only_where_its_answer_is_djangos(settings, monkeypatch):
    assert hot_path.build() is not None
    settings.API_HOT_PATH = False
    assert hot_path.build() is None
    settings.API_HOT_PATH = True
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert hot_path.build() is None, "with tracing on, Django's traced path answers"
