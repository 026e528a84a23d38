"""Parsing DNS queries: header, question and OPT record (RFC 1035, RFC 6891); name helpers."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Final

from .codes import EDE, OPT

_HEADER: Final = struct.Struct("!HHHHHH")
_RR_FIXED: Final = struct.Struct("!HHIH")
_TWO: Final = struct.Struct("!H")
_TWO_TWO: Final = struct.Struct("!HH")


class FormatError(Exception):
    """The message cannot be parsed."""


@dataclass(slots=True)
class Query:
    """The parts of a query the engine needs."""

    id: int
    flags: int  # the header's second 16-bit word, as received
    qname: bytes  # wire form, client's letter case
    qtype: int
    qclass: int
    question_end: int  # offset just past the question
    edns: bool  # an OPT record was present
    payload: int  # the client's UDP payload size (512 without EDNS)
    edns_version: int
    do: bool  # DNSSEC OK


def read_name(msg: bytes, offset: int) -> tuple[bytes, int]:
    """Read a possibly compressed name; return its uncompressed wire form and the next offset."""
    labels = []
    end = -1  # just past the first pointer, once one is followed
    jumps = 0
    length = 0
    n = len(msg)
    while True:
        if offset >= n:
            raise FormatError("name runs past the message")
        size = msg[offset]
        if size == 0:
            labels.append(b"\x00")
            offset += 1
            break
        if size & 0xC0 == 0xC0:
            target = _pointer_target(msg, offset)
            if end < 0:
                end = offset + 2
            jumps += 1
            if jumps > 64:
                raise FormatError("compression loop")
            offset = target
            continue
        if size & 0xC0:
            raise FormatError("bad label type")
        label = msg[offset : offset + 1 + size]
        if len(label) != size + 1:
            raise FormatError("label runs past the message")
        length += size + 1
        if length > 254:
            raise FormatError("name too long")
        labels.append(label)
        offset += size + 1
    return b"".join(labels), (end if end >= 0 else offset)


def _pointer_target(msg: bytes, offset: int) -> int:
    """Where the compression pointer at `offset` points."""
    if offset + 1 >= len(msg):
        raise FormatError("truncated pointer")
    return ((msg[offset] & 0x3F) << 8) | msg[offset + 1]


# Query's fields as a plain tuple, in Query's order: what the answer engine's hot path
# unpacks into locals (building a Query costs more than answering from a cache).
Fields = tuple[int, int, bytes, int, int, int, bool, int, int, bool]


def parse_query(msg: bytes) -> Query:
    """Parse a query's header, question and OPT record; raise FormatError when malformed.

    The caller has already checked that the message is at least 12 bytes long.
    """
    return Query(*parse_fields(msg))


def parse_fields(msg: bytes) -> Fields:
    """parse_query(), as a tuple."""
    # Typed, so that the compiled code compares the counts as machine integers.
    header: tuple[int, int, int, int, int, int] = _HEADER.unpack_from(msg)
    ident, flags, qdcount, ancount, nscount, arcount = header
    if qdcount != 1:
        raise FormatError("QDCOUNT is not 1")
    # The question name must be plain labels: no compression in a one-name message.
    offset = 12
    n = len(msg)
    while offset < n:
        size = msg[offset]
        if size == 0:
            break
        if size > 63:
            raise FormatError("bad label in question")
        offset += size + 1
    else:
        raise FormatError("question runs past the message")
    offset += 1  # the root label
    if offset - 12 > 255:
        raise FormatError("name too long")
    if offset + 4 > n:
        raise FormatError("question runs past the message")
    qname = msg[12:offset]
    qtype, qclass = _TWO_TWO.unpack_from(msg, offset)
    question_end = offset + 4
    # The common shapes, here: no OPT, or one OPT of the root name right after the question.
    if question_end == n and ancount == 0 and nscount == 0 and arcount == 0:
        return ident, flags, qname, qtype, qclass, question_end, False, 512, 0, False
    if arcount == 1 and ancount == 0 and nscount == 0 and question_end + 11 <= n and \
            msg[question_end] == 0:
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(msg, question_end + 1)
        if rtype == OPT and question_end + 11 + rdlen == n:
            return (ident, flags, qname, qtype, qclass, question_end, True,
                    max(rclass, 512), (ttl >> 16) & 0xFF, bool(ttl & 0x8000))
    edns, payload, version, do = _other_records(msg, question_end, ancount + nscount, arcount)
    return ident, flags, qname, qtype, qclass, question_end, edns, payload, version, do


def _other_records(msg: bytes, offset: int, skipped: int,
                   arcount: int) -> tuple[bool, int, int, bool]:
    """The EDNS fields of a query of any other shape: `skipped` answer and authority records
    passed over, the additional section searched for one OPT record, nothing after it."""
    n = len(msg)
    for _ in range(skipped):
        offset = _skip_rr(msg, offset)
    edns = False
    payload = 512
    version = 0
    do = False
    for _ in range(arcount):
        name, offset = read_name(msg, offset)
        if offset + 10 > n:
            raise FormatError("record runs past the message")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(msg, offset)
        offset += 10 + rdlen
        if offset > n:
            raise FormatError("rdata runs past the message")
        if rtype == OPT:
            if edns or name != b"\x00":
                raise FormatError("bad or second OPT record")
            edns = True
            payload = max(rclass, 512)
            version = (ttl >> 16) & 0xFF
            do = bool(ttl & 0x8000)
    if offset != n:
        raise FormatError("trailing bytes")
    return edns, payload, version, do


def _skip_rr(msg: bytes, offset: int) -> int:
    _, offset = read_name(msg, offset)
    if offset + 10 > len(msg):
        raise FormatError("record runs past the message")
    rdlen = _TWO.unpack_from(msg, offset + 8)[0]
    offset += 10 + rdlen
    if offset > len(msg):
        raise FormatError("rdata runs past the message")
    return offset


def name_end(msg: bytes, pos: int = 12) -> int:
    """The offset just past the plain (uncompressed) name at `pos`, its root label included;
    -1 when there is none or it runs past the message. (A cheap look at a question, 12 is
    where it starts, without parsing the rest.)"""
    n = len(msg)
    while pos < n:
        size = msg[pos]
        if size == 0:
            return pos + 1
        if size > 63:
            return -1
        pos += size + 1
    return -1


def question_type(msg: bytes) -> int:
    """The QTYPE of a message's first question, found without parsing the rest; -1 when the
    question does not fit the message. (A cheap test for the rare types that go elsewhere.)"""
    end = name_end(msg)
    if end < 0 or end + 2 > len(msg):
        return -1
    return (msg[end] << 8) | msg[end + 1]


def label_starts(name: bytes) -> list[int]:
    """Offsets of each label in an uncompressed wire name, the root's included."""
    starts = []
    pos = 0
    while True:
        starts.append(pos)
        size = name[pos]
        if size == 0:
            return starts
        pos += size + 1


@functools.lru_cache(maxsize=64)
def opt_record(payload: int, do: bool, ext_rcode: int = 0) -> bytes:
    """An OPT pseudo-record advertising our payload size."""
    ttl = (ext_rcode << 24) | (0x8000 if do else 0)
    return b"\x00" + _RR_FIXED.pack(OPT, payload, ttl, 0)


def edns_option(code: int, data: bytes) -> bytes:
    """One option as it goes into an OPT record's rdata."""
    return _TWO_TWO.pack(code, len(data)) + data


def ede_option(info_code: int, text: bytes = b"") -> bytes:
    """An Extended DNS Error option (RFC 8914), with extra text (UTF-8) if given."""
    return edns_option(EDE, _TWO.pack(info_code) + text)


def with_options(opt: bytes, options: bytes) -> bytes:
    """An OPT record without options (opt_record()) given `options` (its RDATA)."""
    return opt[:-2] + _TWO.pack(len(options)) + options
