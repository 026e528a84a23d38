"""Encoding the sections of a response with name compression (RFC 1035 section 4.1.4)."""

from __future__ import annotations

import struct
from typing import Final

from .codes import CLASS_IN, CNAME, MX, NS, PTR, SOA
from .message import read_name

# Types whose rdata names may be compressed (RFC 3597 section 4: the RFC 1035 types).
COMPRESSIBLE: Final = {NS: 0, CNAME: 0, PTR: 0, MX: 2, SOA: 0}

_RR_FIXED: Final = struct.Struct("!HHIH")
_TWO: Final = struct.Struct("!H")


class Compressor:
    """Builds the sections after the question, compressing names against all that came before.

    Offsets are those of the final message, whose question starts at byte 12. With an
    anchor, only the question name's suffix from that offset up is used for compression,
    and the question name itself (the very object passed in) is written as a pointer to it.
    """

    __slots__ = ("buf", "table", "base", "qname", "written")

    def __init__(self, qname: bytes, anchor: int = 0) -> None:
        self.buf = bytearray()
        self.base = 12 + len(qname) + 4
        self.table: dict[bytes, int] = {}
        self.qname = qname
        self._remember(qname[anchor:].lower(), 12 + anchor)
        # Set to a list to collect every other name written, lower case (encode_anchored).
        self.written: list[bytes] | None = None

    def _remember(self, lower: bytes, at: int) -> None:
        pos = 0
        while lower[pos] != 0 and at + pos < 0x4000:
            suffix = lower[pos:]
            if suffix in self.table:
                return
            self.table[suffix] = at + pos
            pos += lower[pos] + 1

    def name(self, name: bytes) -> None:
        if name is self.qname:
            self.buf += b"\xc0\x0c"
            return
        lower = name.lower()
        if self.written is not None:
            self.written.append(lower)
        pos = 0
        table = self.table
        while lower[pos] != 0:
            ptr = table.get(lower[pos:])
            if ptr is not None:
                if pos:
                    self._remember(lower, self.base + len(self.buf))
                self.buf += name[:pos]
                self.buf += _TWO.pack(0xC000 | ptr)
                return
            pos += lower[pos] + 1
        self._remember(lower, self.base + len(self.buf))
        self.buf += name

    def rr(self, owner: bytes, rtype: int, ttl: int, rdata: bytes) -> None:
        self.name(owner)
        fixed_at = len(self.buf)
        self.buf += _RR_FIXED.pack(rtype, CLASS_IN, ttl, 0)
        start = len(self.buf)
        prefix = COMPRESSIBLE.get(rtype)
        if prefix is None:
            self.buf += rdata
        elif rtype == SOA:
            mname, off = read_name(rdata, 0)
            rname, off = read_name(rdata, off)
            self.name(mname)
            self.name(rname)
            self.buf += rdata[off:]
        else:
            self.buf += rdata[:prefix]
            self.name(rdata[prefix:])
        _TWO.pack_into(self.buf, fixed_at + 8, len(self.buf) - start)
