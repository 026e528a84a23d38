"""Reading BIND-style zone files with dnspython's reader into records, with `file:line` errors."""

from __future__ import annotations

import builtins
import io
import os
import threading
from collections.abc import Iterator
from typing import IO, Any

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.transaction
import dns.zonefile

from .fastreader import parse_fast
from .files import origin_for_file
from .records import ParsedZone, ZoneBuilder, ZoneFileError, out_of_zone_warning, paused_gc

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
        return bool(self.builder.names)

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


def parse_text(
    text: str, origin: dns.name.Name, filename: str, zones_root: str | None = None
) -> ParsedZone:
    """Parse zone file text: the fast reader when it understands the whole file, else dnspython."""
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
