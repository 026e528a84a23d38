"""NOTIFY (RFC 1996) as a state machine without I/O: which messages to send when, given the
zones' serials, the answers received and the time the caller passes in. A target with a
TSIG key gets its NOTIFY signed, and only an answer signed in turn acknowledges it."""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..wire.codes import AA, CLASS_IN, QR, SOA
from ..wire.message import FormatError, parse_fields
from .tsig import TsigKey, check_response, sign_request

NOTIFY_OPCODE = 4
FIRST_RETRY = 1.0  # seconds before a target that did not answer is asked again
MAX_RETRY = 60.0  # the longest wait between tries (doubling from FIRST_RETRY)
TRIES = 8  # then the target is given up on until the next serial
_HEADER = struct.Struct("!HHHHHH")
_TYPE_CLASS = struct.Struct("!HH")
_RR_FIXED = struct.Struct("!HHIH")

Target = tuple[str, int]  # (address, port)


@dataclass
class Pending:
    """A NOTIFY one target has not acknowledged yet."""

    origin: bytes  # wire form
    serial: int
    soa: tuple[int, bytes]  # (TTL, rdata) of the SOA to announce
    ident: int = 0
    tries: int = 0
    due: float = 0.0  # when to send next
    key: TsigKey | None = None  # sign with it; the answer must be signed with it too
    mac: bytes = field(default=b"", repr=False)  # the MAC of the last NOTIFY sent


@dataclass
class Acked:
    """What a target last acknowledged for a zone."""

    serial: int
    at: float


@dataclass
class Notifier:
    """Which targets still need to hear of which zone serial. Bursts of edits coalesce: a
    newer serial replaces the one waiting, whatever its retries."""

    pending: dict[tuple[bytes, Target], Pending] = field(default_factory=dict)
    acked: dict[tuple[bytes, Target], Acked] = field(default_factory=dict)
    given_up: list[tuple[bytes, Target, int]] = field(default_factory=list)  # to be logged
    # Answers that did not count, to be logged: (zone, target, why) (a bad TSIG...)
    rejected: list[tuple[bytes, Target, str]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    def changed(self, origin: bytes, serial: int, soa: tuple[int, bytes],
                targets: list[Target], now: float,
                keys: Mapping[Target, TsigKey] | None = None) -> None:
        """A zone has a new serial: tell every target, now (signed with its key in `keys`,
        if it has one)."""
        lower = origin.lower()
        for target in targets:
            key = None if keys is None else keys.get(target)
            self.pending[(lower, target)] = Pending(origin, serial, soa, due=now, key=key)

    def due(self, now: float, wall: float | None = None) -> list[tuple[Target, bytes]]:
        """The messages to send now; call again by `next_due()`. `wall` is the time TSIG
        signatures are made at (seconds since the epoch; `now` if not given)."""
        out = []
        for key, item in list(self.pending.items()):
            if item.due > now:
                continue
            if item.tries >= TRIES:
                del self.pending[key]
                self.given_up.append((key[0], key[1], item.serial))
                continue
            item.tries += 1
            item.ident = self.rng.randrange(0x10000)
            item.due = now + min(FIRST_RETRY * 2 ** (item.tries - 1), MAX_RETRY)
            message = notify_message(item)
            if item.key is not None:
                message, item.mac = sign_request(message, item.key,
                                                 now if wall is None else wall)
            out.append((key[1], message))
        return out

    def next_due(self) -> float | None:
        """When due() has something to send next; None when nothing is pending."""
        return min((p.due for p in self.pending.values()), default=None)

    def answered(self, data: bytes, source: Target, now: float,
                 wall: float | None = None) -> tuple[bytes, int] | None:
        """An answer arrived from `source`: (zone, serial) it acknowledged, if it matches a
        NOTIFY we sent it (same id, zone, opcode, from that address) and, when that was
        signed, is signed with the same key over our NOTIFY's MAC (checked at `wall`, the
        time since the epoch; `now` if not given). A bad signature goes to `rejected`."""
        if len(data) < 12 or not data[2] & 0x80:
            return None
        opcode = (data[2] >> 3) & 0xF
        try:
            fields = parse_fields(_as_query(data))
        except FormatError:
            return None
        ident, _, qname, qtype, qclass = fields[:5]
        if opcode != NOTIFY_OPCODE or qtype != SOA or qclass != CLASS_IN:
            return None
        key = (qname.lower(), source)
        item = self.pending.get(key)
        if item is None or item.ident != ident:
            return None
        if item.key is not None:
            why = check_response(data, item.key, item.mac, now if wall is None else wall)
            if why is not None:
                self.rejected.append((key[0], source, f"TSIG key {item.key.text()}: {why}"))
                return None
        del self.pending[key]
        self.acked[key] = Acked(item.serial, now)
        return key[0], item.serial


def _as_query(data: bytes) -> bytes:
    """The answer with QR cleared and its answer section dropped, for the query parser."""
    ident, flags, qd, _, _, _ = _HEADER.unpack_from(data)
    end = 12
    if qd != 1:
        raise FormatError("not one question")
    while end < len(data) and data[end]:
        end += data[end] + 1
    end += 5
    return _HEADER.pack(ident, flags & ~QR & 0xFFFF, 1, 0, 0, 0) + data[12:end]


def notify_message(item: Pending) -> bytes:
    """NOTIFY for a zone, with its SOA in the answer section (RFC 1996 section 3.7)."""
    flags = (NOTIFY_OPCODE << 11) | AA
    ttl, rdata = item.soa
    question = item.origin + _TYPE_CLASS.pack(SOA, CLASS_IN)
    answer = b"\xc0\x0c" + _RR_FIXED.pack(SOA, CLASS_IN, ttl, len(rdata)) + rdata
    return _HEADER.pack(item.ident, flags, 1, 1, 0, 0) + question + answer
