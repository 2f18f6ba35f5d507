"""Operators issue and revoke API tokens in the admin; the token is shown once."""

import hashlib
import re

import pytest
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from apiauth import services
from apiauth.models import ApiToken

pytestmark = pytest.mark.django_db


def test_token_changelist(admin_client):
    services.create_token("crm")
    response = admin_client.get("/admin/apiauth/apitoken/")
    assert response.status_code == 200
    assert b"crm" in response.content


def test_adding_a_token_shows_it_once_and_stores_its_hash(admin_client):
    response = admin_client.post("/admin/apiauth/apitoken/add/", {"name": "partner"}, follow=True)
    assert response.status_code == 200
    texts = [str(message) for message in get_messages(response.wsgi_request)] or [
        str(message) for message in response.context["messages"]
    ]
    token = next(match.group(0) for text in texts if (match := re.search(r"bdy_[A-Za-z0-9_-]{40,}", text)))
    row = ApiToken.objects.get(name="partner")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/user").status_code == 200

    change_page = admin_client.get(f"/admin/apiauth/apitoken/{row.pk}/change/")
    assert change_page.status_code == 200
    assert row.token_hash.encode() not in change_page.content
    assert token.encode() not in change_page.content


def test_duplicate_name_in_the_add_form_is_a_form_error(admin_client):
    services.create_token("partner")
    response = admin_client.post("/admin/apiauth/apitoken/add/", {"name": "partner"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    assert ApiToken.objects.filter(name="partner").count() == 1


def test_revoke_action(admin_client, django_capture_on_commit_callbacks):
    token, raw = services.create_token("partner")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/user").status_code == 200
    # The cached lookup is replaced when the revoke commits; the test's transaction never does.
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/apiauth/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
        )
    assert response.status_code == 200
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client.get("/user").status_code == 401


def test_deleting_in_the_admin_stops_the_token(admin_client, django_capture_on_commit_callbacks):
    token, raw = services.create_token("partner")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/user").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/apiauth/apitoken/{token.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert client.get("/user").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_revoking_while_the_token_cache_is_down_warns_that_the_token_still_works(admin_client, settings):
    """The revoke commits, but the cache keeps vouching for the token until its entry expires;
    the admin said only "Revoked 1 token(s).", as if it took effect at once."""
    from django.test import override_settings

    from tests.ports import free_port

    token, _ = services.create_token("partner")
    nothing_listens = {"default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/9"}}
    with override_settings(CACHES=nothing_listens):
        response = admin_client.post("/admin/apiauth/apitoken/", {"action": "revoke", "_selected_action": [token.pk]},
                                     follow=True)
    texts = [str(message) for message in response.context["messages"]]
    assert "Revoked 1 token(s)." in texts
    assert any("could not be updated" in text and f"{services.TOKEN_CACHE_SECONDS} seconds" in text for text in texts)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
