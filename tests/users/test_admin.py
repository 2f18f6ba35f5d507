"""The operators' admin for recipients: search, filters, occasions, and edits that reschedule."""

import datetime

import pytest

from core import clock
from scheduler.models import Occasion
from users import services
from users.models import User

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(NOW):
        yield


@pytest.fixture
def people():
    def make(first, last, email, birthday, zone, anniversary=None):
        return services.create_user({
            "first_name": first, "last_name": last, "email": email,
            "birthday": birthday, "timezone": zone, "anniversary_date": anniversary,
        })

    return {
        "ann": make("Ann", "Lee", "ann@example.com", datetime.date(1990, 3, 4), "Asia/Kathmandu"),
        "bob": make("Bob", "Stone", "bob@corp.test", datetime.date(1985, 7, 9), "Europe/Paris"),
        "cy": make("Cy", "Leeds", "cy@example.com", datetime.date(1970, 7, 20), "Asia/Kathmandu"),
    }


def shown(response):
    assert response.status_code == 200
    return sorted(user.first_name for user in response.context["cl"].result_list)


def test_login_as_superuser_and_open_the_changelist(client, django_user_model, people):
    django_user_model.objects.create_superuser("ops", "ops@example.com", "correct horse battery")
    response = client.post(
        "/admin/login/?next=/admin/users/user/", {"username": "ops", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert shown(client.get("/admin/users/user/")) == ["Ann", "Bob", "Cy"]


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/users/user/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "query, expected",
    [("Lee", ["Ann", "Cy"]), ("stone", ["Bob"]), ("corp.test", ["Bob"]), ("nobody", [])],
)
def test_search_by_names_and_email(admin_client, people, query, expected):
    assert shown(admin_client.get("/admin/users/user/", {"q": query})) == expected


def test_filter_by_timezone(admin_client, people):
    assert shown(admin_client.get("/admin/users/user/", {"timezone": "Asia/Kathmandu"})) == ["Ann", "Cy"]


@pytest.mark.parametrize("month, expected", [("3", ["Ann"]), ("7", ["Bob", "Cy"]), ("12", [])])
def test_filter_by_birthday_month(admin_client, people, month, expected):
    assert shown(admin_client.get("/admin/users/user/", {"birthday_month": month})) == expected


def test_filters_combine_with_search(admin_client, people):
    params = {"birthday_month": "7", "timezone": "Asia/Kathmandu", "q": "Lee"}
    assert shown(admin_client.get("/admin/users/user/", params)) == ["Cy"]


def test_change_page_shows_the_occasions(admin_client, people):
    response = admin_client.get(f"/admin/users/user/{people['ann'].pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "birthday" in html and "March 4, 2026" in html


def test_adding_a_user_schedules_occasions(admin_client):
    response = admin_client.post(
        "/admin/users/user/add/",
        {
            "first_name": "Dee", "last_name": "Ng", "email": "dee@example.com",
            "birthday": "1999-12-25", "timezone": "Pacific/Kiritimati", "anniversary_date": "",
            "occasions-TOTAL_FORMS": "0", "occasions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    user = User.objects.get(email="dee@example.com")
    occasion = Occasion.objects.get(user=user)
    assert occasion.due_at == datetime.datetime(2026, 12, 24, 19, 0, tzinfo=datetime.UTC)


def test_editing_the_timezone_moves_the_occasion(admin_client, people):
    ann = people["ann"]
    response = admin_client.post(
        f"/admin/users/user/{ann.pk}/change/",
        {
            "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
            "birthday": "1990-03-04", "timezone": "Europe/London", "anniversary_date": "",
            "occasions-TOTAL_FORMS": "1", "occasions-INITIAL_FORMS": "1",
            "occasions-0-id": str(Occasion.objects.get(user=ann).pk), "occasions-0-user": str(ann.pk),
        },
    )
    assert response.status_code == 302, response.content[:3000]
    assert Occasion.objects.get(user=ann).due_at == datetime.datetime(2026, 3, 4, 9, 0, tzinfo=datetime.UTC)


def test_a_form_opened_before_another_save_is_refused_instead_of_undoing_it(admin_client, people):
    """Two tabs on one recipient: the second save compared its stale birthday with the saved one,
    saw a change, and silently put the old birthday back."""
    import re

    ann = people["ann"]
    url = f"/admin/users/user/{ann.pk}/change/"
    forms = [admin_client.get(url).content.decode() for _ in range(2)]
    versions = [re.search(r'name="loaded_version" value="([^"]+)"', form).group(1) for form in forms]
    data = {
        "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
        "birthday": "1990-03-04", "timezone": "Asia/Kathmandu", "anniversary_date": "",
        "occasions-TOTAL_FORMS": "1", "occasions-INITIAL_FORMS": "1",
        "occasions-0-id": str(Occasion.objects.get(user=ann).pk), "occasions-0-user": str(ann.pk),
    }
    first = admin_client.post(url, {**data, "birthday": "1991-02-03", "loaded_version": versions[0]})
    assert first.status_code == 302
    second = admin_client.post(url, {**data, "last_name": "Leigh", "loaded_version": versions[1]}, follow=True)
    assert any("changed since" in str(message) for message in second.context["messages"])
    ann.refresh_from_db()
    assert (ann.birthday, ann.last_name) == (datetime.date(1991, 2, 3), "Lee")


@pytest.mark.parametrize(
    "field, value",
    [("timezone", "Mars/Base"), ("birthday", "2030-01-01"), ("email", "ANN@example.com")],
)
def test_invalid_admin_input_is_a_form_error(admin_client, people, field, value):
    data = {
        "first_name": "Eve", "last_name": "Ng", "email": "eve@example.com",
        "birthday": "1990-01-01", "timezone": "UTC", "anniversary_date": "",
        "occasions-TOTAL_FORMS": "0", "occasions-INITIAL_FORMS": "0",
    }
    data[field] = value
    response = admin_client.post("/admin/users/user/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert User.objects.count() == 3


def test_deleting_in_the_admin_removes_occasions(admin_client, people):
    ann = people["ann"]
    response = admin_client.post(f"/admin/users/user/{ann.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=ann.pk).exists()
    assert not Occasion.objects.filter(user_id=ann.pk).exists()
