"""Reading BIND-style zone files into plain records, with `file:line` errors."""

from __future__ import annotations

import builtins
import contextlib
import gc
import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.transaction
import dns.zonefile


class Record(NamedTuple):
    """One resource record as read from a zone file (wire forms, original letter case)."""

    owner: bytes  # absolute owner name, uncompressed wire form
    rtype: int  # RR type code
    ttl: int  # TTL in seconds
    rdata: bytes  # uncompressed rdata wire form
    where: str  # "file:line" where the record's RRset first appears


class ZoneFileError(Exception):
    """A zone file that cannot be served; the message starts with `file:line:`."""


@dataclass
class ParsedZone:
    """Everything read from one zone file (and the files it includes)."""

    origin: dns.name.Name  # the zone's apex
    records: list[Record]  # grouped by owner, then RRset, in order of first appearance
    includes: list[str] = field(default_factory=list)  # absolute paths of $INCLUDEd files
    warnings: list[str] = field(default_factory=list)  # `file:line: message` lines


SOA = 6
CNAME = 5
DNAME = 39
RRSIG = 46
# Types BIND refuses more than one record of at a name ("multiple RRs of singleton type").
SINGLETON_TYPES = frozenset({SOA, CNAME, DNAME})
# Types that may sit beside a CNAME (RFC 2181 10.1, RFC 4035 2.5), with their signatures.
_NEUTRAL_TYPES = frozenset({47, 50, 25})  # NSEC, NSEC3, KEY


def _node_kind(rtype: int, covers: int) -> int:
    """1 for CNAME data, 0 for types allowed beside anything, 2 for every other type."""
    base = covers if rtype == RRSIG else rtype
    if base == CNAME:
        return 1
    return 0 if base in _NEUTRAL_TYPES else 2


class ZoneBuilder:
    """Collects records as a zone file is read, merging them into RRsets the way BIND does.

    Both readers (dnspython's and the fast one) feed records here, so duplicate removal, TTL
    merging and the per-name checks are the same for both. BIND's loader gathers consecutive
    records of one owner name (compared with letter case) into a batch: inside a batch an
    RRset keeps the TTL of its first record ("TTL set to prior TTL"); a later batch for the
    same RRset replaces its TTL.
    """

    def __init__(self, origin: dns.name.Name) -> None:
        apex = origin.to_wire()
        assert apex is not None
        self.apex_lower = apex.lower()
        # lower-case owner -> [owner as first written, key, rrset] for a name with one RRset
        # so far, [owner as first written, None, {key: rrset}] once it has more; key is
        # (rtype, covers) and rrset is [ttl, batch number, where, first canonical rdata, first
        # rdata, more], more being None or {canonical rdata: rdata} for the later ones. An
        # rdata written twice (in canonical form) keeps its first place and its last spelling.
        self.nodes: dict[bytes, list[Any]] = {}
        self.warnings: list[str] = []
        self.batch = 0
        self.batch_owner: bytes | None = None
        self._keys: dict[tuple[int, int], tuple[int, int]] = {}  # one key object per type

    def break_batch(self) -> None:
        """The next record starts a new batch whatever its owner ($INCLUDE, skipped names)."""
        self.batch_owner = None

    def add(self, owner: bytes, rtype: int, covers: int, ttl: int, rdata: bytes,
            canonical: bytes, where: str) -> int:
        """Add one record; returns the TTL it was given (BIND's loader may override it)."""
        if owner != self.batch_owner:
            self.batch += 1
            self.batch_owner = owner
        lower = owner.lower()
        key = (rtype, covers)
        key = self._keys.setdefault(key, key)
        node = self.nodes.get(lower)
        if node is None:
            if rtype == SOA and lower != self.apex_lower:
                raise ZoneFileError(f"{where}: SOA record not at top of zone ({_text(owner)})")
            self.nodes[lower] = [owner, key, [ttl, self.batch, where, canonical, rdata, None]]
            return ttl
        single = node[1]  # the key of a name's only RRset, None once it has several
        rrset = node[2].get(key) if single is None else (node[2] if single == key else None)
        if rrset is None:
            if rtype == SOA and lower != self.apex_lower:
                raise ZoneFileError(f"{where}: SOA record not at top of zone ({_text(owner)})")
            kind = _node_kind(rtype, covers)
            if kind:
                for other_type, other_covers in (node[2] if single is None else (single,)):
                    other = _node_kind(other_type, other_covers)
                    if other and other != kind:
                        raise ZoneFileError(f"{where}: {_text(owner)}: CNAME and other data")
            new = [ttl, self.batch, where, canonical, rdata, None]
            if single is None:
                node[2][key] = new
            else:
                node[1] = None
                node[2] = {single: node[2], key: new}
            return ttl
        if rrset[1] == self.batch:
            if ttl != rrset[0]:
                self.warnings.append(f"{where}: TTL set to prior TTL ({rrset[0]})")
                ttl = rrset[0]
        else:
            rrset[0] = ttl
            rrset[1] = self.batch
        if canonical == rrset[3]:
            rrset[4] = rdata
            return ttl
        if rtype in SINGLETON_TYPES:
            raise ZoneFileError(f"{where}: {_text(owner)}: multiple RRs of singleton type")
        more = rrset[5]
        if more is None:
            rrset[5] = {canonical: rdata}
        else:
            more[canonical] = rdata
        return ttl

    def records(self) -> list[Record]:
        """Every record, grouped by owner and RRset in order of first appearance; empties the
        builder as it goes so that a large zone is not held twice."""
        out: list[Record] = []
        append = out.append
        make = Record._make
        nodes = self.nodes
        for lower in list(nodes):
            owner, single, rrsets = nodes.pop(lower)
            items = rrsets.items() if single is None else ((single, rrsets),)
            for (rtype, _), (ttl, _, where, _, first, more) in items:
                append(make((owner, rtype, ttl, first, where)))
                if more is not None:
                    for rdata in more.values():
                        append(make((owner, rtype, ttl, rdata, where)))
        return out


