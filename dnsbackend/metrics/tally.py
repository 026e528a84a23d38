"""What counted responses say: zone, query type, rcode and truncation, read once per response.

The responder lists the responses it sent by their bytes after the ID (query/responder.py);
here they are counted, each distinct one is read (header, question, the OPT of an error
for its extended rcode) and its zone found, and the counts are summed by those labels.
This runs once a second, off the query path, and remembers what it read until the zones
served change.
"""

from __future__ import annotations

import collections
import struct
from typing import Final, NamedTuple

import dns.name
import dns.rcode
import dns.rdatatype

from ..store.snapshot import Snapshot
from ..wire.codes import FORMERR, NOTIMP, OPT, REFUSED, SERVFAIL
from ..wire.message import name_end

NO_ZONE: Final = "(none)"  # the zone label of answers from no served zone (REFUSED, FORMERR)
OTHER: Final = "other"  # the type label of types without a name (bounds the label values)
REMEMBERED: Final = 100_000  # responses whose labels are kept between folds
_COUNTS: Final = struct.Struct("!HHHH")  # after the flags: QD, AN, NS, AR counts
# Errors given before any zone is looked at, because none serves the name, or because none
# could answer (SERVFAIL: not ready at first start, an internal error); and the extended
# ones, above 15: BADVERS, BADCOOKIE.
_NOT_FROM_A_ZONE: Final = frozenset([FORMERR, SERVFAIL, NOTIMP, REFUSED])


class Labels(NamedTuple):
    """What one response says, as metric label values."""

    zone: str
    qtype: str
    rcode: str
    truncated: bool


class Folded(NamedTuple):
    """Counts of one fold: by labels; dropped (no response); malformed (FORMERR)."""

    by_labels: dict[Labels, int]
    dropped: int
    malformed: int


class Tally:
    """Sums counted responses by their labels; remembers each response's labels."""

    def __init__(self) -> None:
        self.read: dict[bytes, Labels] = {}
        self.txn_id = -1  # the snapshot the remembered zone labels were found in
        self.origins: dict[bytes, str] = {}

    def fold(self, counted: list[bytes], snapshot: Snapshot) -> Folded:
        """Sum the `counted` responses (each after its ID; b"": dropped) by labels."""
        if snapshot.txn_id != self.txn_id or len(self.read) > REMEMBERED:
            self.read.clear()
            self.txn_id = snapshot.txn_id
        by_labels: dict[Labels, int] = {}
        dropped = malformed = 0
        for kept, count in collections.Counter(counted).items():  # C: 20-30 ns a response
            if not kept:
                dropped += count
                continue
            labels = self.read.get(kept)
            if labels is None:
                labels = self.read[kept] = self.labels(kept, snapshot)
            by_labels[labels] = by_labels.get(labels, 0) + count
            if labels.rcode == "FORMERR":
                malformed += count
        return Folded(by_labels, dropped, malformed)

    def labels(self, kept: bytes, snapshot: Snapshot) -> Labels:
        """The labels of one response (its bytes after the ID)."""
        if len(kept) < 10:
            return Labels(NO_ZONE, "", rcode_text(FORMERR), False)
        rcode = kept[1] & 0x0F
        truncated = bool(kept[0] & 0x02)
        qdcount, ancount, nscount, arcount = _COUNTS.unpack_from(kept, 2)
        end = name_end(kept, 10) if qdcount else -1
        if end < 0 or end + 4 > len(kept):
            return Labels(NO_ZONE, "", rcode_text(rcode), truncated)
        qname = kept[10:end]
        qtype = (kept[end] << 8) | kept[end + 1]
        at = end + 4
        if rcode == 0 and not ancount and not nscount and arcount == 1 and \
                kept[at:at + 3] == b"\x00" + OPT.to_bytes(2, "big") and len(kept) > at + 5:
            rcode |= kept[at + 5] << 4  # the OPT's upper 8 bits (BADVERS, BADCOOKIE)
        zone = NO_ZONE if rcode in _NOT_FROM_A_ZONE or rcode > 15 else \
            self._zone(qname.lower(), snapshot)
        return Labels(zone, type_text(qtype), rcode_text(rcode), truncated)

    def _zone(self, lower: bytes, snapshot: Snapshot) -> str:
        zone = snapshot.find_zone(lower)
        if zone is None:
            return NO_ZONE
        origin = zone.meta.origin
        text = self.origins.get(origin)
        if text is None:
            text = self.origins[origin] = dns.name.from_wire(origin, 0)[0].to_text()
        return text


def type_text(qtype: int) -> str:
    """A type's mnemonic (A, AAAA, ...), or OTHER for one without a name."""
    text = dns.rdatatype.RdataType(qtype).name
    return OTHER if text.startswith("TYPE") else text


def rcode_text(rcode: int) -> str:
    """An rcode's mnemonic (NOERROR, NXDOMAIN, BADVERS, ...), or its number."""
    return str(dns.rcode.Rcode(rcode).name)
