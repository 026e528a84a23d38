"""Records as read from zone files, and the builder both readers feed them to (BIND's merging)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import dns.name
import dns.rdatatype

from ..store.format import Node
from ..wire.codes import CNAME, DNAME, KEY, MX, NS, NSEC, NSEC3, RRSIG, SOA, SRV
from ..wire.compress import Compressor


class Record(NamedTuple):
    """One resource record as read from a zone file (wire forms, original letter case)."""

    owner: bytes  # absolute owner name, uncompressed wire form
    rtype: int  # RR type code
    ttl: int  # TTL in seconds
    rdata: bytes  # uncompressed rdata wire form
    where: str  # "file:line" where the record's RRset first appears


class ZoneFileError(Exception):
    """A zone file that cannot be served, with every error found in it (up to a limit).

    `errors` are `file:line: message` lines in file order (at most MAX_ERRORS kept) and
    `count` is how many errors there were in all. str() is one line for logs: the first
    error, then "(and N more)" when there were others.
    """

    def __init__(self, *errors: str, count: int = 0) -> None:
        super().__init__(*errors)
        self.errors = list(errors[:MAX_ERRORS])
        self.count = max(count, len(errors))
        self.includes: list[str] = []  # the files it $INCLUDEd or tried to (real paths)

    def __str__(self) -> str:
        first = self.errors[0] if self.errors else "zone file error"
        more = self.count - 1
        return f"{first} (and {more} more)" if more > 0 else first


MAX_ERRORS = 1000  # errors kept (and read on to) per file: BIND reports every one


class TooManyErrors(Exception):
    """Raised by Errors.add once MAX_ERRORS were found: reading stops there."""


class Errors:
    """The errors found in one zone file, gathered so that all of them are reported."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.messages)

    def add(self, message: str) -> None:
        self.messages.append(message)
        if len(self.messages) >= MAX_ERRORS:
            raise TooManyErrors

    def check(self) -> None:
        """Raise ZoneFileError if there were any."""
        if self.messages:
            raise ZoneFileError(*self.messages)


@dataclass
class ParsedZone:
    """Everything read from one zone file (and the files it includes)."""

    origin: dns.name.Name  # the zone's apex
    # grouped by owner, then RRset, in order of first appearance: every record, or (read
    # with every_record=False) only those of CHECKED_TYPES, when `nodes` hold them all
    records: list[Record]
    includes: list[str] = field(default_factory=list)  # absolute paths of $INCLUDEd files
    warnings: list[str] = field(default_factory=list)  # `file:line: message` lines
    # The same records as stored nodes by lower-case owner, when the reader's builder made
    # them in the same pass (ZoneBuilder.finish); zone.nodes adds the empty non-terminals.
    nodes: dict[bytes, Node] | None = None
    count: int | None = None  # how many records in all, when `records` are not all of them


# The types whose records a reader lists when not asked for every record: the ones the
# checks read (zone.checks: the apex SOA and NS, the targets of NS, MX and SRV records).
CHECKED_TYPES = frozenset({SOA, NS, MX, SRV})
# A record's `where` in the builder is a number: its file's (ZoneBuilder.file_code) plus
# its line, made "file:line" text only for the records listed and for messages.
LINE_BITS = 32
_LINE_MASK = (1 << LINE_BITS) - 1


MAX_TTL = 2**31 - 1  # RFC 2181 8; BIND loads a larger TTL as 0, with a warning
_PLACED = frozenset({SOA, NS})  # types BIND refuses at some names (_check_place)
# Types BIND refuses more than one record of at a name ("multiple RRs of singleton type").
SINGLETON_TYPES = frozenset({SOA, CNAME, DNAME})
# Types that may sit beside a CNAME (RFC 2181 10.1, RFC 4035 2.5), with their signatures.
_NEUTRAL_TYPES = frozenset({NSEC, NSEC3, KEY})

RRsetKey = tuple[int, int]  # (rtype, covers): covers is the type an RRSIG signs, else 0


