"""Webhook URLs may only reach public hosts: at registration (API and admin) and, resolved, at
each call, connecting to the address that was checked."""

import socket

import pytest

from core import clock
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_services import deliver_published, make_event
from webhooks import policy, services
from webhooks.models import Event


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2001:4860:4860::8888", True),
    ("127.0.0.1", False), ("10.0.0.7", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("192.0.2.1", False), ("::1", False), ("fe80::1%eth0", False), ("fd00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    # IPv6 forms that carry an IPv4 address are judged by it: 6to4, NAT64 (64:ff9b::/96),
    # IPv4-compatible, Teredo (server and client).
    ("2002:7f00:1::", False), ("2002:a9fe:a9fe::1", False),
    ("64:ff9b::7f00:1", False), ("64:ff9b::a00:7", False), ("64:ff9b::5db8:d822", True),
    ("::127.0.0.1", False), ("::10.0.0.1", False), ("::169.254.169.254", False),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
])
def test_only_public_addresses_are_targets(address, public):
    assert policy.is_public_address(address) is public


@pytest.mark.parametrize("url, refused", [
    ("https://hooks.example.com/x", False), ("http://93.184.216.34:8080/x", False),
    ("http://127.0.0.1:9000/hook", True), ("https://[::1]/hook", True), ("http://169.254.169.254/latest", True),
    ("http://localhost:9000/hook", True), ("http://LOCALHOST./hook", True), ("http://api.localhost/hook", True),
    # A long s: IDNA 2003 (Python's codec) reads it as localhost; httpx cannot name it at all.
    ("http://localhoſt:9000/hook", True), ("http://api.localhoſt/hook", True),
    ("https://faß.de/hook", False), ("https://bücher.example/hook", False),
])
def test_a_url_naming_a_private_host_is_refused(url, refused):
    assert (policy.target_refusal(url) is not None) is refused


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://169.254.169.254/latest/meta-data", "http://localhost/x",
                                 "http://localhoſt/x"])
def test_the_api_refuses_a_private_endpoint_with_a_field_error(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = api.post("/webhooks/endpoints", {"url": url}, format="json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["url"]
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    assert api.post("/webhooks/endpoints", {"url": url}, format="json").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("port, accepted", [(0, False), (65536, False), (99999, False), (1, True), (65535, True)])
def test_a_port_no_connection_can_use_is_refused_even_where_private_hosts_are_allowed(api, port, accepted):
    response = api.post("/webhooks/endpoints", {"url": f"https://hooks.example.com:{port}/x"}, format="json")
    if accepted:
        assert response.status_code == 201
    else:
        assert response.status_code == 400 and response.json()["fields"] == {
            "url": ["The port must be between 1 and 65535."]}


@pytest.mark.django_db
def test_the_admin_refuses_an_unusable_port(admin_client):
    response = admin_client.post("/admin/webhooks/endpoint/add/", {
        "url": "https://hooks.example.com:65536/x", "description": "", "event_types": '["message.sent"]',
        "is_active": "on",
    })
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"url": ["The port must be between 1 and 65535."]}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["not a url", "https://exa mple.com/x", "ftp://example.com/x"])
def test_a_bad_url_is_reported_once(api, url):
    response = api.post("/webhooks/endpoints", {"url": url}, format="json")
    assert response.status_code == 400 and response.json()["fields"] == {"url": ["Enter a valid URL."]}


@pytest.mark.django_db
def test_the_admin_refuses_a_private_endpoint(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    response = admin_client.post("/admin/webhooks/endpoint/add/", {
        "url": "http://10.0.0.7/hook", "description": "", "event_types": '["message.sent"]', "is_active": "on",
    })
    assert response.status_code == 200  # the form again, with its error
    assert "public address" in response.content.decode()
    from webhooks.models import Endpoint

    assert not Endpoint.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_call_to_a_name_that_resolves_privately_is_refused_and_never_made(settings, purge_queues):
    """Registered while allowed, or a name that resolves privately (DNS can change after the
    registration): the call is refused at delivery, the receiver sees nothing, and the event is
    retried as after any failed connection."""
    receiver = Receiver().start()
    try:
        endpoint = services.create_endpoint(url=receiver.url.replace("127.0.0.1", "localhost"))
        receiver.secrets = [endpoint.secret]
        event = make_event(endpoint)
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        assert services.dispatch_due() == 1
        (report,) = deliver_published()
        assert report.retrying == 1 and receiver.received == []
        event.refresh_from_db()
        assert event.status == "pending" and "non-public address" in event.last_error

        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
        Event.objects.filter(pk=event.pk).update(next_attempt_at=clock.now())
        assert services.dispatch_due() == 1
        (report,) = deliver_published()
        assert report.delivered == 1 and len(receiver.received) == 1
    finally:
        receiver.stop()


def test_a_public_name_is_called_at_the_address_that_was_checked(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    answers = {"hooks.example.com": ["93.184.216.34"], "rebinds.example.com": ["93.184.216.34", "127.0.0.1"]}

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url, headers, extensions = services.pinned_target("https://hooks.example.com:8443/in?x=1")
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert headers == {"Host": "hooks.example.com:8443"} and extensions == {"sni_hostname": "hooks.example.com"}
    with pytest.raises(services.TargetRefused):
        services.pinned_target("http://rebinds.example.com/in")


def test_an_internationalised_name_is_resolved_and_sent_as_httpx_sends_it(settings, monkeypatch):
    """IDNA 2003 (Python's codec, which getaddrinfo uses for a str) maps faß.de to fass.de, another
    domain; httpx's Host header says xn--fa-hia.de (IDNA 2008). Resolution, the address check and
    the TLS server name must be about the host the request names."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    asked = []

    def resolve(host, port, *args, **kwargs):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url, headers, extensions = services.pinned_target("https://faß.de/in")
    assert asked == ["xn--fa-hia.de"]
    assert url == "https://93.184.216.34/in"
    assert headers == {"Host": "xn--fa-hia.de"} and extensions == {"sni_hostname": "xn--fa-hia.de"}
