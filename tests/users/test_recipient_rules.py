"""Issue 11, defects 5 and 6: a recipient's time zone is a real IANA zone that means the same on
every server, and an anniversary cannot come before the birth date; through the API (400 with a
per-field error) and through the admin forms alike."""

import datetime

import pytest

from core import clock
from tests.factories import user_payload
from users.models import User

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
# `localtime` is whatever the server's /etc/localtime says; `Factory` is tzdata's "-00"
# placeholder for machines nobody configured; `posixrules` is a copy the server chose.
SERVER_DEPENDENT_ZONES = ["localtime", "Factory", "posixrules"]


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(NOW):
        yield


def admin_form(**overrides):
    return {
        "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
        "birthday": "1990-03-04", "timezone": "Europe/Paris", "anniversary_date": "",
        "occasions-TOTAL_FORMS": "0", "occasions-INITIAL_FORMS": "0",
        **overrides,
    }


@pytest.mark.parametrize("zone", SERVER_DEPENDENT_ZONES)
def test_the_api_refuses_a_zone_that_depends_on_the_server(api, zone):
    response = api.post("/user", user_payload(timezone=zone), format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["timezone"]
    assert not User.objects.exists()


@pytest.mark.parametrize("zone", ["Europe/Paris", "UTC", "Etc/GMT+12", "America/Argentina/Buenos_Aires", "US/Eastern"])
def test_the_api_still_accepts_real_zones_and_their_iana_aliases(api, zone):
    response = api.post("/user", user_payload(timezone=zone), format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("zone", SERVER_DEPENDENT_ZONES)
def test_the_admin_form_refuses_a_zone_that_depends_on_the_server(admin_client, zone):
    response = admin_client.post("/admin/users/user/add/", admin_form(timezone=zone))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["timezone"]
    assert not User.objects.exists()


def test_the_api_refuses_an_anniversary_before_the_birth_date(api):
    response = api.post("/user", user_payload(birthday="1990-03-04", anniversary_date="1990-03-03"), format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body["fields"]) == ["anniversary_date"]
    assert "birth" in body["fields"]["anniversary_date"][0]
    assert not User.objects.exists()


def test_an_anniversary_on_the_birth_date_or_later_is_fine(api):
    assert api.post("/user", user_payload(anniversary_date="1990-03-04"), format="json").status_code == 201
    assert api.post(
        "/user", user_payload(email="bo@example.com", anniversary_date="2015-06-10"), format="json"
    ).status_code == 201


def test_a_patch_is_checked_against_the_stored_birth_date(api):
    created = api.post("/user", user_payload(anniversary_date="2015-06-10"), format="json").json()
    response = api.patch(f"/user/{created['id']}", {"anniversary_date": "1980-01-01"}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["anniversary_date"]
    # Moving the birthday past the stored anniversary is refused as well, on the birthday sent.
    response = api.patch(f"/user/{created['id']}", {"birthday": "2016-01-01"}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["birthday"]
    user = User.objects.get(pk=created["id"])
    assert (user.birthday, user.anniversary_date) == (datetime.date(1990, 3, 4), datetime.date(2015, 6, 10))


def test_a_patch_of_the_zone_alone_rechecks_the_stored_dates_in_the_new_zone(api):
    """Born today in Kiritimati (UTC+14), where it is already 2 March; in Pago Pago (UTC-11) it
    is still 1 March. A PATCH of the zone alone was accepted, leaving a birthday in the future
    that a PUT of exactly the resulting data refused."""
    created = api.post("/user", user_payload(birthday="2026-03-02", timezone="Pacific/Kiritimati"), format="json")
    assert created.status_code == 201, created.content
    response = api.patch(f"/user/{created.json()['id']}", {"timezone": "Pacific/Pago_Pago"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"birthday": ["Date cannot be in the future."]}
    assert User.objects.get(pk=created.json()["id"]).timezone == "Pacific/Kiritimati"


def test_a_put_that_drops_the_anniversary_may_move_the_birthday_past_it(api):
    created = api.post("/user", user_payload(anniversary_date="2015-06-10"), format="json").json()
    response = api.put(f"/user/{created['id']}", user_payload(birthday="2016-01-01"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["anniversary_date"] is None


def test_the_admin_form_refuses_an_anniversary_before_the_birth_date(admin_client):
    response = admin_client.post("/admin/users/user/add/", admin_form(anniversary_date="1989-12-31"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["anniversary_date"] and "birth" in errors["anniversary_date"][0]
    assert not User.objects.exists()
