"""The transfer service: a transfer request (bytes and the client's address) in, the messages
of its answer out, after its TSIG (tsig.py) and the zone's transfer ACL. No I/O: the TCP
layer moves the bytes; the time comes from the clock it is given."""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

import dns.message
import dns.rdatatype

from ..store.snapshot import Reader
from ..wire.codes import (
    AXFR,
    BADVERS,
    CLASS_IN,
    EDE_NOT_AUTHORITATIVE,
    EDE_NOT_READY,
    EDE_PROHIBITED,
    FORMERR,
    IXFR,
    OPCODE_MASK,
    QR,
    RD,
    REFUSED,
    SERVFAIL,
    TC,
)
from ..wire.message import (
    FormatError,
    ede_option,
    opt_record,
    parse_fields,
    question_type,
    with_options,
)
from .acl import Entry, allowed, keys_for
from .stream import Packer, messages
from .tsig import Check, Signer, check_request
from .xfr import Transfer, plan

_HEADER = struct.Struct("!HHHHHH")
DO = 0x8000  # EDNS flags: DNSSEC OK
NOTAUTH = 9
# Extended DNS Errors (RFC 8914) of a refusal: the ACL says no (BIND and NSD send it);
# a zone not served here; the store of a first start holds no zone yet.
_PROHIBITED = ede_option(EDE_PROHIBITED)
_NOT_AUTHORITATIVE = ede_option(EDE_NOT_AUTHORITATIVE)
_NOT_READY = ede_option(EDE_NOT_READY)


def is_transfer(msg: bytes) -> bool:
    """Whether a query asks for AXFR or IXFR (of class IN, opcode QUERY)."""
    if len(msg) < 12 or msg[2] & 0xF8:  # QR set, or an opcode other than QUERY
        return False
    if question_type(msg) not in (AXFR, IXFR):  # every other TCP query: no full parse
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
    key: str = ""  # the TSIG key the request was signed with (its name), if any

    def describe(self, seconds: float) -> str:
        serials = (f"serial {self.from_serial} -> {self.serial}" if self.from_serial is not None
                   else f"serial {self.serial}")
        signed = f", key {self.key}" if self.key else ""
        return (f"transfer of {self.zone} to {self.client}: {self.kind}, {serials}, "
                f"{self.records} records, {seconds:.3f}s{signed}")


