"""Issue 11, "Admin, for an operator's day": a recipient's page leads to their messages and
shows their next occasions in both clocks; a duplicate email is refused in words; the index
tells recipients and operator accounts apart."""

import datetime

import pytest

from core import clock
from messaging.models import Message
from tests.factories import make_user, utc
from users.models import User

pytestmark = pytest.mark.django_db

NOW = utc(2026, 3, 1)


@pytest.fixture(autouse=True)
def frozen_now():
    with clock.frozen(NOW):
        yield


def test_a_recipients_page_links_to_their_messages(admin_client):
    ann = make_user(birthday=datetime.date(1990, 2, 1), timezone="Asia/Kathmandu", now=NOW)
    other = make_user(birthday=datetime.date(1990, 2, 1), now=NOW)
    for user in (ann, other):
        Message.objects.create(user=user, kind="birthday", occasion_date=datetime.date(2026, 2, 1),
                               due_at=utc(2026, 2, 1, 3, 15), status="sent", sent_at=utc(2026, 2, 1, 3, 15))
    html = admin_client.get(f"/admin/users/user/{ann.pk}/change/").content.decode()
    link = f"/admin/messaging/message/?user__id__exact={ann.pk}"
    assert link in html.replace("&amp;", "&") and "1 message(s)" in html

    listed = admin_client.get(link)
    assert listed.status_code == 200
    assert [m.user_id for m in listed.context["cl"].result_list] == [ann.pk]


def test_a_recipients_page_shows_the_next_occasions_in_utc_and_local_time(admin_client):
    ann = make_user(birthday=datetime.date(1990, 3, 4), timezone="Asia/Kathmandu",
                    anniversary_date=datetime.date(2015, 6, 10), now=NOW)
    html = admin_client.get(f"/admin/users/user/{ann.pk}/change/").content.decode()
    assert "2026-03-04 03:15:00 UTC" in html and "2026-03-04 09:00:00 Asia/Kathmandu (UTC+05:45)" in html
    assert "2026-06-10 03:15:00 UTC" in html and "2026-06-10 09:00:00 Asia/Kathmandu (UTC+05:45)" in html


def test_a_duplicate_email_in_the_add_form_is_refused_in_words(admin_client):
    make_user(email="ann@example.com")
    response = admin_client.post("/admin/users/user/add/", {
        "first_name": "Ann", "last_name": "Again", "email": "ANN@example.com", "birthday": "1990-03-04",
        "timezone": "Europe/Paris", "anniversary_date": "",
        "occasions-TOTAL_FORMS": "0", "occasions-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["email"]
    assert errors["email"] == ["A recipient with this email already exists (emails are compared ignoring case)."]
    assert "users_user_email_ci_unique" not in response.content.decode()
    assert User.objects.count() == 1


def test_changing_a_recipient_keeps_their_own_email(admin_client):
    ann = make_user(email="ann@example.com", birthday=datetime.date(1990, 3, 4), timezone="Europe/Paris", now=NOW)
    response = admin_client.post(f"/admin/users/user/{ann.pk}/change/", {
        "first_name": "Annie", "last_name": ann.last_name, "email": "Ann@Example.com", "birthday": "1990-03-04",
        "timezone": "Europe/Paris", "anniversary_date": "",
        "occasions-TOTAL_FORMS": "0", "occasions-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert User.objects.get().first_name == "Annie"


def test_the_index_names_recipients_and_operator_accounts_apart(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "Recipients (people who get messages)" in html
    assert "Operator accounts (admin logins)" in html
    assert ">Users<" not in html
    assert "Add recipient" in admin_client.get("/admin/users/user/add/").content.decode()


def test_an_email_taken_between_the_forms_check_and_the_save_is_refused_not_a_500(admin_client, monkeypatch):
    # Two operators adding the same email at once: the form's check passes for both and the
    # database's unique index refuses the second save. The operator sees why; nothing is saved.
    from users import selectors

    make_user(email="ann@example.com")
    monkeypatch.setattr(selectors, "email_taken", lambda *args, **kwargs: False)
    # The model's constraint check in the form, too: only the database's index is left to refuse it.
    monkeypatch.setattr(User, "validate_constraints", lambda instance, exclude=None: None)
    response = admin_client.post("/admin/users/user/add/", {
        "first_name": "Ann", "last_name": "Again", "email": "ann@example.com", "birthday": "1990-03-04",
        "timezone": "Europe/Paris", "anniversary_date": "",
        "occasions-TOTAL_FORMS": "0", "occasions-INITIAL_FORMS": "0",
    }, follow=True)
    assert response.status_code == 200
    assert not (response.context and "adminform" in response.context and response.context["adminform"].form.errors), \
        response.context["adminform"].form.errors
    assert "A recipient with this email already exists" in response.content.decode()
    assert User.objects.count() == 1
