"""Transfer answers as a stream of DNS messages: RRs packed into messages, compressed within
each, the question in every one (RFC 5936 section 2.2)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from ..store.format import RR
from ..wire.codes import AA, QR
from ..wire.compress import Compressor

MESSAGE_SIZE = 16384  # bytes of RRs a message is filled to (BIND's default is about this)
_HEADER = struct.Struct("!HHHHHH")


def messages(ident: int, qflags: int, question: bytes, qname: bytes,
             rrs: Iterable[RR], size: int = MESSAGE_SIZE) -> Iterator[bytes]:
    """The RRs as consecutive answer messages; each message is ready to send."""
    flags = QR | AA | (qflags & 0x0100)  # RD copied
    writer = Compressor(qname)
    count = 0
    for owner, rtype, ttl, rdata in rrs:
        mark = len(writer.buf)
        writer.rr(owner, rtype, ttl, rdata)
        count += 1
        if len(writer.buf) > size and count > 1:
            # Too much for this message: send it without the RR (its compression entries go
            # with this writer), start the next with it.
            del writer.buf[mark:]
            yield _message(ident, flags, question, writer.buf, count - 1)
            writer = Compressor(qname)
            writer.rr(owner, rtype, ttl, rdata)
            count = 1
    if count:
        yield _message(ident, flags, question, writer.buf, count)


def _message(ident: int, flags: int, question: bytes, body: bytearray, count: int) -> bytes:
    return _HEADER.pack(ident, flags, 1, count, 0, 0) + question + bytes(body)
