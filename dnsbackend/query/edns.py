"""EDNS options (RFC 6891): the ones a query carries, and the options a response adds to its OPT."""

from __future__ import annotations

import struct
from typing import Final

from ..store.format import ServedSettings
from ..wire.codes import (
    COOKIE,
    EDE_NOT_AUTHORITATIVE,
    EDE_NOT_READY,
    EDE_NOT_SUPPORTED,
    EDE_OTHER,
    EDE_PROHIBITED,
    NSID,
    OPT,
)
from ..wire.message import FormatError, ede_option, read_name
from ..wire.message import edns_option as option
from .cookies import cookie_answer

_TWO_TWO: Final = struct.Struct("!HH")
_RR_FIXED: Final = struct.Struct("!HHIH")


def nsid_option(nsid: bytes) -> bytes:
    return option(NSID, nsid)


# The EDE options we send, made once.
NOT_READY: Final = ede_option(EDE_NOT_READY)
PROHIBITED: Final = ede_option(EDE_PROHIBITED)
NOT_AUTHORITATIVE: Final = ede_option(EDE_NOT_AUTHORITATIVE)
NOT_SUPPORTED: Final = ede_option(EDE_NOT_SUPPORTED)
# With the SERVFAIL of an NSEC3 hash collision (RFC 5155 section 7.2.9), as NSD 4.6 says it.
NSEC3_COLLISION: Final = ede_option(EDE_OTHER, b"NSEC3 hash collision")


def opt_rdata(msg: bytes, question_end: int) -> bytes:
    """The rdata of a query's OPT record (parse_fields() found one). FormatError if the
    record cannot be walked to."""
    n = len(msg)
    if msg[question_end:question_end + 3] == b"\x00\x00\x29" and question_end + 11 <= n:
        rdlen = _TWO_TWO.unpack_from(msg, question_end + 7)[1]
        if question_end + 11 + rdlen == n:  # the common shape: OPT right after the question
            return msg[question_end + 11:]
    counts: tuple[int, int, int] = struct.unpack_from("!HHH", msg, 6)
    offset = question_end
    for _ in range(counts[0] + counts[1] + counts[2]):
        _, offset = read_name(msg, offset)
        if offset + 10 > n:
            raise FormatError("record runs past the message")
        rtype, _, _, rdlen = _RR_FIXED.unpack_from(msg, offset)
        offset += 10
        if rtype == OPT:
            return msg[offset:offset + rdlen]
        offset += rdlen
    raise FormatError("no OPT record")


def scan_options(rdata: bytes) -> tuple[bool, bytes | None]:
    """(NSID asked for, the COOKIE option's data or None) of a query's OPT rdata.
    FormatError when an option runs past the rdata (NSD: FORMERR)."""
    nsid = False
    cookie: bytes | None = None
    pos = 0
    n = len(rdata)
    while pos < n:
        if pos + 4 > n:
            raise FormatError("option header runs past the OPT record")
        code, length = _TWO_TWO.unpack_from(rdata, pos)
        pos += 4
        if pos + length > n:
            raise FormatError("option runs past the OPT record")
        if code == NSID:
            nsid = True  # any data it carries is ignored, as BIND and NSD do
        elif code == COOKIE and cookie is None:
            cookie = rdata[pos:pos + length]
        pos += length
    return nsid, cookie


class Client:
    """Who sent a query and when, for what depends on it (cookies); and what was found."""

    __slots__ = ("ip", "now", "valid_cookie")

    def __init__(self, ip: bytes, now: float) -> None:
        self.ip = ip  # the address, 4 or 16 bytes
        self.now = now  # time.time() when it came
        self.valid_cookie = False  # set when the query's server cookie is ours and fresh


# What response_options() found, besides the options to add.
GO: Final = 0  # answer, adding the options
NEEDS_CLIENT: Final = 1  # answered only knowing the client (a COOKIE option)
BAD_COOKIE: Final = 2  # BADCOOKIE, with the options (RFC 7873 section 5.2.3)
RCODE_BADCOOKIE: Final = 23


def response_options(msg: bytes, question_end: int, served: ServedSettings, tcp: bool,
                     client: Client | None) -> tuple[int, bytes]:
    """(GO, NEEDS_CLIENT or BAD_COOKIE; the options the response's OPT carries) for a query
    with EDNS options. FormatError for a malformed option list or COOKIE option (RFC 7873
    section 5.2.2: 8 bytes, or 16 to 40)."""
    nsid, cookie = scan_options(opt_rdata(msg, question_end))
    extra = served.nsid if nsid else b""
    if cookie is None:
        return GO, extra
    size = len(cookie)
    if size != 8 and not 16 <= size <= 40:
        raise FormatError("malformed COOKIE option")
    settings = served.cookies
    if not settings.answer or not settings.secret:
        return GO, extra
    if client is None:
        return NEEDS_CLIENT, b""
    valid, data = cookie_answer(cookie, client.ip, client.now, settings)
    client.valid_cookie = valid
    extra += option(COOKIE, data)
    if settings.require and not valid and not tcp:
        return BAD_COOKIE, extra
    return GO, extra
