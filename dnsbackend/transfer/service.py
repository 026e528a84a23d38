"""The transfer service: a transfer request (bytes and the client's address) in, the messages
of its answer out, after the zone's transfer ACL. No I/O: the TCP layer moves the bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.message
import dns.rdatatype

from ..store.snapshot import Reader
from ..wire.codes import AXFR, CLASS_IN, IXFR, OPCODE_MASK, QR, RD, REFUSED
from ..wire.message import FormatError, parse_fields
from .acl import allowed
from .stream import messages
from .xfr import plan

_HEADER = struct.Struct("!HHHHHH")


def is_transfer(msg: bytes) -> bool:
    """Whether a query asks for AXFR or IXFR (of class IN, opcode QUERY)."""
    if len(msg) < 12 or msg[2] & 0xF8:  # QR set, or an opcode other than QUERY
        return False
    try:
        fields = parse_fields(msg)
    except FormatError:
        return False
    return fields[3] in (AXFR, IXFR) and fields[4] == CLASS_IN


@dataclass
class Outgoing:
    """One transfer under way: its messages, and what the log line says once it is sent."""

    zone: str
    client: str
    kind: str  # AXFR, IXFR, IXFR-as-AXFR, current, refused
    serial: int = 0
    from_serial: int | None = None
    messages: Iterator[bytes] = field(default_factory=lambda: iter(()))
    records: int = 0  # counted as they are sent

    def describe(self, seconds: float) -> str:
        serials = (f"serial {self.from_serial} -> {self.serial}" if self.from_serial is not None
                   else f"serial {self.serial}")
        return (f"transfer of {self.zone} to {self.client}: {self.kind}, {serials}, "
                f"{self.records} records, {seconds:.3f}s")


class TransferService:
    """Answers AXFR and IXFR requests from the store's current snapshot."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def start(self, msg: bytes, client: str) -> Outgoing:
        """The answer to a transfer request (is_transfer(msg) holds), refused unless the
        client may transfer a zone we serve."""
        try:
            request = dns.message.from_wire(msg, ignore_trailing=False)
        except Exception:  # noqa: BLE001 - bad input from the network is normal: refuse it
            return self._refused(msg, "?", client, "malformed")
        question = request.question[0]
        name = question.name.to_wire()
        assert name is not None
        lower = name.lower()
        snapshot = self.reader.snapshot()
        zone = snapshot.zones.get(lower)
        zone_text = question.name.to_text()
        if zone is None or not allowed(client, snapshot.served.may_transfer(lower)):
            return self._refused(msg, zone_text, client)
        ixfr_from = None
        if question.rdtype == dns.rdatatype.IXFR:
            soas = [rrset for rrset in request.authority if rrset.rdtype == dns.rdatatype.SOA]
            if not soas:
                return self._refused(msg, zone_text, client, "IXFR without an SOA")
            ixfr_from = int(soas[0][0].serial)
        planned = plan(self.reader.store, zone.meta.zone_id, zone.version, ixfr_from)
        transfer = next(planned, None)
        if transfer is None:  # the version was freed in between: take the new one
            self.reader.refresh()
            return self.start(msg, client)
        out = Outgoing(zone_text, client, transfer.kind, transfer.serial, transfer.from_serial)
        question_end = parse_fields(msg)[5]
        qflags = (msg[2] << 8) | msg[3]

        def counted() -> Iterator[tuple[bytes, int, int, bytes]]:
            for rr in transfer.rrs:
                out.records += 1
                yield rr

        def stream() -> Iterator[bytes]:
            try:
                yield from messages(request.id, qflags, msg[12:question_end], name, counted())
            finally:
                planned.close()  # the read transaction (the pin) goes

        out.messages = stream()
        return out

    @staticmethod
    def _refused(msg: bytes, zone: str, client: str, why: str = "") -> Outgoing:
        try:
            question_end = parse_fields(msg)[5]
        except FormatError:
            question_end = 12
        flags = QR | (((msg[2] << 8) | msg[3]) & (OPCODE_MASK | RD)) | REFUSED
        reply = msg[:2] + _HEADER.pack(0, flags, 1 if question_end > 12 else 0, 0, 0, 0)[2:] \
            + msg[12:question_end]
        return Outgoing(zone, client, "refused" + (f" ({why})" if why else ""),
                        messages=iter([reply]))
