"""TSIG (RFC 8945) on raw wire: requests verified, answers signed (every message of a
multi-message answer, chained as section 5.3.1 says), errors answered as section 5.2 says,
NOTIFY signed and its answer verified. dnspython's dns.tsig does the cryptography.

No clock is read here: every function that needs the time takes it (`now`, seconds since
the epoch, as time.time() gives it). Secrets never leave this module in a string: keys
print without them.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig

from ..store.format import DEFAULT_UDP_PAYLOAD
from ..wire.codes import FORMERR, OPCODE_MASK, OPT, QR, RD
from ..wire.message import FormatError, opt_record, read_name

# BIND's names for the algorithms (what the settings say) and their names on the wire.
ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-md5": dns.tsig.HMAC_MD5,  # hmac-md5.sig-alg.reg.int.
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
DEFAULT_ALGORITHM: Final = "hmac-sha256"
FUDGE = 300  # seconds of clock difference allowed in what we sign (RFC 8945 section 10)

TSIG = 250
NOTAUTH = 9
BADSIG = 16
BADKEY = 17
BADTIME = 18
BADTRUNC = 22
ERRORS = {BADSIG: "BADSIG", BADKEY: "BADKEY", BADTIME: "BADTIME", BADTRUNC: "BADTRUNC",
          FORMERR: "FORMERR"}

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_COUNT = struct.Struct("!H")


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: its name (wire form, lower case), BIND's name of its algorithm, and the
    secret, which its repr never shows."""

    name: bytes
    algorithm: str
    secret: bytes = field(repr=False)

    def text(self) -> str:
        """The key's name, for log lines."""
        return dns.name.from_wire(self.name, 0)[0].to_text()

    def for_dnspython(self, owner: dns.name.Name | None = None) -> dns.tsig.Key:
        """dnspython's key (named `owner`, the name in letter case as received, if given).
        Its repr shows the secret: never log one."""
        name = owner if owner is not None else dns.name.from_wire(self.name, 0)[0]
        return dns.tsig.Key(name, self.secret, ALGORITHMS[self.algorithm])


# The keys the served settings hold: lower-case wire name -> (algorithm, secret).
Keys = Mapping[bytes, tuple[str, bytes]]


def key_from(keys: Keys, name: bytes) -> TsigKey | None:
    """The key of that name (wire form, any letter case), if there is one."""
    lower = name.lower()
    found = keys.get(lower)
    return None if found is None else TsigKey(lower, found[0], found[1])


@dataclass
class Found:
    """A message's TSIG RR: where it starts, its owner, its rdata, where the question ends,
    and whether the message has an OPT record, with the DNSSEC OK bit or without."""

    start: int
    owner: dns.name.Name
    rdata: dns.rdtypes.ANY.TSIG.TSIG
    question_end: int
    edns: bool = False
    do: bool = False


def _skip_question(wire: bytes) -> int:
    """Where the question section ends."""
    if len(wire) < 12:
        raise FormatError("short header")
    pos = 12
    for _ in range(_COUNT.unpack_from(wire, 4)[0]):
        pos = read_name(wire, pos)[1] + 4
    if pos > len(wire):
        raise FormatError("question runs past the message")
    return pos


def _tsig_at(wire: bytes, start: int, pos: int, size: int) -> tuple[dns.name.Name,
                                                                    dns.rdtypes.ANY.TSIG.TSIG]:
    try:
        rdata = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, wire, pos, size)
        owner = dns.name.from_wire(wire, start)[0]
    except dns.exception.DNSException:
        raise FormatError("malformed TSIG RR") from None
    assert isinstance(rdata, dns.rdtypes.ANY.TSIG.TSIG)
    return owner, rdata


def find_tsig(wire: bytes) -> Found | None:
    """The message's TSIG RR (the last of the additional section), None when it has none;
    FormatError when the message cannot be walked or a TSIG RR is anywhere else."""
    question_end = pos = _skip_question(wire)
    _, _, _, an, ns, ar = _HEADER.unpack_from(wire)
    total = an + ns + ar
    opt_ttl = -1
    for index in range(total):
        start = pos
        pos = read_name(wire, pos)[1]
        if pos + 10 > len(wire):
            raise FormatError("RR runs past the message")
        rtype, _, ttl, size = _RR_FIXED.unpack_from(wire, pos)
        pos += 10 + size
        if pos > len(wire):
            raise FormatError("RR runs past the message")
        if rtype == OPT and index >= an + ns:
            opt_ttl = ttl
        if rtype != TSIG:
            continue
        if index != total - 1 or index < an + ns or pos != len(wire):
            raise FormatError("a TSIG RR that is not the last of the message")
        return Found(start, *_tsig_at(wire, start, pos - size, size), question_end,
                     opt_ttl >= 0, opt_ttl >= 0 and bool(opt_ttl & 0x8000))
    if pos != len(wire):
        raise FormatError("trailing bytes")
    return None


