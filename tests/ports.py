"""Free TCP ports on 127.0.0.1 for the servers the tests start, chosen below the kernel's
ephemeral range: a port there is never handed to an outgoing connection between the moment it is
found free and the moment the server binds it (a benchmark smoke run lost its floor server's port
to its own load generator's connections that way)."""

import random
import socket

_rng = random.Random()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port_range(span: int = 1) -> int:
    """The first of `span` consecutive ports that are all free."""
    low = _ephemeral_low()
    for _ in range(200):
        base = _rng.randrange(10000, low - span)
        try:
            for offset in range(span):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {span} consecutive free ports below {low}")


def free_port() -> int:
    return free_port_range(1)
