"""Label values with a bounded set of possible values."""

from __future__ import annotations

import ipaddress
import threading

UNMATCHED = "unmatched"
OTHER = "other"


def route(request) -> str:
    """The URL pattern that matched (`user/<str:id>`), never the raw path: one series per route,
    not one per user id."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return UNMATCHED
    return match.route or "/"


def action(method: str) -> str:
    method = (method or "").upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if method in ("POST", "PUT", "PATCH"):
        return "write"
    if method == "DELETE":
        return "delete"
    return OTHER


_KNOWN_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})


def method(value: str) -> str:
    value = (value or "").upper()
    return value if value in _KNOWN_METHODS else OTHER


class CappedNetworks:
    """Client addresses reduced to their network (/24 for IPv4, /48 for IPv6), and only the first
    `cap` distinct networks a process sees get their own value; later ones are "other". A flood
    from many networks therefore adds at most `cap` series per process."""

    def __init__(self, cap: int = 32):
        self.cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, address: str | None) -> str:
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return "unknown"
        prefix = 24 if ip.version == 4 else 48
        network = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
        with self._lock:
            if network in self._seen:
                return network
            if len(self._seen) < self.cap:
                self._seen.add(network)
                return network
        return OTHER


client_networks = CappedNetworks()