def _without_tsig(wire: bytes, found: Found) -> bytes:
    """The message as it was before its TSIG RR was added (ARCOUNT one less)."""
    arcount = _COUNT.unpack_from(wire, 10)[0]
    return wire[:10] + _COUNT.pack(arcount - 1) + wire[12:found.start]


def _append(message: bytes, owner: dns.name.Name, rdata: dns.rdtypes.ANY.TSIG.TSIG) -> bytes:
    """The message with a TSIG RR added at the end (ARCOUNT one more)."""
    rd = rdata.to_wire()
    owner_wire = owner.to_wire()
    assert rd is not None and owner_wire is not None
    arcount = _COUNT.unpack_from(message, 10)[0]
    return (message[:10] + _COUNT.pack(arcount + 1) + message[12:] + owner_wire
            + _RR_FIXED.pack(TSIG, dns.rdataclass.ANY, 0, len(rd)) + rd)


def _tsig_rdata(algorithm: dns.name.Name, time_signed: int, fudge: int, original_id: int,
                error: int = 0, other: bytes = b"",
                mac: bytes = b"") -> dns.rdtypes.ANY.TSIG.TSIG:
    return dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, algorithm,
                                     time_signed, fudge, mac, original_id, error, other)


class Signer:
    """Signs the messages of one answer: the first with the request's MAC, each later one
    chained to the MAC before it (RFC 8945 section 5.3.1), or a request (no request MAC)."""

    def __init__(self, key: TsigKey, request_mac: bytes = b"",
                 owner: dns.name.Name | None = None) -> None:
        self.key = key
        self._key = key.for_dnspython(owner)
        self._request_mac = request_mac
        self._ctx: Any = None
        self.mac = b""  # the MAC of the last message signed

    def __repr__(self) -> str:
        return f"Signer({self.key!r})"

    def size(self) -> int:
        """The bytes the TSIG RR adds to a message (without Other Data)."""
        owner = self._key.name.to_wire()
        algorithm = self._key.algorithm.to_wire()
        assert owner is not None and algorithm is not None
        return (len(owner) + _RR_FIXED.size + len(algorithm) + 16
                + dns.tsig.mac_sizes[self._key.algorithm])

    def sign(self, message: bytes, now: float, *, error: int = 0, other: bytes = b"",
             time_signed: int | None = None, fudge: int = FUDGE) -> bytes:
        """The message with its TSIG RR (Time Signed `now` unless told)."""
        signed_at = int(now) if time_signed is None else time_signed
        ident = _COUNT.unpack_from(message, 0)[0]
        rdata = _tsig_rdata(self._key.algorithm, signed_at, fudge, ident, error, other)
        tsig, self._ctx = dns.tsig.sign(message, self._key, rdata, signed_at,
                                        self._request_mac, self._ctx, True)
        self.mac = bytes(tsig.mac)
        return _append(message, self._key.name, tsig)


@dataclass
class Check:
    """What a request's TSIG says: unsigned (nothing set), verified (`key`, `signer` for the
    answer), or an error with the answer to send (`reply`)."""

    key: bytes | None = None  # the verified key's name, lower-case wire form
    signer: Signer | None = None
    error: int = 0  # BADKEY, BADSIG, BADTIME, BADTRUNC, or FORMERR
    reply: bytes | None = None
    key_name: str = ""  # the name the request gave, for log lines
    unsigned: bytes = b""  # verified: the request as it was before it was signed

    def describe(self) -> str:
        """Why the request was answered with an error, for log lines."""
        named = f", key {self.key_name}" if self.key_name else ""
        return f"TSIG {ERRORS.get(self.error, str(self.error))}{named}"


def _reply_header(wire: bytes, question_end: int, rcode: int, opt: bytes = b"") -> bytes:
    """An answer without records to the request: its ID, opcode, RD and question; and the
    OPT record `opt`, if given."""
    ident, flags, qd = struct.unpack_from("!HHH", wire)
    flags = QR | (flags & (OPCODE_MASK | RD)) | rcode
    return _HEADER.pack(ident, flags, qd, 0, 0, 1 if opt else 0) + wire[12:question_end] + opt


def _error_reply(wire: bytes, found: Found, rcode: int, payload: int) -> bytes:
    """An answer without records to a request with a TSIG RR, with an OPT record (our
    payload size, the request's DO bit) when the request had one, as BIND, Knot and NSD
    answer: the TSIG RR added after it stays the last record (RFC 8945 section 5.3)."""
    opt = opt_record(payload, found.do) if found.edns else b""
    return _reply_header(wire, found.question_end, rcode, opt)