def _node_kind(rtype: int, covers: int) -> int:
    """1 for CNAME data, 0 for types allowed beside anything, 2 for every other type."""
    base = covers if rtype == RRSIG else rtype
    if base == CNAME:
        return 1
    return 0 if base in _NEUTRAL_TYPES else 2


class _RRsetDraft:
    """An RRset being gathered. An rdata written twice (in canonical form) keeps its first
    place and its last spelling."""

    __slots__ = ("ttl", "batch", "where", "first_canonical", "first", "more")

    def __init__(self, ttl: int, batch: int, where: int, canonical: bytes, rdata: bytes) -> None:
        self.ttl = ttl
        self.batch = batch  # the batch its TTL was last set in
        self.where = where  # file and line of its first record (ZoneBuilder.where_text)
        self.first_canonical = canonical
        self.first = rdata
        self.more: dict[bytes, bytes] | None = None  # canonical rdata -> rdata, the later ones


class _NameDraft:
    """The RRsets of one owner name: most names have one, which is kept without a dict."""

    __slots__ = ("owner", "only_key", "only", "rrsets")

    def __init__(self, owner: bytes, key: RRsetKey, rrset: _RRsetDraft) -> None:
        self.owner = owner  # as first written
        self.only_key: RRsetKey | None = key  # the key of its only RRset; None once several
        self.only: _RRsetDraft | None = rrset
        self.rrsets: dict[RRsetKey, _RRsetDraft] | None = None  # once it has several

    def get(self, key: RRsetKey) -> _RRsetDraft | None:
        if self.rrsets is not None:
            return self.rrsets.get(key)
        return self.only if key == self.only_key else None

    def types(self) -> list[RRsetKey]:
        if self.rrsets is not None:
            return list(self.rrsets)
        assert self.only_key is not None
        return [self.only_key]

    def put(self, key: RRsetKey, rrset: _RRsetDraft) -> None:
        if self.rrsets is None:
            assert self.only_key is not None and self.only is not None
            self.rrsets = {self.only_key: self.only}
            self.only_key = None
            self.only = None
        self.rrsets[key] = rrset

    def items(self) -> list[tuple[RRsetKey, _RRsetDraft]]:
        if self.rrsets is not None:
            return list(self.rrsets.items())
        assert self.only_key is not None and self.only is not None
        return [(self.only_key, self.only)]


