"""The messages API: listings paged by keyset, one message with its attempts, retry rules."""

import datetime

import pytest

from messaging.models import DeliveryAttempt, Message
from tests.factories import make_user, utc

pytestmark = pytest.mark.django_db


def make_message(user, *, status="sent", due_at=None, kind="birthday", year=2020, **fields):
    due_at = due_at or utc(year, 6, 15, 9)
    if status == "sent":
        fields.setdefault("sent_at", due_at)
    return Message.objects.create(user=user, kind=kind, occasion_date=due_at.date().replace(year=year),
                                  due_at=due_at, status=status, **fields)


def collect(api, url) -> list[dict]:
    rows, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        rows += body["results"]
        url = body["next"]
        pages += 1
        assert pages < 100
    return rows


def test_list_walks_every_message_once_in_due_order_across_pages_with_ties(api):
    user = make_user()
    same = utc(2021, 6, 15, 9)
    # Many messages share one due instant: the cursor must page through ties without repeats.
    made = [make_message(user, due_at=same, year=1901 + n, kind="birthday") for n in range(7)]
    made += [make_message(user, due_at=utc(2019, 1, 1, 9) + datetime.timedelta(days=n), year=1950 + n)
             for n in range(5)]
    rows = collect(api, "/messages?page_size=3")
    assert [r["id"] for r in rows] == [m.id for m in sorted(made, key=lambda m: (m.due_at, m.id))]
    assert rows[0]["status"] == "sent" and "delivery_attempts" not in rows[0]


def test_previous_link_walks_back(api):
    user = make_user()
    made = [make_message(user, year=1901 + n, due_at=utc(2020, 1, 1 + n, 9)) for n in range(6)]
    first = api.get("/messages?page_size=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    assert [r["id"] for r in third["results"]] == [m.id for m in made[4:6]]
    assert third["next"] is None
    back = api.get(third["previous"]).json()
    assert [r["id"] for r in back["results"]] == [m.id for m in made[2:4]]


def test_filters(api):
    user = make_user()
    sent = make_message(user, status="sent", due_at=utc(2020, 5, 1, 9), year=2020)
    dead = make_message(user, status="dead", due_at=utc(2021, 5, 1, 9), year=2021)
    anniversary = make_message(user, status="dead", kind="anniversary", due_at=utc(2022, 5, 1, 9), year=2022)
    ids = lambda url: [r["id"] for r in collect(api, url)]  # noqa: E731
    assert ids("/messages?status=dead") == [dead.id, anniversary.id]
    assert ids("/messages?status=dead&kind=birthday") == [dead.id]
    assert ids("/messages?due_after=2021-01-01T00:00:00Z") == [dead.id, anniversary.id]
    assert ids("/messages?due_before=2021-05-01T09:00:00Z") == [sent.id]
    assert ids("/messages?due_after=2021-05-01T09:00:00Z&due_before=2022-05-01T09:00:00Z") == [dead.id]


def test_bad_filters_and_cursor_are_clear_4xx(api):
    response = api.get("/messages?status=nope&due_after=yesterday")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"status", "due_after"}
    for cursor in ("garbage", "ZD0xJmk9Mg==", "!!!"):
        response = api.get(f"/messages?cursor={cursor}")
        assert response.status_code == 404, cursor
        assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("instant, found", [
    ("2026-01-05T09:00:00+16:00", True),  # PostgreSQL refuses offsets from 16 h: it was a 500
    ("2026-01-05T09:00:00-23:59:59.999999", True),
    ("0001-01-01T00:00:00+01:00", False),  # before year 1 in UTC
    ("9999-12-31T23:59:59-01:00", False),  # after year 9999 in UTC
])
def test_a_cursor_at_any_offset_python_reads_is_a_page_or_a_404(api, instant, found):
    from base64 import b64encode

    user = make_user()
    make_message(user, due_at=utc(2026, 1, 5, 9), year=2026)
    cursor = b64encode(f"d={instant}&i=1".replace("+", "%2B").encode()).decode()
    response = api.get("/messages", {"cursor": cursor})
    if found:
        assert response.status_code == 200
    else:
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_user_messages_only_that_users(api):
    ann, bob = make_user(), make_user()
    mine = make_message(ann, year=2020)
    make_message(bob, year=2020)
    assert [r["id"] for r in collect(api, f"/user/{ann.id}/messages")] == [mine.id]
    assert api.get("/user/999999/messages").status_code == 404
    assert api.get("/user/abc/messages").status_code == 404


def test_detail_has_attempts_in_order(api):
    message = make_message(make_user(), status="dead", attempts=2, failures=2)
    for number in (2, 1):
        DeliveryAttempt.objects.create(message=message, number=number, started_at=utc(2020, 6, 15, 9),
                                       duration_ms=12, outcome="server_error", http_status=500, error="boom")
    body = api.get(f"/messages/{message.id}").json()
    assert body["id"] == message.id and body["status"] == "dead"
    assert [a["number"] for a in body["delivery_attempts"]] == [1, 2]
    assert body["delivery_attempts"][0]["http_status"] == 500
    assert api.get("/messages/0").status_code == 404
    assert api.get("/messages/99999999999999999999").status_code == 404


def test_token_required(client):
    assert client.get("/messages").status_code == 401
    assert client.post("/messages/1/retry").status_code == 401


@pytest.mark.parametrize("status", ["dead", "failed"])
def test_retry_dead_or_failed_queues_it_again(api, status, monkeypatch):
    from messaging import outbox

    monkeypatch.setattr(outbox, "dispatch_ready", lambda now=None: 0)  # publishing is the dispatcher's test
    message = make_message(make_user(), status=status, failures=8, attempts=8, last_error="boom")
    response = api.post(f"/messages/{message.id}/retry")
    assert response.status_code == 202, response.content
    message.refresh_from_db()
    assert message.status == "pending" and message.failures == 0 and message.dispatch_after is not None
    assert response.json()["status"] == "pending"
    # A second retry finds it pending: not retryable again.
    assert api.post(f"/messages/{message.id}/retry").status_code == 409


@pytest.mark.parametrize("status", ["sent", "expired", "pending", "queued", "sending", "retry"])
def test_retry_refused_with_409_never_a_second_send(api, status):
    message = make_message(make_user(), status=status)
    before = Message.objects.values().get(pk=message.pk)
    response = api.post(f"/messages/{message.id}/retry")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict" and status in body["fields"]["status"][0]
    if status == "sent":
        assert "never sent twice" in body["detail"]
    assert Message.objects.values().get(pk=message.pk) == before


def test_retry_unknown_message_is_404(api):
    assert api.post("/messages/12345/retry").status_code == 404
