"""DNS Cookies (RFC 7873): server cookies in RFC 9018's interoperable format, checked and made.

A server cookie is version 1, three reserved bytes, the time (32 bits, RFC 1982 arithmetic)
and SipHash-2-4 of (client cookie, version, reserved, time, client address) keyed by the
secret, so servers sharing a secret accept each other's cookies. Like NSD: a valid cookie
less than half an hour old is sent back as it came, an older one (up to an hour, or up to 5
minutes ahead) is valid and replaced; without a configured secret the secret is derived
from a random one per period (Knot rotates its secret), and the last period's still counts.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final

import siphashc

from ..store.format import CookieSettings

MAX_AGE: Final = 3600  # seconds a server cookie is valid for (RFC 9018 section 4.3)
MAX_AHEAD: Final = 300  # seconds a cookie's time may be ahead of ours
REUSE_AGE: Final = 1800  # younger than this, a valid server cookie is sent back unchanged
_HEAD: Final = struct.Struct("!4xI")  # version and reserved, time
_VERSION: Final = b"\x01\x00\x00\x00"

_derived: dict[tuple[bytes, int], bytes] = {}  # (secret, period) -> secret of that period


def server_cookie(client_cookie: bytes, client_ip: bytes, stamp: int, secret: bytes) -> bytes:
    """The 16-byte server cookie for a client cookie, address (4 or 16 bytes) and time."""
    head = _VERSION + struct.pack("!I", stamp)
    digest: int = siphashc.siphash(secret, client_cookie + head + client_ip)
    return head + digest.to_bytes(8, "little")


def secrets(settings: CookieSettings, now: float) -> tuple[bytes, ...]:
    """The secret cookies are made with now, then any other still accepted."""
    if not settings.rotate:
        return (settings.secret,)
    period = int(now) // settings.rotate
    return (_period_secret(settings.secret, period), _period_secret(settings.secret, period - 1))


def _period_secret(secret: bytes, period: int) -> bytes:
    key = (secret, period)
    found = _derived.get(key)
    if found is None:
        if len(_derived) >= 16:
            _derived.clear()
        found = _derived[key] = hashlib.blake2b(
            period.to_bytes(8, "big", signed=True), key=secret, digest_size=16).digest()
    return found


def cookie_answer(data: bytes, client_ip: bytes, now: float,
                  settings: CookieSettings) -> tuple[bool, bytes]:
    """(whether the query's server cookie is valid, the COOKIE option data to answer with)
    for a well-formed COOKIE option's data (8, or 16 to 40 bytes)."""
    client_cookie = data[:8]
    stamp_now = int(now) & 0xFFFFFFFF
    keys = secrets(settings, now)
    if len(data) == 24 and data[8] == 1:
        stamp: int = _HEAD.unpack_from(data, 8)[0]
        age = ((stamp_now - stamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        if -MAX_AHEAD <= age <= MAX_AGE:
            for index, secret in enumerate(keys):
                if hmac.compare_digest(
                        server_cookie(client_cookie, client_ip, stamp, secret), data[8:]):
                    if index == 0 and age < REUSE_AGE:
                        return True, data
                    return True, client_cookie + server_cookie(client_cookie, client_ip,
                                                               stamp_now, keys[0])
    return False, client_cookie + server_cookie(client_cookie, client_ip, stamp_now, keys[0])