class ZoneBuilder:
    """Collects records as a zone file is read, merging them into RRsets the way BIND does.

    Both readers (dnspython's and the fast one) feed records here, so duplicate removal, TTL
    merging and the per-name checks are the same for both. BIND's loader gathers consecutive
    records of one owner name (compared with letter case) into a batch: inside a batch an
    RRset keeps the TTL of its first record ("TTL set to prior TTL"); a later batch for the
    same RRset replaces its TTL.
    """

    def __init__(self, origin: dns.name.Name, every_record: bool = True) -> None:
        apex = origin.to_wire()
        assert apex is not None
        self.apex_lower = apex.lower()
        # whether finish() lists every record, or only those of CHECKED_TYPES (a third of
        # a big zone's parse and of its memory is a Record for each)
        self.every_record = every_record
        self.files: list[str] = []  # by file_code() >> LINE_BITS
        self.names: dict[bytes, _NameDraft] = {}  # by lower-case owner
        self.warnings: list[str] = []
        self.batch = 0
        self.batch_owner: bytes | None = None
        self.batch_name: _NameDraft | None = None  # batch_owner's draft, once found or made
        # lower-case owners whose records came in more than one batch: how many batches
        self.repeated: dict[bytes, int] = {}
        self._keys: dict[RRsetKey, RRsetKey] = {}  # one key object per type
        self._type_keys: dict[int, RRsetKey] = {}  # the same by type, for covers 0
        self._clamped: set[int] = set()  # TTLs over MAX_TTL already warned about

    def file_code(self, filename: str) -> int:
        """What to add a line number of `filename` to, for the `where` of add()."""
        if filename not in self.files:
            self.files.append(filename)
        return self.files.index(filename) << LINE_BITS

    def where_text(self, where: int) -> str:
        """A `where` of add() as `file:line`."""
        return f"{self.files[where >> LINE_BITS]}:{where & _LINE_MASK}"

    def break_batch(self) -> None:
        """The next record starts a new batch whatever its owner ($INCLUDE, skipped names)."""
        self.batch_owner = None
        self.batch_name = None

    def add(self, owner: bytes, rtype: int, covers: int, ttl: int, rdata: bytes,
            canonical: bytes, where: int) -> int:
        """Add one record, read at `where` (file_code() + line); returns the TTL it was
        given (BIND's loader may override it)."""
        ttl = ttl if ttl <= MAX_TTL else self._clamp(ttl, where)
        key = (covers == 0 and self._type_keys.get(rtype)) or self._key(rtype, covers)
        name = self.batch_name
        if name is None or owner != self.batch_owner:  # else the batch's name: no look-up
            name = self._look_up(owner, rtype, key, ttl, canonical, rdata, where)
            if name is None:
                return ttl  # a new name, made with this record
        rrset = name.get(key)
        if rrset is None:
            self._check_new_type(name, owner, rtype, covers, where)
            name.put(key, _RRsetDraft(ttl, self.batch, where, canonical, rdata))
            return ttl
        if rrset.batch == self.batch:
            if ttl != rrset.ttl:
                self.warnings.append(f"{self.where_text(where)}: TTL set to prior TTL "
                                     f"({rrset.ttl})")
                ttl = rrset.ttl
        else:
            rrset.ttl = ttl
            rrset.batch = self.batch
        if canonical == rrset.first_canonical:
            rrset.first = rdata
            return ttl
        if rtype in SINGLETON_TYPES:
            raise ZoneFileError(
                f"{self.where_text(where)}: {_text(owner)}: multiple RRs of singleton type")
        more = rrset.more
        if more is None:
            rrset.more = {canonical: rdata}
        else:
            more[canonical] = rdata
        return ttl

    def _look_up(self, owner: bytes, rtype: int, key: RRsetKey, ttl: int, canonical: bytes,
                 rdata: bytes, where: int) -> _NameDraft | None:
        """The draft of a record's owner, as the batch's; None if there was none: one made
        of this record."""
        lower = owner.lower()
        name = self.names.get(lower)
        if owner != self.batch_owner:
            self._new_batch(owner, lower, name)
        if name is None:
            if rtype in _PLACED:
                self._check_place(owner, lower, rtype, where)
            self.batch_name = self.names[lower] = _NameDraft(
                owner, key, _RRsetDraft(ttl, self.batch, where, canonical, rdata))
            return None
        self.batch_name = name
        return name

    def _new_batch(self, owner: bytes, lower: bytes, name: _NameDraft | None) -> None:
        self.batch += 1
        self.batch_owner = owner
        self.batch_name = None  # set once its draft is found or made
        if name is not None:  # a name read before: in one batch more
            self.repeated[lower] = self.repeated.get(lower, 1) + 1

    def _key(self, rtype: int, covers: int) -> RRsetKey:
        """One key object per (type, covers), so that the drafts share them."""
        key = (rtype, covers)
        key = self._keys.setdefault(key, key)
        if covers == 0:
            self._type_keys[rtype] = key
        return key

    def _clamp(self, ttl: int, where: int) -> int:
        """RFC 2181 8: a TTL with the top bit set is treated as zero, as BIND loads it."""
        if ttl not in self._clamped:  # said once (a $TTL would repeat it on every line)
            self._clamped.add(ttl)
            self.warnings.append(f"{self.where_text(where)}: TTL {ttl} > MAXTTL, setting TTL to 0")
        return 0

    def _check_place(self, owner: bytes, lower: bytes, rtype: int, where: int) -> None:
        """Refused as BIND refuses them: an SOA off the apex, NS records at a wildcard."""
        if rtype == SOA and lower != self.apex_lower:
            raise ZoneFileError(f"{self.where_text(where)}: SOA record not at top of zone "
                                f"({_text(owner)})")
        if rtype == NS and owner[:2] == b"\x01*":
            raise ZoneFileError(f"{self.where_text(where)}: {_text(owner)}: invalid NS owner "
                                "name (wildcard)")

    def _check_new_type(self, name: _NameDraft, owner: bytes, rtype: int, covers: int,
                        where: int) -> None:
        """A type new at a name: an SOA off the apex, NS at a wildcard, or CNAME beside other
        data, is refused."""
        if rtype in _PLACED:
            self._check_place(owner, owner.lower(), rtype, where)
        kind = _node_kind(rtype, covers)
        if kind:
            for other_type, other_covers in name.types():
                other = _node_kind(other_type, other_covers)
                if other and other != kind:
                    raise ZoneFileError(
                        f"{self.where_text(where)}: {_text(owner)}: CNAME and other data")

    def join_node(self, lower: bytes, node: Node, wheres: dict[int, int],
                  canonical: Callable[[int, bytes], bytes], apply: bool) -> bool:
        """Take in the node a builder of a later part of the file (zone.split) made of a
        name this one holds too, as if its records had been added here, the name's first
        batch there not this builder's last one: each RRset of it new here is added after
        this name's own (`wheres`: where by type, for those listed), one there is too
        takes the later TTL and the rdata not here (by `canonical` form, the later
        spelling). Whether that can be done (not when a CNAME would sit beside other data,
        a singleton type would get a second record, or the node holds RRSIGs, whose
        covered types it no longer tells); `apply`: do it (once it said it can)."""
        name = self.names[lower]
        kinds = {_node_kind(rtype, covers) for rtype, covers in name.types()} - {0}
        for rtype, (ttl, rdatas) in node.items():
            if rtype == RRSIG:
                return False
            key = self._key(rtype, 0)
            rrset = name.get(key)
            if rrset is None:
                kinds.add(_node_kind(rtype, 0))
                if len(kinds - {0}) > 1:
                    return False
                if apply:
                    draft = _RRsetDraft(ttl, self.batch, wheres.get(rtype, 0), rdatas[0],
                                        rdatas[0])
                    if len(rdatas) > 1:  # (their own canonical forms are not needed now)
                        draft.more = {rdata: rdata for rdata in rdatas[1:]}
                    name.put(key, draft)
                continue
            if rtype in SINGLETON_TYPES and any(canonical(rtype, rdata) != rrset.first_canonical
                                                for rdata in rdatas):
                return False
            if apply:
                self._join_rrset(rrset, ttl, rdatas, rtype, canonical)
        return True

    @staticmethod
    def _join_rrset(rrset: _RRsetDraft, ttl: int, rdatas: tuple[bytes, ...], rtype: int,
                    canonical: Callable[[int, bytes], bytes]) -> None:
        rrset.ttl = ttl
        for rdata in rdatas:
            form = canonical(rtype, rdata)
            if form == rrset.first_canonical:
                rrset.first = rdata
            elif rrset.more is None:
                rrset.more = {form: rdata}
            else:
                rrset.more[form] = rdata

    def records(self) -> list[Record]:
        """The records finish() lists."""
        return self.finish()[0]

    def finish(self) -> tuple[list[Record], dict[bytes, Node], int]:
        """The records, grouped by owner and RRset in order of first appearance (every one,
        or those of CHECKED_TYPES: see every_record); the same records as nodes by
        lower-case owner (an RRSIG entry holds the signatures of every type, in that order,
        with the TTL of the first); and how many records there are. The nodes take the
        drafts' places in the builder's own table as it goes (no second table of names,
        and no large zone held twice), which leaves the builder empty. Raises
        ZoneFileError for the RRsets no DNS message can hold (see too_big)."""
        out: list[Record] = []
        append = out.append
        make = Record._make
        every = self.every_record
        where_text = self.where_text
        names = self.names
        table: dict[bytes, Any] = names  # each draft replaced by its node, in place
        count = 0
        big: list[tuple[bytes, int, int, tuple[bytes, ...], int]] = []  # may not fit a message
        for lower, name in names.items():
            owner = name.owner
            only = name.only
            if only is not None and only.more is None:  # one RRset of one record: most names
                assert name.only_key is not None
                rtype, first, ttl = name.only_key[0], only.first, only.ttl
                count += 1
                if every or rtype in CHECKED_TYPES:
                    append(make((owner, rtype, ttl, first, where_text(only.where))))
                table[lower] = {rtype: (ttl, (first,))}
                if len(first) + len(owner) + 10 > _ROOM - len(owner):
                    big.append((owner, rtype, ttl, (first,), only.where))
                continue
            node: Node = {}
            for (rtype, _), rrset in name.items():
                ttl = rrset.ttl
                more = rrset.more
                rdatas = (rrset.first,) if more is None else (rrset.first, *more.values())
                count += len(rdatas)
                if every or rtype in CHECKED_TYPES:
                    where = where_text(rrset.where)
                    for rdata in rdatas:
                        append(make((owner, rtype, ttl, rdata, where)))
                if sum(map(len, rdatas)) + len(rdatas) * (len(owner) + 10) > \
                        _ROOM - len(owner):
                    big.append((owner, rtype, ttl, rdatas, rrset.where))
                entry = node.get(rtype)
                node[rtype] = (ttl, rdatas) if entry is None else (entry[0], entry[1] + rdatas)
            table[lower] = node
        self.names = {}
        self.break_batch()
        problems = [problem for owner, rtype, ttl, rdatas, where in big
                    if (problem := too_big(owner, rtype, ttl, rdatas, where_text(where)))]
        if problems:
            raise ZoneFileError(*problems)
        return out, table, count