class TransferService:
    """Answers AXFR and IXFR requests from the store's current snapshot. `clock` gives the
    time TSIG signatures are checked and made at (seconds since the epoch); it is read
    once per request and once per message signed."""

    def __init__(self, reader: Reader, clock: Callable[[], float] = time.time) -> None:
        self.reader = reader
        self.clock = clock

    def start(self, msg: bytes, client: str) -> Outgoing:
        """The answer to a transfer request (is_transfer(msg) holds): a TSIG error if it is
        signed and does not verify (RFC 8945 section 5.2), refused unless the client may
        transfer a zone we serve, its messages signed if the request was."""
        granted = self._grant(msg, client)
        if isinstance(granted, Outgoing):
            return granted
        out, request, planned, transfer, signer = granted
        question_end = parse_fields(msg)[5]
        qflags = (msg[2] << 8) | msg[3]
        name = msg[12:question_end - 4]

        # The OPT record in every message when the request had one (BIND and Knot).
        opt = _opt(request, self.reader.snapshot().udp_payload, b"")
        packer = Packer(request.id, qflags, msg[12:question_end], name, opt=opt)

        def stream() -> Iterator[bytes]:
            try:
                for message in transfer.messages(packer):
                    out.records = packer.records  # counted as they are sent
                    # Every message signed, each covering the one before (RFC 8945 5.3.1).
                    yield message if signer is None else signer.sign(message, self.clock())
            finally:
                planned.close()  # the read transaction (the pin) goes

        out.messages = stream()
        return out

    def over_udp(self, msg: bytes, client: str, payload: int) -> Outgoing:
        """The answer to an IXFR over UDP (RFC 1995 section 2), after the same TSIG and ACL
        checks as start(): one message, the IXFR itself if it fits the client's UDP size
        (its EDNS payload up to ours, `payload`; 512 without EDNS), else our SOA alone with
        TC set, which sends the client to TCP. A current client gets our SOA alone."""
        granted = self._grant(msg, client, payload)
        if isinstance(granted, Outgoing):
            return granted
        out, request, planned, transfer, signer = granted
        try:
            question_end = parse_fields(msg)[5]
            edns = request.edns >= 0
            limit = max(512, min(request.payload, payload)) if edns else 512
            opt = opt_record(payload, bool(request.ednsflags & DO)) if edns else b""
            room = limit - question_end - len(opt) - (0 if signer is None else signer.size())
            head = (request.id, (msg[2] << 8) | msg[3], msg[12:question_end],
                    msg[12:question_end - 4])
            rrs = iter(transfer.rrs)
            soa = next(rrs)
            whole = messages(*head, itertools.chain([soa], rrs), size=room)
            answer = next(whole)
            if next(whole, None) is not None or len(answer) > limit - len(opt) - (
                    0 if signer is None else signer.size()):
                answer = next(messages(*head, [soa]))
                answer = answer[:2] + bytes([answer[2] | (TC >> 8)]) + answer[3:]
                out.kind = f"{transfer.kind} too big for UDP, SOA only"
                out.records = 1
            else:
                out.records = _HEADER.unpack_from(answer)[3]
                out.kind = f"{transfer.kind} over UDP"
        finally:
            planned.close()
        if opt:
            arcount = _HEADER.unpack_from(answer)[5]
            answer = answer[:10] + struct.pack("!H", arcount + 1) + answer[12:] + opt
        out.messages = iter([answer if signer is None else signer.sign(answer, self.clock())])
        return out

    def _grant(self, msg: bytes, client: str, payload: int | None = None) -> Outgoing | tuple[
            Outgoing, dns.message.Message, Generator[Transfer, None, None], Transfer,
            Signer | None]:
        """A refusal (or TSIG error) as the whole answer, or what a granted request is
        answered from: its log record, the parsed request, the plan (close it to let go of
        the version), the transfer, and the signer of the answer if it was signed. An
        error's OPT record advertises `payload` (None: the served settings' UDP size)."""
        try:
            request = dns.message.from_wire(msg, ignore_trailing=False, keyring=False)
        except Exception:  # noqa: BLE001 - bad input from the network is normal: refuse it
            return self._refused(msg, "?", client, "malformed")
        question = request.question[0]
        name = question.name.to_wire()
        assert name is not None
        lower = name.lower()
        snapshot = self.reader.snapshot()
        size = snapshot.udp_payload if payload is None else payload
        zone_text = question.name.to_text()
        check = check_request(msg, snapshot.served.keys, self.clock(), size)
        if check.reply is not None:
            return Outgoing(zone_text, client, "refused (" + check.describe() + ")",
                            messages=iter([check.reply]))
        if request.edns > 0:  # BADVERS (RFC 6891 section 6.1.3), as BIND, Knot and NSD
            return self._refused(msg, zone_text, client, f"EDNS version {request.edns}", check,
                                 _opt(request, size, b"", BADVERS >> 4), BADVERS & 0xF)
        zone = snapshot.zones.get(lower)
        if zone is None:  # NOTAUTH, as BIND, Knot and NSD answer it
            if snapshot.ready:
                return self._refused(msg, zone_text, client, "not a zone served here", check,
                                     _opt(request, size, _NOT_AUTHORITATIVE), NOTAUTH)
            return self._refused(msg, zone_text, client, "the zones are still being read",
                                 check, _opt(request, size, _NOT_READY), SERVFAIL)
        acl = snapshot.served.may_transfer(lower)
        if not allowed(client, acl, check.key):
            return self._refused(msg, zone_text, client, _why_refused(client, acl, check),
                                 check, _opt(request, size, _PROHIBITED))
        ixfr_from = _ixfr_from(request)
        if ixfr_from == -1:  # FORMERR, as BIND, Knot and NSD answer it
            return self._refused(msg, zone_text, client, "IXFR without an SOA", check,
                                 _opt(request, size, b""), FORMERR)
        planned = plan(self.reader.store, zone.meta.zone_id, zone.version, ixfr_from)
        transfer = next(planned, None)
        if transfer is None:  # the version was freed in between: take the new one
            self.reader.refresh()
            return self._grant(msg, client, payload)
        out = Outgoing(zone_text, client, transfer.kind, transfer.serial, transfer.from_serial,
                       key=check.key_name)
        return out, request, planned, transfer, check.signer

    def _refused(self, msg: bytes, zone: str, client: str, why: str = "",
                 check: Check | None = None, opt: bytes = b"", rcode: int = REFUSED) -> Outgoing:
        """REFUSED (or `rcode`) with the OPT record `opt`, signed when the request was
        signed with a key we verified (the TSIG RR after the OPT: the last record)."""
        try:
            question_end = parse_fields(msg)[5]
        except FormatError:
            question_end = 12
        flags = QR | (((msg[2] << 8) | msg[3]) & (OPCODE_MASK | RD)) | rcode
        reply = msg[:2] + _HEADER.pack(0, flags, 1 if question_end > 12 else 0, 0, 0,
                                       1 if opt else 0)[2:] + msg[12:question_end] + opt
        signer: Signer | None = None if check is None else check.signer
        if signer is not None:
            reply = signer.sign(reply, self.clock())
        key = check.key_name if check is not None and check.signer is not None else ""
        return Outgoing(zone, client, "refused" + (f" ({why})" if why else ""),
                        messages=iter([reply]), key=key)


def _ixfr_from(request: dns.message.Message) -> int | None:
    """The serial an IXFR request asks from (None: an AXFR; -1: an IXFR without an SOA)."""
    if request.question[0].rdtype != dns.rdatatype.IXFR:
        return None
    soas = [rrset for rrset in request.authority if rrset.rdtype == dns.rdatatype.SOA]
    return int(soas[0][0].serial) if soas else -1


def _opt(request: dns.message.Message, payload: int, options: bytes,
         ext_rcode: int = 0) -> bytes:
    """The OPT record of an answer: none unless the request had one (RFC 6891 section 7);
    our payload size, the request's DO bit, `options` (an Extended DNS Error), the upper
    bits of the rcode (BADVERS)."""
    if request.edns < 0:
        return b""
    return with_options(opt_record(payload, bool(request.ednsflags & DO), ext_rcode), options)


def _why_refused(client: str, acl: tuple[Entry, ...], check: Check) -> str:
    """What the log line says of an ACL's refusal (key names, never secrets)."""
    keys = keys_for(client, acl)
    if keys is None:
        return "address not allowed"
    names = ", ".join(sorted(dns.name.from_wire(k, 0)[0].to_text() for k in keys if k))
    if check.key is None:
        return f"not signed; the ACL wants key {names}"
    return f"signed with key {check.key_name}; the ACL wants key {names}"
