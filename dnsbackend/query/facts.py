"""What each response says for the metrics and rate limiting, found once, where it is made.

With the metrics or rate limiting on, the responder remembers its responses in a Facts
instead of the snapshot's memo: each response (less its ID) with its fact, one int made of
the id of its metric labels (zone, query type, rcode, TC) and its rate limiting account
(query.rrl: the kind of answer and the name it is accounted by, hashed), kept apart in a
list and a vector, so that remembering a response makes no object the snapshot's memo
would not (and none the garbage collector looks at). Both are found on a memo miss, from
what answer() noted (Note: the zone it answered from, the lower-case name and the type,
whether anything was made up), so neither needs the zone looked up again nor the
response parsed past its header. A repeated query then costs the one memo look-up, one
count bumped in place (a vector of counts by label id, summed once a second, off the
query path, by metrics.tally) and one attribute write of its account (read by the UDP
layer). A response made elsewhere (signed, IXFR over UDP, an internal error), or one
answer() gave without a zone (errors, class CH), is read from its bytes by the same rules.
"""

from __future__ import annotations

import struct
from typing import Final

from librt.vecs import append, vec
from mypy_extensions import i64

from ..store.snapshot import Snapshot, ZoneView
from ..wire.codes import FORMERR, NOTIMP, OPT, REFUSED, SERVFAIL
from ..wire.message import name_end
from .rrl import account_of, classified, response_account

DROPPED: Final = 0  # the label id of "no response"
NO_TYPE: Final = -1  # the type of a label whose response has no question
LABELS_LIMIT: Final = 100_000  # label ids before they are all forgotten (metrics.tally)
LABEL_BITS: Final = 20  # a fact: (account + 1) << LABEL_BITS | label id
LABEL_MASK: Final = (1 << LABEL_BITS) - 1
LABEL_SLOTS: Final = 4093  # label ids of recent label sets kept in a cache
_COUNTS: Final = struct.Struct("!HHHH")  # after the flags: QD, AN, NS, AR counts
# A metric label set: (the zone's origin, wire form as served, b"": none; the query type,
# NO_TYPE: none; the rcode, extended bits included; whether truncated).
LabelKey = tuple[bytes, int, int, bool]


def _from_a_zone(rcode: int) -> bool:
    """Whether the label of a response of this (4-bit) rcode has a zone: not the errors
    given before any zone is looked at, because none serves the name, or because none
    could answer (SERVFAIL: not ready at first start, an internal error). (The extended
    ones, above 15: BADVERS, BADCOOKIE, have none either.)"""
    return rcode != FORMERR and rcode != SERVFAIL and rcode != NOTIMP and rcode != REFUSED


class Note:
    """What answer() noted of the query it answered from a zone (zone None: from none)."""

    def __init__(self) -> None:
        self.zone: ZoneView | None = None  # the closest served zone to the query name
        self.lower = b""  # the query name in lower case
        self.qtype = 0
        self.made_up = True  # whether anything of the answer was (wildcard, DNAME)


class Memo:
    """The responses of one transport remembered with their facts, in place of the
    snapshot's memo: under the query less its ID, the place of its response (less its ID;
    b"": none) and fact in a list and a vector. No object is made per response beyond
    what the snapshot's memo makes (the places are ints made once, shared), so that the
    garbage collector has nothing new to look at."""

    def __init__(self) -> None:
        self.places: dict[bytes, object] = {}  # an int: the index in tails and facts
        self.tails: list[bytes] = []
        self.facts: vec[i64] = vec[i64]()
        self.numbers = _NUMBERS

    def __len__(self) -> int:
        return len(self.places)

    def clear(self) -> None:
        self.places.clear()
        self.tails.clear()
        self.facts = vec[i64]()

    def keep(self, key: bytes, tail: bytes, fact: i64, limit: int) -> None:
        """Remember `tail` and `fact` under `key`; all is forgotten first if `limit`
        entries are kept."""
        tails = self.tails
        at = len(tails)
        if at >= limit:
            self.clear()
            at = 0
        numbers = self.numbers
        if at >= len(numbers):
            numbers.append(at)
        self.places[key] = numbers[at]
        tails.append(tail)
        self.facts = append(self.facts, fact)


_NUMBERS: list[object] = []  # the ints 0, 1, 2...: Memo's places, each made once


