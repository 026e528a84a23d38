"""Transfer answers as a stream of DNS messages: RRs packed into messages, compressed within
each, the question in every one (RFC 5936 section 2.2), and the OPT record, if the request
had one, in every one (as BIND and Knot send it). Compiled (nativebuild.py)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Final

from ..store.format import RR, Node, rrsig_ttl
from ..wire.codes import AA, QR, RRSIG, SOA
from ..wire.compress import Compressor

MESSAGE_SIZE: Final = 16384  # bytes of RRs a message is filled to (BIND's is about this)
_HEADER: Final = struct.Struct("!HHHHHH")


class Packer:
    """Packs RRs into consecutive answer messages of about `size` bytes of RRs each, each
    ending with the OPT record `opt` if one is given; the messages filled so far wait in
    `done` (take them with take()), `records` counts the RRs."""

    def __init__(self, ident: int, qflags: int, question: bytes, qname: bytes,
                 size: int = MESSAGE_SIZE, opt: bytes = b"") -> None:
        self.ident = ident
        self.flags = QR | AA | (qflags & 0x0100)  # RD copied
        self.question = question
        self.qname = qname
        self.size = size
        self.opt = opt
        self.writer = Compressor(qname)
        self.count = 0  # RRs in the message being filled
        self.records = 0
        self.done: list[bytes] = []

    def rr(self, owner: bytes, rtype: int, ttl: int, rdata: bytes) -> None:
        writer = self.writer
        mark = len(writer.buf)
        writer.rr(owner, rtype, ttl, rdata)
        self.count += 1
        self.records += 1
        if len(writer.buf) > self.size and self.count > 1:
            # Too much for this message: send it without the RR (its compression entries go
            # with this writer), start the next with it.
            del writer.buf[mark:]
            self.done.append(self._message(self.count - 1))
            writer = self.writer = Compressor(self.qname)
            writer.rr(owner, rtype, ttl, rdata)
            self.count = 1

    def node(self, owner: bytes, node: Node, apex: bool) -> None:
        """Every RR of a node, types in order (the apex's SOA left out: it goes first and
        last of an AXFR); RRSIGs with the TTL of the RRset each covers."""
        for rtype in sorted(node):
            if apex and rtype == SOA:
                continue
            ttl, rdatas = node[rtype]
            for rdata in rdatas:
                self.rr(owner, rtype, rrsig_ttl(node, ttl, rdata) if rtype == RRSIG else ttl,
                        rdata)

    def take(self) -> list[bytes]:
        """The messages filled so far."""
        done = self.done
        self.done = []
        return done

    def finish(self) -> list[bytes]:
        """The messages filled so far and the last one."""
        if self.count:
            self.done.append(self._message(self.count))
            self.writer = Compressor(self.qname)
            self.count = 0
        return self.take()

    def _message(self, count: int) -> bytes:
        opt = self.opt
        return (_HEADER.pack(self.ident, self.flags, 1, count, 0, 1 if opt else 0)
                + self.question + bytes(self.writer.buf) + opt)

    def pack(self, rrs: Iterable[RR]) -> Iterator[bytes]:
        """The RRs as messages, each yielded as soon as it is full."""
        for owner, rtype, ttl, rdata in rrs:
            self.rr(owner, rtype, ttl, rdata)
            if self.done:
                yield from self.take()
        yield from self.finish()


def messages(ident: int, qflags: int, question: bytes, qname: bytes,
             rrs: Iterable[RR], size: int = MESSAGE_SIZE) -> Iterator[bytes]:
    """The RRs as consecutive answer messages; each message is ready to send."""
    return Packer(ident, qflags, question, qname, size).pack(rrs)
