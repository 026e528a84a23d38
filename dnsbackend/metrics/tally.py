"""What counted responses say, as metric labels: zone, query type, rcode and truncation.

The responder counts the responses it gives by label set (query/facts.py: a response's
label id is found once, where it is made, and remembered with it). Here, once a second
and off the query path, the counts are summed, and each label set is spelled out once
(the zone's name as text, the type's and the rcode's mnemonics).
"""

from __future__ import annotations

from typing import Final, NamedTuple

import dns.name
import dns.rcode
import dns.rdatatype

from ..query.facts import DROPPED, LABELS_LIMIT, NO_TYPE, Facts, LabelKey, read_label
from ..store.snapshot import Snapshot

NO_ZONE: Final = "(none)"  # the zone label of answers from no served zone (REFUSED, FORMERR)
OTHER: Final = "other"  # the type label of types without a name (bounds the label values)


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
    """Sums the responder's counts by labels; remembers how each label set reads."""

    def __init__(self) -> None:
        self.read: dict[LabelKey, Labels] = {}

    def fold(self, facts: Facts, tcp: bool) -> Folded:
        """Sum (and zero) the counts of a transport by labels."""
        by_labels: dict[Labels, int] = {}
        dropped = malformed = 0
        keys = facts.labels
        for label, count in facts.take_counts(tcp):
            if label == DROPPED:
                dropped += count
                continue
            key = keys[label]
            labels = self.read.get(key)
            if labels is None:
                labels = self.read[key] = self.labels(key)
            by_labels[labels] = by_labels.get(labels, 0) + count
            if labels.rcode == "FORMERR":
                malformed += count
        if len(keys) > LABELS_LIMIT and tcp:  # both transports summed (UDP first)
            facts.forget_labels()
            self.read.clear()
        return Folded(by_labels, dropped, malformed)

    def response_labels(self, response: bytes, snapshot: Snapshot) -> Labels:
        """The labels of a response, read from its bytes (the query log's)."""
        key = read_label(response, snapshot)
        labels = self.read.get(key)
        if labels is None:
            if len(self.read) >= LABELS_LIMIT:
                self.read.clear()
            labels = self.read[key] = self.labels(key)
        return labels

    def labels(self, key: LabelKey) -> Labels:
        """How a label set reads."""
        origin, qtype, rcode, truncated = key
        return Labels(zone_text(origin), "" if qtype == NO_TYPE else type_text(qtype),
                      rcode_text(rcode), truncated)


def zone_text(origin: bytes) -> str:
    """A zone's name as text (its origin in wire form), or NO_ZONE for b""."""
    return dns.name.from_wire(origin, 0)[0].to_text() if origin else NO_ZONE


def type_text(qtype: int) -> str:
    """A type's mnemonic (A, AAAA, ...), or OTHER for one without a name."""
    text = dns.rdatatype.RdataType(qtype).name
    return OTHER if text.startswith("TYPE") else text


def rcode_text(rcode: int) -> str:
    """An rcode's mnemonic (NOERROR, NXDOMAIN, BADVERS, ...), or its number."""
    return str(dns.rcode.Rcode(rcode).name)
