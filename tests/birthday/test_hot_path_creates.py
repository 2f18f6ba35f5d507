"""POST /user from the hot path (birthday/hot_path/creates.py): a body the serializer accepts is
written as Django would write it (the same user row and occasion rows) and answered as Django
would answer it; every other body, and an email already taken, is Django's to answer. Real
PostgreSQL and Redis: the hot path writes on a connection of its own."""

import datetime
import io
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from birthday import hot_path
from birthday.hot_path.connection import open_connections
from birthday.wsgi import django_application
from observability.metrics.definitions import API_REQUESTS, DB_QUERY_DURATION, USERS_CREATED
from scheduler.models import Occasion
from users.models import User

from .test_hot_path import app, call, comparable, django_calls, environ, raw_token, warm  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

SERVER_SET = ("id", "created_at", "updated_at")


def post(token: str, document, *, content_type: str = "application/json", **extra) -> dict:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return environ("/user", token, method="POST", CONTENT_TYPE=content_type, CONTENT_LENGTH=str(len(body)),
                   **{"wsgi.input": io.BytesIO(body)}, **extra)


def person(**overrides) -> dict:
    return {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "birthday": "1990-03-04",
            "timezone": "Asia/Kathmandu", "anniversary_date": "2015-06-10", **overrides}


def stored(user_id: int) -> tuple:
    user = User.objects.filter(pk=user_id).values(
        "first_name", "last_name", "email", "birthday", "timezone", "anniversary_date", "import_key").get()
    rows = sorted(Occasion.objects.filter(user_id=user_id).values_list("kind", "local_date", "due_at"))
    return user, rows


def without_server_set(answer) -> tuple:
    """The answer without what the server sets for each create (the id, the timestamps and with
    them the body's length, checked here against the body)."""
    status, headers, body = comparable(answer)
    assert headers.pop("Content-Length") == str(len(body))
    document = json.loads(body)
    return status, headers, {key: value for key, value in document.items() if key not in SERVER_SET}


def hot_then_django(app, token, document) -> tuple:
    """The hot path's answer and rows for `document`, then Django's for the same body once the
    hot path's user is gone."""
    hot = call(app, post(token, document))
    hot_rows = stored(json.loads(hot[2])["id"])
    User.objects.filter(pk=json.loads(hot[2])["id"]).delete()
    django = call(django_application, post(token, document))
    return hot, hot_rows, django, stored(json.loads(django[2])["id"])


@pytest.mark.parametrize("document", [
    person(),
    person(anniversary_date=None, timezone="America/St_Johns"),
    {key: value for key, value in person(birthday="2000-02-29", timezone="Pacific/Kiritimati").items()
     if key != "anniversary_date"},
    person(first_name="  Zoë  ", email="Zoe.Lee@Example.COM", last_name="O'Neil-Ünal", timezone="UTC"),
], ids=["both occasions", "no anniversary", "no anniversary field, leap day", "trimmed, unicode"])
def test_a_created_user_is_djangos_row_for_row_and_byte_for_byte(app, warm, django_calls, document):
    hot, hot_rows, django, django_rows = hot_then_django(app, warm, document)
    assert hot[0] == 201
    assert django_calls.calls == 1, "Django answered a create the hot path should have"
    assert without_server_set(hot) == without_server_set(django)
    assert hot_rows == django_rows
    created = json.loads(hot[2])
    assert created["created_at"].endswith("Z") and [o["type"] for o in created["next_occasions"]]


def test_a_user_with_no_occasion_is_written_alone_as_django_writes_it(app, warm, django_calls, monkeypatch):
    # Every user has a birthday today; an occasion type that finds no date for a user (as the
    # anniversary does without one) must not break the create.
    from core import occasions

    monkeypatch.setattr(occasions, "first_occurrences", lambda user, now: [])
    hot, hot_rows, django, django_rows = hot_then_django(app, warm, person())
    assert hot[0] == 201 and django_calls.calls == 1
    assert without_server_set(hot) == without_server_set(django)
    assert hot_rows == django_rows and hot_rows[1] == []


@pytest.mark.parametrize("document", [
    person(email="not an email"),
    person(timezone="Mars/Olympus"),
    person(birthday="1899-12-31"),
    person(birthday=(datetime.date.today() + datetime.timedelta(days=3)).isoformat()),
    person(anniversary_date="1980-01-01"),
    person(first_name=""),
    person(first_name=42),
    person(last_name="x" * 101),
    {key: value for key, value in person().items() if key != "email"},
    [person()],
    b'{"first_name": NaN}',
    b"\xff\xfe",
    b"[" * 5000,
], ids=lambda document: str(document)[:40])
def test_a_body_the_serializer_refuses_is_djangos_400(app, warm, django_calls, document):
    answer = call(app, post(warm, document))
    assert answer[0] == 400
    assert django_calls.calls == 2
    assert comparable(answer) == comparable(call(django_application, post(warm, document)))
    assert not User.objects.exists()


def test_a_taken_email_is_djangos_409_and_counted_once(app, warm, django_calls, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "4/minute"}}
    assert call(app, post(warm, person()))[0] == 201
    conflict = call(app, post(warm, person(email="ANN@example.com")))
    assert conflict[0] == 409 and json.loads(conflict[2])["fields"] == {"email": ["A user with this email already exists."]}
    assert django_calls.calls == 2
    # The warm-up, the create and the conflict: the hot path gave back its count before Django took its own.
    assert call(app, post(warm, person(email="bo@example.com")))[0] == 201
    assert call(app, post(warm, person(email="cy@example.com")))[0] == 429
    assert User.objects.count() == 2


