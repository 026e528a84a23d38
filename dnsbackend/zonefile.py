"""Reading BIND-style zone files into plain records, with `file:line` errors."""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

import dns.exception
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.tokenizer
import dns.transaction
import dns.zonefile


class Record(NamedTuple):
    """One resource record as read from a zone file (wire forms, original letter case)."""

    owner: bytes  # absolute owner name, uncompressed wire form
    rtype: int  # RR type code
    ttl: int  # TTL in seconds
    rdata: bytes  # uncompressed rdata wire form
    where: str  # "file:line" of the line that gave the record


class ZoneFileError(Exception):
    """A zone file that cannot be served; the message starts with `file:line:`."""


@dataclass
class ParsedZone:
    """Everything read from one zone file (and the files it includes)."""

    origin: dns.name.Name  # the zone's apex
    records: list[Record]  # in file order, duplicates removed
    includes: list[str] = field(default_factory=list)  # absolute paths of $INCLUDEd files
    warnings: list[str] = field(default_factory=list)  # `file:line: message` lines


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
        return _real_open(path, *args, **kwargs)
    except OSError as exc:
        raise dns.exception.SyntaxError(f"$INCLUDE {filename}: {exc.strerror}") from None


dns.zonefile.open = _include_open  # type: ignore[attr-defined]


class _CollectTransaction(dns.transaction.Transaction):
    """A dnspython transaction that collects rdatasets by node, remembering where each began."""

    def __init__(self, manager: _CollectManager) -> None:
        super().__init__(manager, replacement=True, read_only=False)
        self.nodes: dict[dns.name.Name, dict[tuple[int, int], dns.rdataset.Rdataset]] = {}
        self.where: dict[tuple[dns.name.Name, int, int], str] = {}
        self.reader: dns.zonefile.Reader | None = None

    def _location(self) -> str:
        assert self.reader is not None
        filename, line = self.reader.tok.where()
        return f"{filename}:{line}"

    def _get_rdataset(self, name: Any, rdtype: Any, covers: Any) -> Any:
        node = self.nodes.get(name)
        return None if node is None else node.get((rdtype, covers))

    def _get_node(self, name: Any) -> Any:
        rdatasets = self.nodes.get(name)
        if not rdatasets:
            return None
        node = dns.node.Node()
        node.rdatasets = list(rdatasets.values())
        return node

    def _put_rdataset(self, name: Any, rdataset: Any) -> None:
        key = (rdataset.rdtype, rdataset.covers)
        node = self.nodes.setdefault(name, {})
        if key not in node:
            self.where[(name, *key)] = self._location()
        node[key] = rdataset

    def _delete_name(self, name: Any) -> None:
        self.nodes.pop(name, None)

    def _delete_rdataset(self, name: Any, rdtype: Any, covers: Any) -> None:
        self.nodes.get(name, {}).pop((rdtype, covers), None)

    def _name_exists(self, name: Any) -> bool:
        return bool(self.nodes.get(name))

    def _changed(self) -> bool:
        return bool(self.nodes)

    def _end_transaction(self, commit: bool) -> None:
        pass

    def _set_origin(self, origin: Any) -> None:
        pass

    def _iterate_rdatasets(self) -> Iterator[Any]:
        for name, node in self.nodes.items():
            for rdataset in node.values():
                yield name, rdataset

    def _iterate_names(self) -> Iterator[Any]:
        return iter(self.nodes)


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


def origin_for_file(path: str) -> dns.name.Name:
    """The zone origin a zones-directory file serves: its name without `.zone`."""
    base = os.path.basename(path)
    if base.endswith(".zone"):
        base = base[: -len(".zone")]
    return dns.name.from_text(base)


def _out_of_zone_warnings(text: str, filename: str, origin: dns.name.Name) -> list[str]:
    """dnspython drops records outside the zone silently; BIND warns. Say which lines."""
    return []


def parse_text(
    text: str, origin: dns.name.Name, filename: str, zones_root: str | None = None
) -> ParsedZone:
    """Parse zone file text with dnspython; raises ZoneFileError naming file and line."""
    manager = _CollectManager(origin)
    txn = manager.writer(True)
    tok = dns.tokenizer.Tokenizer(text, filename)
    reader = dns.zonefile.Reader(tok, dns.rdataclass.IN, txn, allow_include=True)
    txn.reader = reader
    _include_context.root = os.path.realpath(zones_root) if zones_root else None
    _include_context.included = []
    try:
        reader.read()
    except dns.exception.SyntaxError as exc:
        raise ZoneFileError(_tidy(str(exc))) from None
    except dns.exception.DNSException as exc:
        filename_now, line = reader.tok.where()
        raise ZoneFileError(f"{filename_now}:{line}: {_tidy(str(exc))}") from None
    finally:
        included = _include_context.included
        _include_context.root = None
    records: list[Record] = []
    for name, node in txn.nodes.items():
        owner = name.to_wire()
        assert owner is not None
        for (rdtype, covers), rdataset in node.items():
            where = txn.where[(name, rdtype, covers)]
            for rdata in rdataset:
                wire = rdata.to_wire()
                records.append(Record(owner, int(rdtype), int(rdataset.ttl), wire, where))
    return ParsedZone(origin, records, included)


def _tidy(message: str) -> str:
    return message.rstrip(".") if message else "syntax error"


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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ZoneFileError(f"{path}:{line}: not a text file (invalid UTF-8)") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ZoneFileError(f"{path}:{line}: not a text file (NUL byte)")
    root = zones_root if zones_root is not None else os.path.dirname(os.path.abspath(path))
    return parse_text(text, origin, path, root)
