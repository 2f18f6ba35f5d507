"""The /user contract end to end: real PostgreSQL, real token auth, real occasion sync."""

import datetime

import pytest

from messaging.models import Message
from core import clock
from scheduler.models import Occasion
from users.models import User
from tests.factories import user_payload

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen_now():
    with clock.frozen(NOW):
        yield NOW


def payload(**overrides):
    return user_payload(**{"timezone": "Asia/Kathmandu", **overrides})


def create(api, **overrides):
    response = api.post("/user", payload(**overrides), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_returns_user_with_next_occasions_in_kathmandu(api, frozen_now):
    body = create(api, anniversary_date="2015-06-10")

    user = User.objects.get(pk=body["id"])
    assert body["first_name"] == "Ann" and body["last_name"] == "Lee"
    assert body["email"] == "ann@example.com"
    assert body["birthday"] == "1990-03-04"
    assert body["timezone"] == "Asia/Kathmandu"
    assert body["anniversary_date"] == "2015-06-10"
    assert body["created_at"] and body["updated_at"]
    # Kathmandu is UTC+05:45: 09:00 local is 03:15 UTC.
    assert body["next_occasions"] == [
        {"type": "birthday", "local_date": "2026-03-04",
         "local_time": "2026-03-04T09:00:00+05:45", "utc": "2026-03-04T03:15:00Z"},
        {"type": "anniversary", "local_date": "2026-06-10",
         "local_time": "2026-06-10T09:00:00+05:45", "utc": "2026-06-10T03:15:00Z"},
    ]
    assert {o.kind for o in Occasion.objects.filter(user=user)} == {"birthday", "anniversary"}


def test_kiritimati_occasion_falls_on_the_previous_utc_date(api, frozen_now):
    body = create(api, timezone="Pacific/Kiritimati", email="kiri@example.com")
    assert body["next_occasions"] == [
        {"type": "birthday", "local_date": "2026-03-04",
         "local_time": "2026-03-04T09:00:00+14:00", "utc": "2026-03-03T19:00:00Z"},
    ]


def test_user_created_on_their_birthday_after_send_hour_is_still_owed_today(api):
    # 10:00 on 4 March in Kathmandu.
    with clock.frozen(datetime.datetime(2026, 3, 4, 4, 15, tzinfo=datetime.UTC)):
        body = create(api)
    assert body["next_occasions"][0]["local_date"] == "2026-03-04"


def test_birthday_today_in_kiritimati_is_not_in_the_future(api):
    # 2026-03-04 10:00 UTC is already 5 March in Kiritimati (+14).
    with clock.frozen(datetime.datetime(2026, 3, 4, 10, 0, tzinfo=datetime.UTC)):
        body = create(api, timezone="Pacific/Kiritimati", birthday="2000-03-05")
        assert body["birthday"] == "2000-03-05"
        response = api.post("/user", payload(email="b@example.com", birthday="2026-03-05"), format="json")
    # Still 4 March in Kathmandu.
    assert response.status_code == 400
    assert response.json()["fields"]["birthday"] == ["Date cannot be in the future."]


def test_unknown_fields_are_ignored(api, frozen_now):
    body = create(api, id=12345, created_at="2000-01-01T00:00:00Z", nickname="x")
    assert body["id"] != 12345
    assert "nickname" not in body
    assert User.objects.get(pk=body["id"]).created_at.year == NOW.year


def test_get_returns_the_user(api, frozen_now):
    created = create(api)
    response = api.get(f"/user/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_put_replaces_the_user_and_moves_the_occasion(api, frozen_now):
    created = create(api, anniversary_date="2015-06-10")
    response = api.put(
        f"/user/{created['id']}",
        payload(first_name="Anna", timezone="Pacific/Kiritimati", birthday="1990-03-05"),
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["first_name"] == "Anna"
    # PUT without anniversary_date clears it, and its occasion goes.
    assert body["anniversary_date"] is None
    assert body["next_occasions"] == [
        {"type": "birthday", "local_date": "2026-03-05",
         "local_time": "2026-03-05T09:00:00+14:00", "utc": "2026-03-04T19:00:00Z"},
    ]
    user = User.objects.get(pk=created["id"])
    assert (user.first_name, user.timezone, user.anniversary_date) == ("Anna", "Pacific/Kiritimati", None)
    assert list(Occasion.objects.filter(user=user).values_list("kind", flat=True)) == ["birthday"]


def test_put_requires_every_required_field(api, frozen_now):
    created = create(api)
    response = api.put(f"/user/{created['id']}", {"first_name": "Anna"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"last_name", "email", "birthday", "timezone"}


def test_patch_changes_only_given_fields(api, frozen_now):
    created = create(api, anniversary_date="2015-06-10")
    response = api.patch(f"/user/{created['id']}", {"timezone": "Europe/London"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["first_name"] == "Ann" and body["anniversary_date"] == "2015-06-10"
    assert body["next_occasions"][0] == {
        "type": "birthday", "local_date": "2026-03-04",
        "local_time": "2026-03-04T09:00:00+00:00", "utc": "2026-03-04T09:00:00Z",
    }


def test_patch_of_name_keeps_the_schedule(api, frozen_now):
    created = create(api)
    before = list(Occasion.objects.filter(user_id=created["id"]).values_list("kind", "local_date", "due_at"))
    response = api.patch(f"/user/{created['id']}", {"first_name": "Annie"}, format="json")
    assert response.status_code == 200
    assert response.json()["first_name"] == "Annie"
    assert list(Occasion.objects.filter(user_id=created["id"]).values_list("kind", "local_date", "due_at")) == before


def test_delete_removes_the_user_and_everything_pending(api, frozen_now):
    created = create(api)
    user = User.objects.get(pk=created["id"])
    Message.objects.create(
        user=user, kind="birthday", occasion_date=datetime.date(2026, 3, 4),
        due_at=NOW + datetime.timedelta(days=3),
    )
    response = api.delete(f"/user/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert not User.objects.filter(pk=created["id"]).exists()
    assert not Occasion.objects.filter(user_id=created["id"]).exists()
    assert not Message.objects.filter(user_id=created["id"]).exists()
    assert api.get(f"/user/{created['id']}").status_code == 404
    assert api.delete(f"/user/{created['id']}").status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
@pytest.mark.parametrize("raw_id", ["999999", "0", "abc", "-1", "1.0", "99999999999999999999", "9223372036854775808", "١"])
def test_unknown_or_malformed_id_is_a_json_404(api, frozen_now, method, raw_id):
    response = getattr(api, method)(f"/user/{raw_id}", payload(), format="json")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No user with this id."}


def test_duplicate_email_is_a_409_case_insensitively(api, frozen_now):
    create(api, email="Ann@Example.com")
    response = api.post("/user", payload(email="ann@example.COM"), format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict"
    assert body["fields"]["email"] == ["A user with this email already exists."]
    assert User.objects.count() == 1


def test_changing_email_to_a_taken_one_is_a_409(api, frozen_now):
    create(api, email="ann@example.com")
    other = create(api, email="bob@example.com")
    for method in ("put", "patch"):
        response = getattr(api, method)(f"/user/{other['id']}", payload(email="ANN@example.com"), format="json")
        assert response.status_code == 409
        assert "email" in response.json()["fields"]
    assert User.objects.get(pk=other["id"]).email == "bob@example.com"


def test_changing_own_email_case_is_allowed(api, frozen_now):
    created = create(api, email="ann@example.com")
    response = api.patch(f"/user/{created['id']}", {"email": "Ann@Example.com"}, format="json")
    assert response.status_code == 200
    assert response.json()["email"] == "Ann@Example.com"


def test_concurrent_duplicate_caught_by_the_database_is_a_409(api, frozen_now, monkeypatch):
    create(api, email="ann@example.com")
    # Simulate the race: the pre-check saw no duplicate, but another request inserted first.
    monkeypatch.setattr("users.selectors.email_taken", lambda *args, **kwargs: False)
    response = api.post("/user", payload(email="ANN@example.com"), format="json")
    assert response.status_code == 409
    assert response.json()["fields"]["email"] == ["A user with this email already exists."]
    assert User.objects.count() == 1


def make_users(api, count, **overrides):
    return [create(api, email=f"user{i}@example.com", **overrides) for i in range(count)]


def test_list_is_paginated_and_ordered_by_id(api, frozen_now):
    ids = [user["id"] for user in make_users(api, 5)]
    first = api.get("/user", {"page_size": 2}).json()
    assert first["count"] == 5
    assert [user["id"] for user in first["results"]] == ids[:2]
    assert first["previous"] is None and "page=2" in first["next"]
    third = api.get("/user", {"page_size": 2, "page": 3}).json()
    assert [user["id"] for user in third["results"]] == ids[4:]
    assert third["next"] is None
    assert first["results"][0]["next_occasions"][0]["type"] == "birthday"


def test_page_size_is_capped_at_200(api, frozen_now):
    User.objects.bulk_create(
        User(first_name="A", last_name="B", email=f"bulk{i}@example.com",
             birthday=datetime.date(1990, 1, 1), timezone="UTC")
        for i in range(205)
    )
    body = api.get("/user", {"page_size": 1000}).json()
    assert body["count"] == 205
    assert len(body["results"]) == 200


def test_page_past_the_end_is_404(api, frozen_now):
    make_users(api, 1)
    response = api.get("/user", {"page": 9})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_list_filters_by_timezone_and_birthday_month(api, frozen_now):
    kathmandu_march = create(api, email="a@example.com")
    create(api, email="b@example.com", timezone="Europe/Paris")
    kathmandu_july = create(api, email="c@example.com", birthday="1980-07-01")

    def ids(**params):
        return [user["id"] for user in api.get("/user", params).json()["results"]]

    assert ids(timezone="Asia/Kathmandu") == [kathmandu_march["id"], kathmandu_july["id"]]
    assert ids(birthday_month=7) == [kathmandu_july["id"]]
    assert ids(timezone="Asia/Kathmandu", birthday_month=3) == [kathmandu_march["id"]]
    assert ids(timezone="Nowhere/Nothing") == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"birthday_month": "0"}, "birthday_month"),
        ({"birthday_month": "13"}, "birthday_month"),
        ({"birthday_month": "march"}, "birthday_month"),
        ({"birthday_month": "1.5"}, "birthday_month"),
        ({"timezone": "UTC\x00"}, "timezone"),
    ],
)
def test_invalid_list_filter_is_400(api, params, field):
    response = api.get("/user", params)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_trailing_slash_is_not_a_user_route(api):
    assert api.get("/user/").status_code == 404


def test_method_not_allowed_is_405_json(api):
    response = api.patch("/user", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_the_duplicate_email_check_is_an_index_lookup():
    """At a million users a sequential scan here costs half a second per POST /user."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from users import selectors

    User.objects.bulk_create(
        User(first_name="a", last_name="b", email=f"scan{i}@example.com", birthday=datetime.date(1990, 1, 1),
             timezone="UTC")
        for i in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE users_user")
    with CaptureQueriesContext(connection) as captured:
        assert selectors.email_taken("SCAN42@example.com")
    assert not selectors.email_taken("nobody@example.com")
    [query] = captured.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + query["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "users_user_email_ci_unique" in plan, plan
