"""Webhook delivery decisions, as pure functions: what an answer means, when to try again, how
an event is signed. No database, broker or network here, so all of it is tested without them."""

import dataclasses
import hashlib
import hmac
import ipaddress
import random

import httpx

SIGNATURE_HEADER = "Birthday-Signature"
SIGNATURE_SCHEME = "v1"


@dataclasses.dataclass(frozen=True)
class Verdict:
    status: str  # "delivered" | "pending" (try again) | "dead"
    delay_seconds: float | None = None  # when pending: wait before the next attempt


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The longest wait after the `attempt`-th failed attempt: base * 2^(attempt-1), capped."""
    return min(cap, base * 2 ** max(0, attempt - 1))


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with equal jitter: uniform in [ceiling/2, ceiling], so retries
    of many events spread out but never come back sooner than half the ceiling."""
    ceiling = backoff_ceiling(attempt, base=base, cap=cap)
    return (rng or random).uniform(ceiling / 2, ceiling)


def is_success(http_status: int | None) -> bool:
    return http_status is not None and 200 <= http_status < 300


def decide(
    *, http_status: int | None, attempt: int, max_attempts: int, base: float, cap: float,
    rng: random.Random | None = None,
) -> Verdict:
    """After attempt number `attempt` (1-based) answered `http_status` (None: no answer, a timeout
    or a connection error): delivered on any 2xx; otherwise again later, until `max_attempts`."""
    if is_success(http_status):
        return Verdict("delivered")
    if attempt >= max_attempts:
        return Verdict("dead")
    return Verdict("pending", backoff_delay(attempt, base=base, cap=cap, rng=rng))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of `timestamp.body` under `secret`, in hex."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex>[,v1=<hex>]`: one v1 per active secret, newest first."""
    return ",".join([f"t={timestamp}", *(f"{SIGNATURE_SCHEME}={signature(s, timestamp, body)}" for s in secrets)])


# --- where events may go --------------------------------------------------------------------------
# An integrator names the URL; without a rule the service would POST to whatever it can reach
# itself (loopback, the cluster's private network, a cloud metadata address) on their behalf.


def is_public_address(address: str) -> bool:
    """Whether an IP address is on the public internet: not loopback, private, link-local,
    shared (100.64/10), reserved, multicast or unspecified, IPv4 inside IPv6 included."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of it
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # its own range is reserved: only the IPv4 address means anything
    # A 6to4, NAT64, IPv4-compatible or Teredo address reaches the IPv4 address inside it (a
    # relay or a translator unwraps it), so that address must be public too.
    embedded = _embedded_ipv4(ip) if ip.version == 6 else []
    return ip.is_global and not ip.is_multicast and all(is_public_address(str(inner)) for inner in embedded)


NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix (RFC 6052)
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (RFC 4291)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client)
    if ip in NAT64_PREFIX or ip in IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def port_refusal(url: str) -> str | None:
    """Why no connection can be made to the URL's port (0 or past 65535), or None."""
    try:
        port = httpx.URL(url).port
    except httpx.InvalidURL:
        return None  # not a URL: the URL validator says so
    if port is not None and not 1 <= port <= 65535:
        return "The port must be between 1 and 65535."
    return None


def request_host(url: str) -> str:
    """The host as httpx names it in the Host header: lowercase, a Unicode name in IDNA 2008
    A-labels (faß.de is xn--fa-hia.de; Python's own IDNA 2003 codec would make it fass.de, another
    domain). Raises httpx.InvalidURL for a name IDNA 2008 refuses."""
    return httpx.URL(url).raw_host.decode("ascii")


def target_refusal(url: str) -> str | None:
    """Why a webhook URL names a host that is not public, judged from the URL alone (a name
    is checked again, resolved, at each delivery), or None."""
    try:
        # The name as it will be called, so that no spelling (localhoſt, a long s, is localhost
        # to IDNA 2003) slips past the check.
        host = request_host(url).rstrip(".")
    except httpx.InvalidURL:
        return "The URL's host name is not a valid internationalised domain name (IDNA 2008)."
    if host == "localhost" or host.endswith(".localhost"):
        return "The URL must name a public host, not localhost."
    try:
        public = is_public_address(host)
    except ValueError:
        return None  # a name, not an address
    return None if public else "The URL must name a public address, not a private, loopback or reserved one."
