"""Who may read the metrics: an optional client-address allowlist (METRICS_ALLOWED_CIDRS) and
optional HTTP basic auth (METRICS_BASIC_AUTH), applied alike to the API's /metrics and to the
worker and beat metrics servers. With neither set, metrics are open, as before.

The client address is the TCP peer (REMOTE_ADDR), never X-Forwarded-For, which any client can
write; behind a proxy, allow the proxy's address and rely on basic auth to tell callers apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress

from django.conf import settings

CHALLENGE = 'Basic realm="metrics", charset="UTF-8"'


def client_allowed(remote_addr: str | None) -> bool:
    networks = settings.METRICS_ALLOWED_NETWORKS
    if not networks:
        return True
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def credentials_ok(authorization: str | None) -> bool:
    expected = settings.METRICS_BASIC_AUTH_CREDENTIALS
    if expected is None:
        return True
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    user, separator, password = decoded.partition(":")
    if not separator:
        return False
    expected_user, expected_hash = expected
    # Both compared in constant time, and both always compared, so timing reveals neither.
    user_ok = hmac.compare_digest(user.encode(), expected_user.encode())
    password_ok = hmac.compare_digest(hashlib.sha256(password.encode()).hexdigest(), expected_hash)
    return user_ok and password_ok


def refusal(remote_addr: str | None, authorization: str | None) -> int | None:
    """The status to refuse a scrape with (403 address, 401 credentials), or None to serve it."""
    if not client_allowed(remote_addr):
        return 403
    if not credentials_ok(authorization):
        return 401
    return None


_REASONS = {401: "401 Unauthorized", 403: "403 Forbidden"}


def guard_wsgi(app):
    """`app` behind the same checks, for the worker and beat metrics servers."""

    def guarded(environ, start_response):
        status = refusal(environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"))
        if status is None:
            return app(environ, start_response)
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        if status == 401:
            headers.append(("WWW-Authenticate", CHALLENGE))
        start_response(_REASONS[status], headers)
        return [_REASONS[status].encode() + b"\n"]

    return guarded
