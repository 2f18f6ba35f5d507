"""UserSerializer input rules, without a database (no model save, no uniqueness check)."""

import datetime

import pytest

from core import clock
from users.selectors import parse_user_id
from users.serializers import UserListQuerySerializer, UserSerializer

VALID = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@example.com",
    "birthday": "1990-03-04",
    "timezone": "Pacific/Kiritimati",
}


def validate(**overrides):
    serializer = UserSerializer(data={**VALID, **overrides})
    serializer.is_valid()
    return serializer


def test_valid_input_gives_dates_and_trimmed_strings():
    serializer = validate(first_name="  Ann ", anniversary_date="2015-06-10")
    assert serializer.errors == {}
    data = serializer.validated_data
    assert data["first_name"] == "Ann"
    assert data["birthday"] == datetime.date(1990, 3, 4)
    assert data["anniversary_date"] == datetime.date(2015, 6, 10)


def test_29_february_in_a_leap_year_is_a_real_date():
    assert validate(birthday="2000-02-29").errors == {}
    assert "birthday" in validate(birthday="1900-02-29").errors


def test_1900_01_01_is_the_earliest_date():
    assert validate(birthday="1900-01-01").errors == {}
    assert validate(birthday="1899-12-31").errors["birthday"] == ["Date must be on or after 1900-01-01."]


@pytest.mark.parametrize(
    "zone, now, date, accepted",
    [
        # 10:00 UTC on 4 March is 5 March in Kiritimati (+14) but still 4 March in London.
        ("Pacific/Kiritimati", datetime.datetime(2026, 3, 4, 10, tzinfo=datetime.UTC), "2026-03-05", True),
        ("Europe/London", datetime.datetime(2026, 3, 4, 10, tzinfo=datetime.UTC), "2026-03-05", False),
        ("Europe/London", datetime.datetime(2026, 3, 4, 10, tzinfo=datetime.UTC), "2026-03-04", True),
        # At -12:00, 4 March begins at 12:00 UTC.
        ("Etc/GMT+12", datetime.datetime(2026, 3, 4, 11, 30, tzinfo=datetime.UTC), "2026-03-04", False),
        ("Etc/GMT+12", datetime.datetime(2026, 3, 4, 12, 30, tzinfo=datetime.UTC), "2026-03-04", True),
    ],
)
def test_future_means_after_today_in_the_users_zone(zone, now, date, accepted):
    with clock.frozen(now):
        errors = validate(timezone=zone, birthday=date, anniversary_date=date).errors
    if accepted:
        assert errors == {}
    else:
        assert errors == {
            "birthday": ["Date cannot be in the future."],
            "anniversary_date": ["Date cannot be in the future."],
        }


def test_partial_update_checks_dates_against_the_current_zone():
    class Existing:
        timezone = "Europe/London"

    with clock.frozen(datetime.datetime(2026, 3, 4, 10, tzinfo=datetime.UTC)):
        serializer = UserSerializer(Existing(), data={"birthday": "2026-03-05"}, partial=True)
        assert not serializer.is_valid()
        assert serializer.errors["birthday"] == ["Date cannot be in the future."]


@pytest.mark.parametrize("value", [42, 4.2, True, ["x"], {"x": 1}])
@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "timezone", "birthday"])
def test_non_string_values_are_rejected_not_coerced(field, value):
    assert list(validate(**{field: value}).errors) == [field]


def test_anniversary_may_be_null_or_absent():
    assert validate(anniversary_date=None).errors == {}
    assert validate().validated_data.get("anniversary_date") is None


@pytest.mark.parametrize(
    "params, valid",
    [({}, True), ({"birthday_month": "1"}, True), ({"birthday_month": "12"}, True),
     ({"birthday_month": "0"}, False), ({"birthday_month": "13"}, False), ({"birthday_month": "x"}, False),
     ({"timezone": "Asia/Kathmandu"}, True), ({"timezone": "a\x00"}, False)],
)
def test_list_query(params, valid):
    assert UserListQuerySerializer(data=params).is_valid() is valid


@pytest.mark.parametrize(
    "raw, expected",
    [("1", 1), ("42", 42), ("9223372036854775807", 2**63 - 1), ("9223372036854775808", None),
     ("99999999999999999999", None), ("0", None), ("-1", None), ("1.0", None), ("abc", None),
     ("", None), ("١", None), (" 1", None)],
)
def test_parse_user_id(raw, expected):
    assert parse_user_id(raw) == expected
