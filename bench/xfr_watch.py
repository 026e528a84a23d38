"""What the transfer benchmark edits and how it watches: the edited zone's text of version n,
and a tight UDP poll of a server's SOA serial."""

from __future__ import annotations

import socket

import dns.exception
import dns.message

from testkit.zones import versioned_zone

from .live_measure import percentile


def edit_text(origin: str, padding: int, n: int) -> str:
    """The zone at version n: version 1's text with serial n and one padding host renamed
    after n (so each edit removes one record and adds one, besides the SOA)."""
    text = versioned_zone(origin + ".", 1, padding=padding).replace(" 1 3600 600",
                                                                    f" {n} 3600 600")
    if n > 1 and padding:
        host = n % padding
        text = text.replace(f"\nhost{host} IN A", f"\nhost{host}-v{n} IN A")
    return text


def serial(port: int, origin: str, timeout: float = 0.2) -> int | None:
    """The SOA serial the server on 127.0.0.1@port answers for `origin`, None if none."""
    query = dns.message.make_query(origin, "SOA")
    query.flags = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query.to_wire(), ("127.0.0.1", port))
        try:
            reply = dns.message.from_wire(sock.recv(4096))
        except (OSError, dns.exception.DNSException):
            return None
    if not reply.answer:
        return None
    return int(reply.answer[0][0].serial)


def serial_at_least(port: int, origin: str, n: int) -> bool:
    """Whether the server answers serial `n` or a later one (serial arithmetic, within a
    small window)."""
    got = serial(port, origin, timeout=0.05)
    return got is not None and 0 <= (got - n) % 2**32 < 1000


__all__ = ["edit_text", "percentile", "serial", "serial_at_least"]
