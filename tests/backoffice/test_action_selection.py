"""Every list action on every admin page takes only ids its model can have. The checkboxes hold
real ids; a hand-made POST (a script, a stale form) that names something else is told so and
changes nothing, instead of a 500 from the database or the field."""

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.urls import reverse

from messaging.models import Message
from tests.factories import make_user

pytestmark = pytest.mark.django_db

FORGED = [["abc"], ["-1", "abc"], ["99999999999999999999"], ["1.5"], [""]]


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda model: model._meta.label)
def test_a_forged_selection_is_refused_without_a_500(admin_client, admin_user, rf, model):
    request = rf.get("/")
    request.user = admin_user
    actions = list(admin.site._registry[model].get_actions(request))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for action in actions:
        for selected in FORGED:
            response = admin_client.post(url, {"action": action, helpers.ACTION_CHECKBOX_NAME: selected, "index": "0",
                                               "post": "yes"})
            assert response.status_code == 302, (action, selected, response.status_code)
            assert response["Location"].endswith(url), response["Location"]


def test_a_forged_selection_among_real_ids_acts_on_none(admin_client):
    user = make_user()
    message = Message.objects.create(user=user, kind="birthday", occasion_date="2026-12-04", due_at="2026-12-04T09:00Z",
                                     status=Message.Status.DEAD)
    url = reverse("admin:messaging_message_changelist")
    response = admin_client.post(url, {"action": "retry_selected", helpers.ACTION_CHECKBOX_NAME: [str(message.pk), "abc"],
                                       "index": "0", "post": "yes"}, follow=True)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == Message.Status.DEAD
    assert any("not ids" in str(m) for m in response.context["messages"])


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda model: model._meta.label)
@pytest.mark.parametrize("query", [
    {"q": "x"},  # a real search: the guard lets it through
    {"status__exact": "\x00"}, {"timezone": "x\x00"}, {"kind__exact": "\x00"},
    {"due_at__year": "99999"}, {"created_at__year": "0"}, {"due_at__month": "13"}, {"due_at__day": "x"},
])
def test_filter_values_no_database_can_take_are_a_400_not_a_500(admin_client, model, query):
    """PostgreSQL refuses a NUL in text (DataError), and year 99999 raised in Django's date
    lookups; both were 500s on the list pages whose filters take them."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = admin_client.get(url, query)
    if query == {"q": "x"}:
        assert response.status_code == 200
    else:
        assert response.status_code in (400, 302), (query, response.status_code)