def _text(owner: bytes) -> str:
    return dns.name.from_wire(owner, 0)[0].to_text(omit_final_dot=True)


def out_of_zone_warning(where: str, name: dns.name.Name) -> str:
    return f"{where}: ignoring out-of-zone data ({name.to_text(omit_final_dot=True)})"


# $INCLUDE is resolved against the zones directory of the parse running in this thread.
_include_context = threading.local()
_real_open = builtins.open


def _include_open(filename: str, *args: Any, **kwargs: Any) -> IO[str]:
    """`open` as seen by dnspython's reader: confined to the zones directory."""
    root = getattr(_include_context, "root", None)
    if root is None:
        raise dns.exception.SyntaxError("$INCLUDE is not allowed here")
    path = os.path.realpath(os.path.join(root, filename))
    if os.path.commonpath([path, root]) != root:
        raise dns.exception.SyntaxError(f"$INCLUDE {filename}: outside the zones directory")
    _include_context.included.append(path)
    try:
        f = _real_open(path, "rb")
    except OSError as exc:
        raise dns.exception.SyntaxError(f"$INCLUDE {filename}: {exc.strerror}") from None
    with f:
        raw = f.read()
    return io.StringIO(decode_zone_text(raw, filename))


dns.zonefile.open = _include_open  # type: ignore[attr-defined]


