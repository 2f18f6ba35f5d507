"""/webhooks/endpoints: register, read, change, rotate, delete; and the admin pages."""

import pytest
from django.contrib.auth import get_user_model

from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def test_register_read_change_rotate_delete(api):
    created = api.post("/webhooks/endpoints", {"url": "https://crm.example.com/hook",
                                               "event_types": ["message.sent", "message.dead", "message.sent"]},
                       format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["message.dead", "message.sent"]
    endpoint_id = body["id"]
    read = api.get(f"/webhooks/endpoints/{endpoint_id}").json()
    assert "secret" not in read and read["has_previous_secret"] is False
    assert [e["id"] for e in api.get("/webhooks/endpoints").json()["results"]] == [endpoint_id]

    changed = api.patch(f"/webhooks/endpoints/{endpoint_id}", {"is_active": False}, format="json")
    assert changed.status_code == 200 and changed.json()["is_active"] is False

    rotated = api.post(f"/webhooks/endpoints/{endpoint_id}/rotate-secret", {"overlap_hours": 2}, format="json").json()
    assert rotated["secret"] != body["secret"] and rotated["has_previous_secret"] is True
    assert Endpoint.objects.get().previous_secret == body["secret"]
    assert api.post(f"/webhooks/endpoints/{endpoint_id}/rotate-secret").status_code == 200  # default overlap

    assert api.delete(f"/webhooks/endpoints/{endpoint_id}").status_code == 204
    assert api.get(f"/webhooks/endpoints/{endpoint_id}").status_code == 404
    assert api.delete(f"/webhooks/endpoints/{endpoint_id}").status_code == 404


@pytest.mark.parametrize("payload, field", [
    ({"url": "not a url"}, "url"),
    ({"url": "ftp://example.com/x"}, "url"),
    # An item's error is under the item's path, in the documented shape (a list of strings).
    ({"url": "https://example.com/x", "event_types": ["message.sent", "message.bounced"]}, "event_types[1]"),
    ({"url": "https://example.com/x", "event_types": []}, "event_types"),
    ({}, "url"),
])
def test_bad_input_is_a_400_per_field(api, payload, field):
    response = api.post("/webhooks/endpoints", payload, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]
    assert all(isinstance(m, list) and all(isinstance(s, str) for s in m) for m in response.json()["fields"].values())


def test_rotate_bad_overlap_and_unknown_ids(api):
    endpoint = api.post("/webhooks/endpoints", {"url": "https://example.com/x"}, format="json").json()
    assert api.post(f"/webhooks/endpoints/{endpoint['id']}/rotate-secret", {"overlap_hours": -1},
                    format="json").status_code == 400
    assert api.post("/webhooks/endpoints/999/rotate-secret").status_code == 404
    assert api.patch("/webhooks/endpoints/abc", {}, format="json").status_code == 404


def test_token_required(client):
    assert client.get("/webhooks/endpoints").status_code == 401


def test_admin_lists_endpoints_and_events(client):
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-123456789")
    client.force_login(admin)
    response = client.post("/admin/webhooks/endpoint/add/", {
        "url": "https://crm.example.com/hook", "description": "crm", "event_types": '["message.sent"]',
        "is_active": "on",
    })
    assert response.status_code == 302, response.content[:2000]
    endpoint = Endpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.event_types == ["message.sent"]
    assert client.get("/admin/webhooks/endpoint/").status_code == 200
    assert client.get("/admin/webhooks/event/").status_code == 200
    old = endpoint.secret
    client.post("/admin/webhooks/endpoint/", {"action": "rotate_secrets", "_selected_action": [endpoint.id]})
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
