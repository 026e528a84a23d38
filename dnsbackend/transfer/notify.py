"""NOTIFY (RFC 1996) as a state machine without I/O: which messages to send when, given the
zones' serials, the answers received and the time the caller passes in."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from ..wire.codes import AA, CLASS_IN, QR, SOA
from ..wire.message import FormatError, parse_fields

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
    rng: random.Random = field(default_factory=random.Random)

    def changed(self, origin: bytes, serial: int, soa: tuple[int, bytes],
                targets: list[Target], now: float) -> None:
        """A zone has a new serial: tell every target, now."""
        lower = origin.lower()
        for target in targets:
            self.pending[(lower, target)] = Pending(origin, serial, soa, due=now)

    def due(self, now: float) -> list[tuple[Target, bytes]]:
        """The messages to send now; call again by `next_due()`."""
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
            out.append((key[1], notify_message(item)))
        return out

    def next_due(self) -> float | None:
        """When due() has something to send next; None when nothing is pending."""
        return min((p.due for p in self.pending.values()), default=None)

    def answered(self, data: bytes, source: Target, now: float) -> tuple[bytes, int] | None:
        """An answer arrived from `source`: (zone, serial) it acknowledged, if it matches a
        NOTIFY we sent it (same id, zone, opcode, from that address)."""
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
