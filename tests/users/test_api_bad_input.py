"""Every class of bad input gets a 4xx with the API's error shape, never a 500."""

import datetime
import json

import pytest

from core import clock
from users.models import User
from tests.factories import user_payload

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
REQUIRED = ["first_name", "last_name", "email", "birthday", "timezone"]


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(NOW):
        yield


def valid(**overrides):
    return user_payload(**{"anniversary_date": "2015-06-10", **overrides})


BAD_VALUES = [
    # unknown or malformed time zones
    ("timezone", "Mars/Olympus_Mons"),
    ("timezone", ""),
    ("timezone", "europe/paris"),
    ("timezone", "+05:30"),
    ("timezone", "../../etc/passwd"),
    # impossible or malformed dates
    ("birthday", "2023-02-30"),
    ("birthday", "2023-13-01"),
    ("birthday", "2023-00-10"),
    ("birthday", "1990/03/04"),
    ("birthday", "19900304"),
    ("birthday", "04-03-1990"),
    ("birthday", "1990-03-04T00:00:00"),
    ("birthday", ""),
    ("anniversary_date", "2021-02-29"),
    ("anniversary_date", "not a date"),
    # out of range: future, before 1900
    ("birthday", "2026-03-03"),
    ("birthday", "2999-01-01"),
    ("birthday", "1899-12-31"),
    ("birthday", "0001-01-01"),
    ("anniversary_date", "2026-03-03"),
    ("anniversary_date", "1899-12-31"),
    # malformed email
    ("email", "not-an-email"),
    ("email", "ann@"),
    ("email", "@example.com"),
    ("email", "ann@@example.com"),
    ("email", ""),
    # overlong strings
    ("first_name", "A" * 101),
    ("last_name", "L" * 101),
    ("email", "a" * 243 + "@example.com"),
    ("timezone", "A" * 65),
    # blank names
    ("first_name", ""),
    ("last_name", "   "),
    # wrong JSON types
    ("first_name", 123),
    ("first_name", 1.5),
    ("first_name", True),
    ("first_name", ["Ann"]),
    ("first_name", {"name": "Ann"}),
    ("last_name", 0),
    ("email", ["ann@example.com"]),
    ("email", 42),
    ("timezone", 5),
    ("timezone", {"name": "UTC"}),
    ("birthday", 19900304),
    ("birthday", ["1990-03-04"]),
    ("birthday", {"year": 1990}),
    ("birthday", True),
    ("anniversary_date", 20150610),
    ("anniversary_date", []),
    # NUL and lone surrogates, which PostgreSQL cannot store
    ("first_name", "An\x00n"),
    ("last_name", "\x00"),
    ("email", "ann\x00@example.com"),
    ("timezone", "UTC\x00"),
]


@pytest.mark.parametrize("field, value", BAD_VALUES, ids=[f"{f}={v!r}"[:60] for f, v in BAD_VALUES])
def test_bad_field_value_on_create_is_400_for_that_field(api, field, value):
    response = api.post("/user", valid(**{field: value}), format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == [field]
    assert all(isinstance(message, str) for message in body["fields"][field])
    assert not User.objects.exists()


@pytest.mark.parametrize("field, value", BAD_VALUES, ids=[f"{f}={v!r}"[:60] for f, v in BAD_VALUES])
def test_bad_field_value_on_patch_is_400_and_changes_nothing(api, field, value):
    created = api.post("/user", valid(), format="json").json()
    response = api.patch(f"/user/{created['id']}", {field: value}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [field]
    assert api.get(f"/user/{created['id']}").json() == created


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "timezone"])
def test_lone_surrogate_escape_is_400(api, field):
    # Valid JSON, but the decoded string cannot be encoded as UTF-8 for PostgreSQL.
    raw = json.dumps(valid()).replace(json.dumps(valid()[field]), '"a\\ud800b"')
    response = api.post("/user", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_400(api, field):
    body = valid()
    del body[field]
    response = api.post("/user", body, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["This field is required."]}


@pytest.mark.parametrize("field", REQUIRED)
def test_null_required_field_is_400(api, field):
    response = api.post("/user", valid(**{field: None}), format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["This field may not be null."]}


def test_null_and_absent_anniversary_are_accepted(api):
    with_null = api.post("/user", valid(anniversary_date=None), format="json")
    assert with_null.status_code == 201
    assert with_null.json()["anniversary_date"] is None
    body = valid(email="other@example.com")
    del body["anniversary_date"]
    absent = api.post("/user", body, format="json")
    assert absent.status_code == 201
    assert absent.json()["anniversary_date"] is None


def test_empty_object_lists_every_required_field(api):
    response = api.post("/user", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(REQUIRED)


@pytest.mark.parametrize("raw", ["[]", "[1, 2]", '"a string"', "42", "true", "null", '[{"first_name": "Ann"}]'])
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_json_that_is_not_an_object_is_400(api, raw, method):
    created = api.post("/user", valid(), format="json").json()
    url = "/user" if method == "post" else f"/user/{created['id']}"
    response = getattr(api, method)(url, raw, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "non_field_errors" in body["fields"]


@pytest.mark.parametrize("raw", ["{", "{'first_name': 'Ann'}", "first_name=Ann", '{"a": 1,}', "\xff\xfe", "NaN"])
def test_body_that_is_not_json_is_400(api, raw):
    response = api.post("/user", raw.encode("latin-1"), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"]
)
def test_wrong_content_type_is_415(api, content_type):
    response = api.post("/user", json.dumps(valid()), content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert not User.objects.exists()


def test_body_over_the_limit_is_413(api, settings):
    body = json.dumps(valid(first_name="A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)))
    response = api.post("/user", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    created = api.post("/user", valid(), format="json").json()
    response = api.put(f"/user/{created['id']}", body, content_type="application/json")
    assert response.status_code == 413


def test_several_bad_fields_are_all_reported(api):
    response = api.post(
        "/user", valid(email="nope", birthday="2023-02-30", timezone="Nowhere", first_name=7), format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"email", "birthday", "timezone", "first_name"}


@pytest.mark.parametrize(
    "raw",
    ["[" * 30000 + "]" * 30000, '{"a":' * 10000 + "1" + "}" * 10000, "1" * 60000],
    ids=["nested-arrays", "nested-objects", "huge-number"],
)
def test_pathological_json_within_the_size_limit_is_400(api, raw, settings):
    assert len(raw) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.post("/user", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] in {"malformed", "invalid"}


@pytest.mark.parametrize("params", [{"page_size": "abc"}, {"page_size": "-5"}, {"page_size": "0"}])
def test_odd_page_size_falls_back_to_the_default(api, params):
    response = api.get("/user", params)
    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize("params", [{"page": "abc"}, {"page": "0"}, {"page": "99999999999999999999"}])
def test_invalid_page_is_404(api, params):
    response = api.get("/user", params)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