def formerr_reply(wire: bytes) -> bytes:
    """FORMERR, without TSIG, with the question if it can be read."""
    try:
        return _reply_header(wire, _skip_question(wire), FORMERR)
    except (FormatError, struct.error):
        return _reply_header(wire[:4] + bytes(8), 12, FORMERR)


def _unsigned_error(wire: bytes, found: Found, error: int, now: float, payload: int) -> Check:
    """BADKEY or BADSIG: NOTAUTH with an unsigned TSIG RR carrying the error (RFC 8945
    section 5.3.2)."""
    rd = found.rdata
    tsig = _tsig_rdata(rd.algorithm, int(now), rd.fudge, rd.original_id, error)
    reply = _append(_error_reply(wire, found, NOTAUTH, payload), found.owner, tsig)
    return Check(error=error, reply=reply, key_name=found.owner.to_text())


def check_request(wire: bytes, keys: Keys, now: float,
                  payload: int = DEFAULT_UDP_PAYLOAD) -> Check:
    """Verify a request's TSIG (RFC 8945 section 5.2: the key, then the MAC, then the
    time) against the configured keys, at time `now`. An error's answer carries an OPT
    record advertising `payload` if the request had one."""
    try:
        found = find_tsig(wire)
    except FormatError:
        return Check(error=FORMERR, reply=formerr_reply(wire))
    if found is None:
        return Check()
    rd = found.rdata
    key = key_from(keys, found.owner.to_wire() or b"")
    if key is None or ALGORITHMS[key.algorithm] != rd.algorithm:
        return _unsigned_error(wire, found, BADKEY, now, payload)
    full = dns.tsig.mac_sizes[ALGORITHMS[key.algorithm]]
    size = len(rd.mac)
    if size > full or size < max(10, full // 2):  # section 5.2.2.1
        return Check(error=FORMERR, reply=_error_reply(wire, found, FORMERR, payload),
                     key_name=found.owner.to_text())
    expected, _ = dns.tsig.sign(_without_tsig(wire, found), key.for_dnspython(found.owner),
                                rd, rd.time_signed)
    if not hmac.compare_digest(bytes(expected.mac)[:size], bytes(rd.mac)):
        return _unsigned_error(wire, found, BADSIG, now, payload)
    signer = Signer(key, bytes(rd.mac), found.owner)
    check = Check(key.name, signer, key_name=found.owner.to_text(),
                  unsigned=_without_tsig(wire, found))
    if size < full:  # a truncated MAC, which our policy does not take: signed BADTRUNC
        check.error = BADTRUNC
        check.reply = signer.sign(_error_reply(wire, found, NOTAUTH, payload), now,
                                  error=BADTRUNC)
    elif abs(rd.time_signed - int(now)) > rd.fudge:
        # Signed, with the request's Time Signed (so that its sender can check the MAC)
        # and our time in Other Data (section 5.2.3), as BIND does.
        check.error = BADTIME
        check.reply = signer.sign(_error_reply(wire, found, NOTAUTH, payload), now,
                                  error=BADTIME, other=int(now).to_bytes(6, "big"),
                                  time_signed=rd.time_signed, fudge=rd.fudge)
    return check


def sign_request(message: bytes, key: TsigKey, now: float) -> tuple[bytes, bytes]:
    """A request (a NOTIFY) signed with the key: (the signed message, its MAC, which the
    answer's signature covers)."""
    signer = Signer(key)
    signed = signer.sign(message, now)
    return signed, signer.mac


_PEER_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (dns.tsig.PeerBadKey, "the peer says BADKEY (it does not know the key)"),
    (dns.tsig.PeerBadSignature, "the peer says BADSIG (another secret?)"),
    (dns.tsig.PeerBadTime, "the peer says BADTIME (clocks apart)"),
    (dns.tsig.PeerBadTruncation, "the peer says BADTRUNC"),
    (dns.tsig.PeerError, "the peer says the TSIG is wrong"),
    (dns.tsig.BadKey, "signed with another key"),
    (dns.tsig.BadAlgorithm, "signed with another algorithm"),
    (dns.tsig.BadSignature, "bad signature"),
    (dns.tsig.BadTime, "signed at a time outside the fudge"),
)


def check_response(wire: bytes, key: TsigKey, request_mac: bytes, now: float) -> str | None:
    """Whether an answer to a request we signed with the key is signed by it in turn
    (covering our request's MAC): None when it is, else why not."""
    try:
        found = find_tsig(wire)
    except FormatError:
        return "malformed"
    if found is None:
        return "not signed"
    try:
        dns.tsig.validate(wire, key.for_dnspython(), found.owner, found.rdata,
                          int(now), request_mac, found.start)
    except Exception as exc:  # noqa: BLE001 - every failure is a reason to refuse it
        for kind, why in _PEER_ERRORS:
            if isinstance(exc, kind):
                return why
        return "bad TSIG"
    return None
