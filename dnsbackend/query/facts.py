"""What each response says for the metrics and rate limiting, found once, where it is made.

With the metrics or rate limiting on, the responder answers through a Facts: a memo of its
own (per snapshot and transport, like the snapshot's) whose entries keep, beside the
response less its ID, the id of the response's metric labels (zone, query type, rcode,
TC) and its rate limiting account (query.rrl: the kind of answer and the name it is
accounted by, hashed). Both are found on a memo miss, from what answer() noted (Note: the
zone it answered from, the lower-case name and the type), so neither needs the zone
looked up again nor the response parsed past its header. A repeated query then costs one
list append of a ready label id (summed once a second, off the query path, by
metrics.tally) and one attribute write of a ready account (read by OneSnapshot.finish()).
A response made elsewhere (signed, IXFR over UDP, an internal error), or one answer() gave
without a zone (errors, class CH), is read from its bytes by the same rules.
"""

from __future__ import annotations

import struct
from typing import Final

from ..store.snapshot import Snapshot, ZoneView
from ..wire.codes import FORMERR, NOTIMP, OPT, REFUSED, SERVFAIL
from ..wire.message import name_end
from .rrl import account_of, classified, response_account

DROPPED: Final = 0  # the label id of "no response"
NO_TYPE: Final = -1  # the type of a label whose response has no question
LIMIT: Final = 100_000  # entries per memo and transport (as the responder's); cleared when full
LABELS_LIMIT: Final = 100_000  # label ids before they are all forgotten (metrics.tally)
_COUNTS: Final = struct.Struct("!HHHH")  # after the flags: QD, AN, NS, AR counts
# Errors given before any zone is looked at, because none serves the name, or because none
# could answer (SERVFAIL: not ready at first start, an internal error); and the extended
# ones, above 15: BADVERS, BADCOOKIE. Their label has no zone.
_NOT_FROM_A_ZONE: Final = frozenset([FORMERR, SERVFAIL, NOTIMP, REFUSED])

# A metric label set: (the zone's origin, wire form as served, b"": none; the query type,
# NO_TYPE: none; the rcode, extended bits included; whether truncated).
LabelKey = tuple[bytes, int, int, bool]
# What the memo keeps of a response: (its bytes after the ID, b"": none; its label id; its
# account, -1: not accounted).
Remembered = tuple[bytes, object, int]


class Note:
    """What answer() noted of the query it answered from a zone (zone None: from none)."""

    def __init__(self) -> None:
        self.zone: ZoneView | None = None  # the closest served zone to the query name
        self.lower = b""  # the query name in lower case
        self.qtype = 0


class Facts:
    """The label ids and accounts of one serving process's responses, and the counts."""

    def __init__(self, metrics: bool, accounting: bool) -> None:
        self.metrics = metrics  # whether responses are counted (their label ids listed)
        self.accounting = accounting  # whether UDP responses' accounts are found
        self.snapshot: Snapshot | None = None  # the snapshot the memos belong to
        self.memo: tuple[dict[bytes, Remembered], dict[bytes, Remembered]] = ({}, {})
        # The label ids of the responses given, over UDP [0] and TCP [1], since the last fold.
        self.counted: tuple[list[object], list[object]] = ([], [])
        self.labels: list[LabelKey] = [(b"", NO_TYPE, 0, False)]  # by id; 0: DROPPED
        self.ids: dict[LabelKey, object] = {}
        self.note = Note()
        self.account = -1  # the account of the last response given (-1: none)

    def account_too(self, accounting: bool) -> None:
        """Find accounts from now on, or stop: what is remembered without them goes."""
        if accounting != self.accounting:
            self.accounting = accounting
            self.snapshot = None

    def memo_of(self, snapshot: Snapshot, tcp: bool) -> dict[bytes, Remembered]:
        """The memo of a transport, emptied when the snapshot is not the last one's."""
        if snapshot is not self.snapshot:
            self.snapshot = snapshot
            self.memo[0].clear()
            self.memo[1].clear()
        return self.memo[tcp]

    def forget_labels(self) -> None:
        """Forget the label ids (when there are more than LABELS_LIMIT), and with them
        what is remembered; only once the counted ids are summed."""
        del self.labels[1:]
        self.ids.clear()
        self.snapshot = None

    def noted(self, response: bytes | None, snapshot: Snapshot,
              tcp: bool) -> tuple[object, int]:
        """(label id, account) of a response answer() just gave, by what it noted."""
        if response is None:
            return DROPPED, -1
        note = self.note
        zone = note.zone
        if zone is None:
            return self.read(response, snapshot, tcp)
        rcode = response[3] & 0x0F
        label: object = DROPPED
        if self.metrics:
            origin = b"" if rcode in _NOT_FROM_A_ZONE else zone.origin
            label = self.label((origin, note.qtype, rcode, bool(response[2] & 0x02)))
        account = -1
        if self.accounting and not tcp:
            kind, name, qtype = classified(response, zone, note.lower, 16 + len(note.lower))
            account = account_of(kind, name, qtype)
        return label, account

    def read(self, response: bytes, snapshot: Snapshot, tcp: bool) -> tuple[object, int]:
        """(label id, account) of a response, read from its bytes."""
        label = self.label(read_label(response, snapshot)) if self.metrics else DROPPED
        account = -1
        if self.accounting and not tcp and len(response) >= 12:
            account = response_account(response, snapshot)
        return label, account

    def given(self, response: bytes | None, snapshot: Snapshot, tcp: bool) -> None:
        """Count a response made elsewhere (read from its bytes), and keep its account."""
        self.note.zone = None
        label, self.account = self.noted(response, snapshot, tcp)
        if self.metrics:
            self.counted[tcp].append(label)

    def label(self, key: LabelKey) -> object:
        """The id of a label set."""
        found = self.ids.get(key)
        if found is None:
            found = len(self.labels)
            self.labels.append(key)
            self.ids[key] = found
        return found


def read_label(response: bytes, snapshot: Snapshot) -> LabelKey:
    """The label set of a response, from its bytes: header, question, the OPT of an error
    for its extended rcode; the zone, the closest served to the question."""
    if len(response) < 12:
        return b"", NO_TYPE, FORMERR, False
    rcode = response[3] & 0x0F
    truncated = bool(response[2] & 0x02)
    qdcount, ancount, nscount, arcount = _COUNTS.unpack_from(response, 4)
    end = name_end(response, 12) if qdcount else -1
    if end < 0 or end + 4 > len(response):
        return b"", NO_TYPE, rcode, truncated
    qtype = (response[end] << 8) | response[end + 1]
    at = end + 4
    if rcode == 0 and not ancount and not nscount and arcount == 1 and \
            response[at:at + 3] == b"\x00" + OPT.to_bytes(2, "big") and len(response) > at + 5:
        rcode |= response[at + 5] << 4  # the OPT's upper 8 bits (BADVERS, BADCOOKIE)
    origin = b""
    if rcode not in _NOT_FROM_A_ZONE and rcode <= 15:
        zone = snapshot.find_zone(response[12:end].lower())
        if zone is not None:
            origin = zone.origin
    return origin, qtype, rcode, truncated
