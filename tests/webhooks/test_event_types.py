"""An endpoint's event_types is a non-empty list of distinct known event types, whoever writes it
(API, admin, services); and a bad value stored before that rule never breaks a message outcome."""

import datetime
import logging

import pytest
from django.core.exceptions import ValidationError

from core import clock
from tests.webhooks.test_services import send_one_birthday
from webhooks import services
from webhooks.models import EVENT_TYPES, Endpoint, Event, validate_event_types

# Values an operator can type into the admin's JSON box, or a client can send.
BAD_VALUES = [5, True, 1.5, "message.sent", {"message.sent": 1}, ["message.bogus"], ["message.sent", 5],
              ["message.sent", "message.sent"], [], None]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_the_validator_refuses_anything_but_a_list_of_distinct_known_types(value):
    with pytest.raises(ValidationError) as caught:
        validate_event_types(value)
    assert all(isinstance(message, str) and message for message in caught.value.messages)


def test_the_validator_takes_any_distinct_known_types():
    validate_event_types(list(EVENT_TYPES))
    validate_event_types(["message.dead"])


@pytest.mark.django_db
@pytest.mark.parametrize("value", BAD_VALUES[:-1])  # None means "all of them" to create_endpoint
def test_services_refuse_bad_event_types_per_field(value):
    with pytest.raises(ValidationError) as caught:
        services.create_endpoint(url="https://example.com/x", event_types=value)
    assert list(caught.value.message_dict) == ["event_types"]
    endpoint = services.create_endpoint(url="https://example.com/x", event_types=["message.sent"])
    with pytest.raises(ValidationError) as caught:
        services.update_endpoint(endpoint_id=endpoint.id, data={"event_types": value})
    assert list(caught.value.message_dict) == ["event_types"]
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["message.sent"]
    assert Endpoint.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["5", "true", "1.5", '"message.sent"', '{"a": 1}', '["message.bogus"]',
                                   '["message.sent", "message.sent"]', "[]", "null",
                                   "[" * 5000])  # nested past the JSON decoder's recursion limit: was a 500
def test_the_admin_refuses_bad_event_types_with_a_field_error(admin_client, typed):
    form = {"url": "https://crm.example.com/hook", "description": "", "event_types": typed, "is_active": "on"}
    response = admin_client.post("/admin/webhooks/endpoint/add/", form)
    assert response.status_code == 200  # the form again, with its error
    assert list(response.context["adminform"].form.errors) == ["event_types"]
    assert not Endpoint.objects.exists()

    endpoint = services.create_endpoint(url="https://crm.example.com/hook", event_types=["message.dead"])
    response = admin_client.post(f"/admin/webhooks/endpoint/{endpoint.id}/change/", form)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["event_types"]
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["message.dead"]


def outcome_row() -> dict:
    return dict(id=1, user_id=2, kind="birthday", occasion_date=datetime.date(2026, 1, 1), due_at=clock.now(),
                status="sent", attempts=1, sent_at=clock.now())


@pytest.mark.django_db
# A string would match by substring and a dict by key: neither is a subscription.
@pytest.mark.parametrize("stored", [5, "message.sent", {"message.sent": 1}, ["message.sent", 5], []])
def test_a_bad_stored_value_is_skipped_with_a_warning(stored, caplog):
    good = services.create_endpoint(url="https://good.example.com/x")
    bad = services.create_endpoint(url="https://bad.example.com/x")
    # As written before the rule (the admin stored whatever JSON it was given).
    Endpoint.objects.filter(pk=bad.pk).update(event_types=stored)
    with caplog.at_level(logging.WARNING, logger="webhooks.services"):
        assert services.record_message_events(rows=[outcome_row()]) == 1
    assert list(Event.objects.values_list("endpoint_id", flat=True)) == [good.id]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"endpoint {bad.id}" in warning.getMessage()


@pytest.mark.django_db(transaction=True)
def test_a_bad_stored_value_does_not_roll_back_message_outcomes(simulator, purge_queues, settings):
    good = services.create_endpoint(url="http://127.0.0.1:9/good")
    bad = services.create_endpoint(url="http://127.0.0.1:9/bad")
    Endpoint.objects.filter(pk=bad.pk).update(event_types=5)
    message = send_one_birthday(simulator, settings)
    assert message.status == "sent"
    assert list(Event.objects.values_list("endpoint_id", "type")) == [(good.id, "message.sent")]