class _CollectTransaction(dns.transaction.Transaction):
    """A dnspython transaction that hands every record to a ZoneBuilder."""

    def __init__(self, manager: _CollectManager) -> None:
        super().__init__(manager, replacement=True, read_only=False)
        self.builder = ZoneBuilder(manager.origin)
        self.reader: _Reader | None = None

    def _get_rdataset(self, name: Any, rdtype: Any, covers: Any) -> Any:
        return None  # so dnspython does no merging of its own: the builder merges

    def _get_node(self, name: Any) -> Any:
        return None  # the builder makes the CNAME checks

    def _put_rdataset(self, name: Any, rdataset: Any) -> None:
        assert self.reader is not None
        owner = name.to_wire()
        for rdata in rdataset:
            ttl = self.builder.add(owner, int(rdata.rdtype), int(rdata.covers()), rdataset.ttl,
                                   rdata.to_wire(), rdata.to_digestable(), self.reader.where)
            if ttl != rdataset.ttl:  # BIND carries the TTL it kept on to later records
                self.reader.last_ttl = ttl
                self.reader.last_ttl_known = True

    def _delete_name(self, name: Any) -> None:  # pragma: no cover - never deletes
        raise NotImplementedError

    def _delete_rdataset(self, name: Any, rdtype: Any, covers: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _name_exists(self, name: Any) -> bool:  # pragma: no cover
        raise NotImplementedError

    def _changed(self) -> bool:
        return bool(self.builder.nodes)

    def _end_transaction(self, commit: bool) -> None:
        pass

    def _set_origin(self, origin: Any) -> None:
        pass

    def _iterate_rdatasets(self) -> Iterator[Any]:  # pragma: no cover
        raise NotImplementedError

    def _iterate_names(self) -> Iterator[Any]:  # pragma: no cover
        raise NotImplementedError


class _CollectManager(dns.transaction.TransactionManager):
    def __init__(self, origin: dns.name.Name) -> None:
        self.origin = origin

    def reader(self) -> Any:  # pragma: no cover - never read back
        raise NotImplementedError

    def writer(self, replacement: bool = False) -> _CollectTransaction:
        return _CollectTransaction(self)

    def get_class(self) -> Any:
        return dns.rdataclass.IN

    def origin_information(self) -> Any:
        return (self.origin, False, self.origin)


class _Tokenizer(dns.tokenizer.Tokenizer):
    """dnspython's tokenizer, with `where()` naming the line of the last token read.

    dnspython counts a newline as soon as it peeks at it, so an error in the last token of a
    line would otherwise be reported on the next line.
    """

    token_line = 1

    def skip_whitespace(self) -> int:
        skipped = super().skip_whitespace()
        self.token_line = self.line_number - (self.ungotten_char == "\n")
        return skipped

    def where(self) -> tuple[str, int]:
        return (self.filename, self.token_line)


class _Reader(dns.zonefile.Reader):
    """dnspython's zone file reader, noting where each record starts and what it skips."""

    where = ""  # "file:line" of the record being read
    _skipped: dns.name.Name | None = None  # the out-of-zone owner last warned about
    _tok_seen: dns.tokenizer.Tokenizer | None = None  # the file the last record came from

    def _rr_line(self) -> None:
        if type(self.tok) is dns.tokenizer.Tokenizer:  # an $INCLUDEd file's, made by dnspython
            self.tok.__class__ = _Tokenizer
        self.where = "{}:{}".format(*self.tok.where())
        if self.tok is not self._tok_seen:  # into or out of an $INCLUDEd file: a new batch
            self._tok_seen = self.tok
            txn = self.txn
            assert isinstance(txn, _CollectTransaction)
            txn.builder.break_batch()
        nothing_known = not (self.default_ttl_known or self.last_ttl_known)
        try:
            super()._rr_line()
        except ValueError as exc:  # dnspython's transaction refusing an SOA off the apex
            name = self.last_name.to_text(omit_final_dot=True) if self.last_name else "?"
            if "SOA" in str(exc):
                raise ZoneFileError(f"{self.where}: SOA record not at top of zone ({name})") \
                    from None
            raise ZoneFileError(f"{self.where}: {exc}") from None
        if nothing_known and self.default_ttl_from_soa and not self.last_ttl_known:
            # An SOA without a TTL before any TTL is known: like BIND, its MINIMUM becomes the
            # default TTL, as if written in a $TTL line.
            self.default_ttl_from_soa = False

    def _generate_line(self) -> None:
        self.where = "{}:{}".format(*self.tok.where())
        txn = self.txn
        assert isinstance(txn, _CollectTransaction)
        txn.builder.break_batch()
        super()._generate_line()
        txn.builder.break_batch()

    def _eat_line(self) -> None:
        """Called by dnspython only to skip a record whose owner is outside the zone."""
        txn = self.txn
        assert isinstance(txn, _CollectTransaction)
        txn.builder.break_batch()
        if self.last_name is not self._skipped:
            self._skipped = self.last_name
            assert self.last_name is not None
            txn.builder.warnings.append(out_of_zone_warning(self.where, self.last_name))
        super()._eat_line()


def origin_for_file(path: str) -> dns.name.Name:
    """The zone origin a zones-directory file serves: its name without `.zone`."""
    base = os.path.basename(path)
    if base.endswith(".zone"):
        base = base[: -len(".zone")]
    return dns.name.from_text(base)


def parse_text_dnspython(
    text: str, origin: dns.name.Name, filename: str, zones_root: str | None = None
) -> ParsedZone:
    """Parse zone file text with dnspython's reader; raises ZoneFileError naming file and line."""
    manager = _CollectManager(origin)
    txn = manager.writer(True)
    tok = _Tokenizer(text, filename)
    reader = _Reader(tok, dns.rdataclass.IN, txn, allow_include=True)
    txn.reader = reader
    _include_context.root = os.path.realpath(zones_root) if zones_root else None
    _include_context.included = []
    try:
        reader.read()
    except dns.exception.SyntaxError as exc:
        raise ZoneFileError(_tidy(str(exc))) from None
    except ZoneFileError:
        raise
    except dns.exception.DNSException as exc:
        filename_now, line = reader.tok.where()
        raise ZoneFileError(f"{filename_now}:{line}: {_tidy(str(exc))}") from None
    finally:
        included = _include_context.included
        _include_context.root = None
    builder = txn.builder
    return ParsedZone(origin, builder.records(), included, builder.warnings)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off Python's cycle collector while building millions of small acyclic objects.

    Each collection walks every tracked object, so with a large zone in memory they make
    loading several times slower; nothing built here forms cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_text(
    text: str, origin: dns.name.Name, filename: str, zones_root: str | None = None
) -> ParsedZone:
    """Parse zone file text: the fast reader when it understands the whole file, else dnspython."""
    from .zonefast import parse_fast

    with paused_gc():
        parsed = parse_fast(text, origin, filename)
        if parsed is not None:
            return parsed
        return parse_text_dnspython(text, origin, filename, zones_root)


def _tidy(message: str) -> str:
    return message.rstrip(".") if message else "syntax error"


def decode_zone_text(raw: bytes, path: str) -> str:
    """A zone file's bytes as text; binary files are refused with the line they go wrong on."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ZoneFileError(f"{path}:{line}: not a text file (invalid UTF-8)") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ZoneFileError(f"{path}:{line}: not a text file (NUL byte)")
    return text


def read_zone_file(
    path: str, origin: dns.name.Name | None = None, zones_root: str | None = None
) -> ParsedZone:
    """Read one zone file from disk; its origin defaults to the file name."""
    if origin is None:
        origin = origin_for_file(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ZoneFileError(f"{path}:0: cannot read: {exc.strerror}") from None
    text = decode_zone_text(raw, path)
    del raw  # not held through the parse of a large file
    root = zones_root if zones_root is not None else os.path.dirname(os.path.abspath(path))
    return parse_text(text, origin, path, root)