class Facts:
    """The facts of one serving process's responses, and the counts by label set."""

    def __init__(self, metrics: bool, accounting: bool) -> None:
        self.metrics = metrics  # whether responses are counted
        self.accounting = accounting  # whether UDP responses' accounts are found
        self.snapshot: Snapshot | None = None  # the snapshot the facts are of
        # The memo of the snapshot while the facts are kept (in place of its own), per
        # transport (attributes of their own: the compiled code reads them without an
        # index).
        self.udp_memo = Memo()
        self.tcp_memo = Memo()
        self.labels: list[LabelKey] = [(b"", NO_TYPE, 0, False)]  # by id; 0: DROPPED
        self.ids: dict[bytes, dict[int, int]] = {}  # by origin: by type, rcode and TC
        self.numbers: dict[bytes, int] = {}  # by origin: its number (from 1), for the cache
        self.last_origin = b""  # the origin of the last label set found, its ids and number
        self.last_ids: dict[int, int] = {}
        self.last_number: i64 = 0
        # The ids of recent label sets by (origin number << 30 | code) % LABEL_SLOTS.
        self.recent_keys: vec[i64] = vec[i64]([-1] * LABEL_SLOTS)
        self.recent_ids: vec[i64] = vec[i64]([0] * LABEL_SLOTS)
        # The counts by label id since the last fold, per transport.
        self.udp_counts: vec[i64] = vec[i64]([0])
        self.tcp_counts: vec[i64] = vec[i64]([0])
        self.note = Note()
        self.account: i64 = -1  # the account of the last response given (-1: none)

    def account_too(self, accounting: bool) -> None:
        """Find accounts from now on, or stop: the facts found without them go."""
        if accounting != self.accounting:
            self.accounting = accounting
            self.snapshot = None

    def memo_of(self, snapshot: Snapshot, tcp: bool) -> Memo:
        """The memo of a transport, emptied when the snapshot is not the last one's."""
        if snapshot is not self.snapshot:
            self.snapshot = snapshot
            self.udp_memo.clear()
            self.tcp_memo.clear()
        return self.tcp_memo if tcp else self.udp_memo

    def take_counts(self, tcp: bool) -> list[tuple[int, int]]:
        """(label id, count) of the label sets of a transport counted since the last time,
        their counts zeroed."""
        counts = self.tcp_counts if tcp else self.udp_counts
        taken = []
        for label in range(len(counts)):
            count = counts[label]
            if count:
                counts[label] = 0
                taken.append((label, int(count)))
        return taken

    def forget_labels(self) -> None:
        """Forget the label ids (when there are more than LABELS_LIMIT), and with them the
        facts; only once the counts are summed (metrics.tally)."""
        del self.labels[1:]
        self.ids.clear()
        self.numbers.clear()
        self.last_origin = b""
        self.last_ids = {}
        self.last_number = 0
        self.recent_keys = vec[i64]([-1] * LABEL_SLOTS)
        self.udp_counts = vec[i64]([0])
        self.tcp_counts = vec[i64]([0])
        self.snapshot = None

    def given(self, fact: i64, tcp: bool) -> None:
        """A response of this fact is given: count it, keep its account."""
        if self.metrics:
            label = fact & LABEL_MASK
            if tcp:
                self.tcp_counts[label] += 1
            else:
                self.udp_counts[label] += 1
        self.account = (fact >> LABEL_BITS) - 1

    def noted(self, response: bytes | None, snapshot: Snapshot, tcp: bool) -> i64:
        """The fact of a response answer() just gave, by what it noted."""
        if response is None:
            return DROPPED
        note = self.note
        zone = note.zone
        if zone is None:
            return self.read(response, snapshot, tcp)
        label: i64 = 0
        if self.metrics:
            rcode = response[3] & 0x0F
            origin = zone.origin if _from_a_zone(rcode) else b""
            label = self.label(origin, note.qtype, rcode, bool(response[2] & 0x02))
        if self.accounting and not tcp:
            kind, name, qtype = classified(response, zone, note.lower, 16 + len(note.lower),
                                           note.made_up)
            label |= (account_of(kind, name, qtype) + 1) << LABEL_BITS
        return label

    def read(self, response: bytes, snapshot: Snapshot, tcp: bool) -> i64:
        """The fact of a response, read from its bytes."""
        fact: i64 = self.label(*read_label(response, snapshot)) if self.metrics else 0
        if self.accounting and not tcp and len(response) >= 12:
            fact |= (response_account(response, snapshot) + 1) << LABEL_BITS
        return fact

    def made_elsewhere(self, response: bytes | None, snapshot: Snapshot, tcp: bool) -> None:
        """Count a response made elsewhere (read from its bytes), and keep its account."""
        self.given(DROPPED if response is None else self.read(response, snapshot, tcp), tcp)

    def label(self, origin: bytes, qtype: int, rcode: int, truncated: bool) -> i64:
        """The id of a label set: from the recent ones' cache (a vector indexed by the set's
        code), else from the origin's ids."""
        if origin is not self.last_origin:
            self._origin(origin)
        code = (qtype & 0xFFFF) | (rcode << 16) | (truncated << 28) | ((qtype < 0) << 29)
        key: i64 = (self.last_number << 30) | code
        slot = key % LABEL_SLOTS
        if self.recent_keys[slot] == key:
            return self.recent_ids[slot]
        ids = self.last_ids
        found = ids.get(code, -1)
        if found < 0:
            found = ids[code] = len(self.labels)
            self.labels.append((origin, qtype, rcode, truncated))
            self.udp_counts = append(self.udp_counts, 0)
            self.tcp_counts = append(self.tcp_counts, 0)
        self.recent_keys[slot] = key
        self.recent_ids[slot] = found
        return found

    def _origin(self, origin: bytes) -> None:
        """Make `origin` the last one: its ids and number."""
        found_ids = self.ids.get(origin)
        if found_ids is None:
            found_ids = self.ids[origin] = {}
            self.numbers[origin] = len(self.numbers) + 1
        self.last_ids = found_ids
        self.last_number = self.numbers[origin]
        self.last_origin = origin


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
    if _from_a_zone(rcode) and rcode <= 15:
        zone = snapshot.find_zone(response[12:end].lower())
        if zone is not None:
            origin = zone.origin
    return origin, qtype, rcode, truncated