def test_the_rate_limit_answers_429_before_anything_is_written(app, warm, django_calls, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/minute"}}
    assert call(app, post(warm, person()))[0] == 201
    status, headers, body = call(app, post(warm, person(email="bo@example.com")))
    assert status == 429 and int(headers["Retry-After"]) >= 1 and json.loads(body)["error"] == "throttled"
    assert django_calls.calls == 1
    assert list(User.objects.values_list("email", flat=True)) == ["ann@example.com"]


@pytest.mark.parametrize("change", [
    {"content_type": "application/json; charset=utf-8"},
    {"content_type": "text/plain"},
    {"QUERY_STRING": "x=1"},
    {"PATH_INFO": "/user/"},
    {"HTTP_ACCEPT": "text/html"},
    {"HTTP_AUTHORIZATION": "Bearer bdy_unknown"},
    {"HTTP_HOST": "evil.example"},
], ids=lambda change: ",".join(change))
def test_what_it_does_not_answer_django_does_with_the_same_body(app, warm, django_calls, change):
    change = dict(change)
    content_type = change.pop("content_type", "application/json")
    answer = call(app, post(warm, person(), content_type=content_type, **change))
    assert django_calls.calls == 2, "the hot path answered a request that is Django's"
    # Django read the body the hot path had read first: its answer is the one it gives alone.
    User.objects.all().delete()
    django = call(django_application, post(warm, person(), content_type=content_type, **change))
    if answer[0] == 201:
        assert without_server_set(answer) == without_server_set(django)
    else:
        assert comparable(answer) == comparable(django)


def test_a_broken_connection_is_replaced_without_an_error(app, warm, django_calls):
    assert call(app, post(warm, person()))[0] == 201
    [conn] = open_connections()
    from django.db import connection

    # As if PostgreSQL had restarted: the server ends the connection under the hot path.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
    assert call(app, post(warm, person(email="bo@example.com")))[0] == 201
    assert django_calls.calls == 1
    assert User.objects.count() == 2


def test_its_creates_are_counted_like_djangos(app, warm):
    requests = API_REQUESTS.labels("POST", "user", "201")
    inserts = DB_QUERY_DURATION.labels("insert", "users_user")
    created = USERS_CREATED.labels("Asia")
    before = requests._value.get(), _count(inserts), created._value.get()
    assert call(app, post(warm, person()))[0] == 201
    assert (requests._value.get(), _count(inserts), created._value.get()) == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_after_a_database_failure_django_answers_until_the_retry_after_has_passed(app, warm, django_calls):
    """test_server.py stops a real PostgreSQL under the API for the 503 itself; here, what follows
    it: each endpoint leaves its requests to Django (its pool, its health check, its 503) for
    DATABASE_RETRY_AFTER_SECONDS, then answers again."""
    reads, creates = app.endpoints
    user = json.loads(call(app, post(warm, person()))[2])
    assert django_calls.calls == 1
    for endpoint in (reads, creates):
        endpoint.db_failed_at = time.monotonic()
    assert call(app, environ(f"/user/{user['id']}", warm))[0] == 200
    assert call(app, post(warm, person(email="bo@example.com")))[0] == 201
    assert django_calls.calls == 3
    for endpoint in (reads, creates):
        endpoint.db_failed_at = time.monotonic() - endpoint.retry_after_db
    assert call(app, environ(f"/user/{user['id']}", warm))[0] == 200
    assert call(app, post(warm, person(email="cy@example.com")))[0] == 201
    assert django_calls.calls == 3
    assert reads.db_failed_at is None and creates.db_failed_at is None


def test_it_does_what_every_receiver_of_a_new_user_does():
    """The hot path writes without the ORM, so no signal fires: creates.py does itself what each
    receiver of a new user does (its occasions, users_created_total). A receiver added later must
    be taught to it, or the hot path must step aside; this names the one that is new."""
    from django.db.models.signals import post_save, pre_save
    from users.signals import user_changed

    def receivers(signal) -> set[str]:
        live = signal._live_receivers(User)
        live = live[0] + live[1] if isinstance(live, tuple) else live
        return {f"{receiver.__module__}.{receiver.__qualname__}" for receiver in live}

    assert receivers(pre_save) == set()
    assert receivers(post_save) == {"observability.metrics.users._created"}
    assert receivers(user_changed) == {"scheduler.receivers._sync_occasions"}


def _count(histogram_child) -> float:
    return sum(bucket.get() for bucket in histogram_child._buckets)


names = st.one_of(st.text(max_size=102), st.integers(), st.none(), st.sampled_from(["Ann", " Bo ", "x" * 100]))
dates = st.one_of(st.dates(min_value=datetime.date(1890, 1, 1), max_value=datetime.date(2030, 1, 1)).map(str),
                  st.text(max_size=12), st.none(), st.integers())
zones = st.one_of(st.sampled_from(["UTC", "Asia/Kathmandu", "America/New_York", "Nowhere/Else", ""]), st.none())


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first_name=names, birthday=dates, anniversary_date=dates, zone=zones, drop=st.sets(st.sampled_from(
    ["first_name", "birthday", "anniversary_date", "timezone"])))
def test_whatever_the_body_the_answer_is_djangos(app, warm, django_calls, first_name, birthday, anniversary_date,
                                                  zone, drop):
    document = person(first_name=first_name, birthday=birthday, anniversary_date=anniversary_date, timezone=zone,
                      email="fuzz@example.com")
    document = {key: value for key, value in document.items() if key not in drop}
    before = django_calls.calls
    answer = call(app, post(warm, document))
    User.objects.all().delete()
    django = call(django_application, post(warm, document))
    User.objects.all().delete()
    if django_calls.calls == before:  # the hot path answered: it must be what Django answers
        assert answer[0] == 201
        assert without_server_set(answer) == without_server_set(django)
    else:
        assert comparable(answer) == comparable(django)