MAX_MESSAGE = 65535  # bytes in a DNS message (over TCP; UDP is smaller still)
MAX_RDATA = 65535  # bytes of data in one record (RDLENGTH is 16 bits)
# An RRset fits in a message whatever the compression when header (12) + question (owner
# + 4) + its records (owner + 10 + rdata each) <= MAX_MESSAGE, that is when the rdata and
# count * (owner + 10) add up to no more than _ROOM - owner.
_ROOM = MAX_MESSAGE - 12 - 4


def too_big(owner: bytes, rtype: int, ttl: int, rdatas: tuple[bytes, ...], where: str
            ) -> str | None:
    """Why an RRset (its data, in order; read at `where`) can be put in no DNS message, or
    None if it can.

    The size is exact for the best case: a query for the RRset's own name answered with the
    RRset alone, every name compressed as the server compresses them, no OPT record. An RRset
    that does not fit even so cannot be served whole by any server; BIND refuses to load one
    a little smaller ("ran out of space"), NSD loads it.
    """
    what = f"{_text(owner)}/{dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))}"
    biggest = max(map(len, rdatas))
    if biggest > MAX_RDATA:
        return (f"{where}: {what}: a record of {biggest} bytes of data, more than the "
                f"{MAX_RDATA} one record can hold (ran out of space)")
    answer = Compressor(owner)
    for rdata in rdatas:
        answer.rr(owner, rtype, ttl, rdata)
    needed = answer.base + len(answer.buf)
    if needed <= MAX_MESSAGE:
        return None
    need = f"{len(rdatas)} records need" if len(rdatas) > 1 else "its one record needs"
    return (f"{where}: {what}: {need} a {needed}-byte answer, more than the {MAX_MESSAGE} "
            "bytes of a DNS message (ran out of space)")


def _text(owner: bytes) -> str:
    return dns.name.from_wire(owner, 0)[0].to_text(omit_final_dot=True)


def out_of_zone_warning(where: str, name: dns.name.Name) -> str:
    return f"{where}: ignoring out-of-zone data ({name.to_text(omit_final_dot=True)})"


# Objects made under paused_gc from which on they are frozen rather than left to the collector.
FREEZE_OBJECTS = 100_000


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off Python's cycle collector while building millions of small acyclic objects.

    Each collection walks every tracked object, so with a large zone in memory they make
    loading several times slower; nothing built here forms cycles. Re-enabling the collector
    would have its next collection walk every object made meanwhile (they are all in the
    youngest generation), a second or more for a large zone: when many were made, they are
    frozen instead (gc.freeze: never walked, still freed as soon as unused), and stay so
    (update.process.release_memory says why).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_count()[0] >= FREEZE_OBJECTS:
                gc.freeze()
            gc.enable()
