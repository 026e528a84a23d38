"""Encoding the sections of a response with name compression (RFC 1035 section 4.1.4)."""

from __future__ import annotations

import struct
from typing import Final

from .codes import CLASS_IN, CNAME, MX, NS, PTR, RRSIG, SOA
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

    __slots__ = ("buf", "table", "base", "qname", "written", "pointers")

    def __init__(self, qname: bytes, anchor: int = 0) -> None:
        self.buf = bytearray()
        self.base = 12 + len(qname) + 4
        self.table: dict[bytes, int] = {}
        self.qname = qname
        self._remember(qname[anchor:].lower(), 12 + anchor)
        # Set to a list to collect every other name written, lower case (encode_anchored).
        self.written: list[bytes] | None = None
        # Set to a list to collect the offset in buf of every pointer written (query.encode's
        # pieces, which move them to the place of their use).
        self.pointers: list[int] | None = None

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
            self._pointer(b"\xc0\x0c")
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
                self._pointer(_TWO.pack(0xC000 | ptr))
                return
            pos += lower[pos] + 1
        self._remember(lower, self.base + len(self.buf))
        self.buf += name

    def rr(self, owner: bytes, rtype: int, ttl: int, rdata: bytes) -> None:
        self.name(owner)
        self._body(rtype, ttl, rdata)

    def rrset(self, owner: bytes, rtype: int, ttl: int, rdatas: tuple[bytes, ...],
              sigs: tuple[bytes, ...] = ()) -> None:
        """The records of an RRset, then the RRSIGs covering it (`sigs`, their TTL its own):
        what rr() writes for each, the owner after the first being the pointer to it that
        name() would find again, made once."""
        if not rdatas:  # none: the signatures alone, each written as rr() does
            self._records(owner, rtype, ttl, (), sigs)
            return
        self.name(owner)
        self._body(rtype, ttl, rdatas[0])
        if owner is self.qname:
            ref = b"\xc0\x0c"
        else:
            at = self.table.get(owner.lower())
            if at is None:  # past the offsets a pointer reaches: written out each time
                self._records(owner, rtype, ttl, rdatas[1:], sigs)
                return
            ref = _TWO.pack(0xC000 | at)
        buf = self.buf
        for rdata in rdatas[1:]:
            self._pointer(ref)
            self._body(rtype, ttl, rdata)
        for rdata in sigs:  # no names to compress in RRSIG rdata (RFC 4034 section 3.1.7)
            self._pointer(ref)
            buf += _RR_FIXED.pack(RRSIG, CLASS_IN, ttl, len(rdata))
            buf += rdata

    def _records(self, owner: bytes, rtype: int, ttl: int, rdatas: tuple[bytes, ...],
                 sigs: tuple[bytes, ...]) -> None:
        """Records and RRSIGs each written as rr() writes it."""
        for rdata in rdatas:
            self.rr(owner, rtype, ttl, rdata)
        for rdata in sigs:
            self.rr(owner, RRSIG, ttl, rdata)

    def _pointer(self, ref: bytes) -> None:
        if self.pointers is not None:
            self.pointers.append(len(self.buf))
        self.buf += ref

    def _body(self, rtype: int, ttl: int, rdata: bytes) -> None:
        """A record after its owner: type, class, TTL, length and rdata (names compressed
        in the RFC 1035 types)."""
        prefix = COMPRESSIBLE.get(rtype)
        if prefix is None:  # its length known: one pack
            self.buf += _RR_FIXED.pack(rtype, CLASS_IN, ttl, len(rdata))
            self.buf += rdata
            return
        fixed_at = len(self.buf)
        self.buf += _RR_FIXED.pack(rtype, CLASS_IN, ttl, 0)
        start = len(self.buf)
        if rtype == SOA:
            mname, off = read_name(rdata, 0)
            rname, off = read_name(rdata, off)
            self.name(mname)
            self.name(rname)
            self.buf += rdata[off:]
        else:
            self.buf += rdata[:prefix]
            self.name(rdata[prefix:])
        _TWO.pack_into(self.buf, fixed_at + 8, len(self.buf) - start)
