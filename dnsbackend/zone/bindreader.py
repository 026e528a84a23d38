"""Reading BIND-style zone files with dnspython's reader into records, with `file:line` errors.

A zone file is read as bytes, the way BIND reads it: each byte that is not ASCII is handed to
dnspython as a `\\DDD` escape, so that it stands for itself in names and strings (BIND's
rdata is bytes: a Latin-1 or UTF-8 string is kept as written, and names are never IDNA
encoded). Every error of a file is reported (up to MAX_ERRORS), in BIND's words where
dnspython's would send people the wrong way.
"""

from __future__ import annotations

import io
import os
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.transaction
import dns.ttl
import dns.zonefile

from .fastreader import Opener, ReaderState, Resume, parse_fast
from .files import origin_for_file, read_regular
from .records import (
    MAX_ERRORS,
    Errors,
    ParsedZone,
    Record,
    TooManyErrors,
    ZoneBuilder,
    ZoneFileError,
    out_of_zone_warning,
    paused_gc,
)


class _CollectTransaction(dns.transaction.Transaction):
    """A dnspython transaction that hands every record to a ZoneBuilder."""

    def __init__(self, manager: _CollectManager) -> None:
        super().__init__(manager, replacement=True, read_only=False)
        self.builder = ZoneBuilder(manager.origin, manager.every_record)
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
                                   rdata.to_wire(), rdata.to_digestable(),
                                   self.reader.where_code)
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
    def __init__(self, origin: dns.name.Name, every_record: bool) -> None:
        self.origin = origin
        self.every_record = every_record

    def reader(self) -> Any:  # pragma: no cover - never read back
        raise NotImplementedError

    def writer(self, replacement: bool = False) -> _CollectTransaction:
        return _CollectTransaction(self)

    def get_class(self) -> Any:
        return dns.rdataclass.IN

    def origin_information(self) -> Any:
        return (self.origin, False, self.origin)


class _Tokenizer(dns.tokenizer.Tokenizer):
    """dnspython's tokenizer, with `where()` naming the line of the last token read, and
    what an error needs: the last token (BIND's "near ...") and whether a line just ended.

    dnspython counts a newline as soon as it peeks at it, so an error in the last token of a
    line would otherwise be reported on the next line.
    """

    token_line = 1
    last: dns.tokenizer.Token | None = None  # the token the last get() returned
    mark = 1  # the line get() was last called on
    inner = 0  # the line after the last newline inside parentheses
    overran = False  # the last resync() skipped to the end of the text

    def skip_whitespace(self) -> int:
        before = self._line()
        skipped = super().skip_whitespace()
        self.token_line = self._line()
        if self.token_line > before:  # only inside parentheses is a newline white space
            self.inner = self.token_line
        return skipped

    def get(self, want_leading: bool = False, want_comment: bool = False) -> dns.tokenizer.Token:
        self.mark = self._line()
        self.last = None
        token = super().get(want_leading, want_comment)
        self.last = token
        return token

    def _line(self) -> int:
        return self.line_number - (self.ungotten_char == "\n")

    def where(self) -> tuple[str, int]:
        return (self.filename, self.token_line)

    def near(self) -> str:
        """BIND's words for where an error is: "near 'text'", "near eol" or "near eof"."""
        token = self.last
        if token is None or token.is_whitespace():
            return ""
        if token.is_eof():
            return "near eof"
        if token.is_eol():
            return "near eol"
        return f"near '{token.value}'"

    def resync(self) -> None:
        """After an error: skip the rest of the record (to the end of its line, or of its
        parentheses), as BIND does before reading on."""
        self.quoting = False
        self.delimiters = dns.tokenizer._DELIMITERS
        line = self._line()
        last = self.last
        if self.ungotten_token is None and not self.multiline and (
                (last is not None and last.is_eol_or_eof()) or self.mark < line > self.inner):
            return  # the error was at the end of the record: the next one is next
        self.ungotten_token = None
        for _ in range(1 << 20):
            try:
                token = dns.tokenizer.Tokenizer.get(self)
            except dns.exception.DNSException:
                self.quoting = False
                self.delimiters = dns.tokenizer._DELIMITERS
                if self.eof:
                    self.multiline = 0
                    self.overran = True
                    return
                continue
            if token.is_eol_or_eof():
                self.overran = token.is_eof()
                return


# Undo dnspython's wrapping of an rdata parser's own exceptions.
_CAUGHT = re.compile(r"caught exception <class '[\w.]+'>: (.*)", re.S)
_NOT_UNSIGNED = re.compile(r"(\S+) is not an unsigned (\d+)-bit integer")
_MESSAGES = {  # dnspython's wording -> BIND's
    "Text input is malformed": "syntax error",
    "Text input ended unexpectedly": "unexpected end of input",
    "newline in quoted string": "unbalanced quotes",
    "A DNS label is > 63 octets long": "label too long",
    "A DNS label is empty": "empty label",
    "A DNS name is > 255 octets long": "name too long",
    "An escaped code in a text format of DNS name is invalid": "bad escape",
    "Non-hexadecimal digit found": "bad hex encoding",
    "Odd-length string": "bad hex encoding",
    "Incorrect padding": "bad base64 encoding",
    "Only base64 data is allowed": "bad base64 encoding",
    "generic rdata hex data has wrong length": "bad hex encoding (wrong length)",
}
# Errors raised in these modules, in BIND's words (IPv6 first: it may end in a dotted quad).
_BY_MODULE = (("dns.ipv6", "bad IPv6 address"), ("dns.ipv4", "bad dotted quad"),
              ("dns.rdtypes.euibase", "bad EUI"))
_END = frozenset({"expecting an identifier", "expecting a string", "expecting an integer",
                  "expecting a quoted string", "unexpected end of input"})
_TTL_HINT = "(if meant as a TTL: a TTL is a number of seconds, or of units as in 1w2d3h4m5s)"
_TTL_LIKE = re.compile(r"[0-9]+[0-9A-Za-z]*")


def include_path(root: str | None, written: str, filename: str) -> str:
    """The real path of an $INCLUDEd file (`filename`, unescaped from `written`), which must
    lie in the zones directory `root` (a real path); raises a dns SyntaxError saying why not."""
    if root is None:
        raise _Bind("$INCLUDE is not allowed here")
    path = os.path.realpath(os.path.join(root, filename))
    if os.path.commonpath([path, root]) != root:
        raise _Bind(f"$INCLUDE {written}: outside the zones directory")
    return path


def include_text(path: str, written: str) -> tuple[str, _FileNotes]:
    """An $INCLUDEd file's text and notes (see decode_zone_bytes), never blocking."""
    try:
        raw = read_regular(path)
    except OSError as exc:
        raise _Bind(f"$INCLUDE {written}: {exc.strerror}") from None
    return decode_zone_bytes(raw, written)


class FastHelp:
    """What the fast reader asks of this module for one zone file: the files it includes,
    and dnspython's reader for the records it does not read itself (the errors it finds are
    gathered here: each is reported as a full read by dnspython's reader reports it)."""

    def __init__(self, origin: dns.name.Name, filename: str, zones_root: str | None,
                 notes: _FileNotes | None = None) -> None:
        self.origin = origin
        self.root = os.path.realpath(zones_root) if zones_root else None
        self.notes = {filename: notes or _FileNotes()}
        self.errors = Errors()

    def opener(self, written: str) -> tuple[str, str] | None:
        """An $INCLUDEd file's (real path, text); None wherever dnspython's reader would
        report an error."""
        if self.root is None:
            return None
        try:
            path = include_path(self.root, written, written)
            text, notes = include_text(path, written)
        except (dns.exception.DNSException, ZoneFileError):
            return None
        if notes.errors:
            return None
        self.notes[written] = notes
        return path, text

    def fallback(self, builder: ZoneBuilder, text: str, filename: str, first: int,
                 resume: Resume, reading: list[str], to_end: bool
                 ) -> tuple[Resume, list[str], bool]:
        """dnspython's reader reading lines of a file from `first` on (see Fallback)."""
        errors = len(self.errors.messages)
        txn = _CollectManager(self.origin, True).writer(True)
        txn.builder = builder
        tok = _Tokenizer(text, filename)
        tok.line_number = tok.token_line = first
        reader = _Reader(tok, dns.rdataclass.IN, txn, allow_include=True)
        reader.setup(self.root, self.notes)
        reader.reading = list(reading)
        reader.errors = self.errors
        txn.reader = reader
        state = resume.state
        last = dns.name.from_wire(resume.owner, 0)[0]
        reader.current_origin, reader.last_name = state.origin, last
        reader.default_ttl, reader.default_ttl_known = state.default_ttl, state.default_ttl_known
        reader.default_ttl_from_soa = state.default_ttl_from_soa
        reader.last_ttl, reader.last_ttl_known = state.last_ttl, state.last_ttl_known
        reader._skipped = last if resume.warned else None
        reader._tok_seen = tok if resume.same_file else None
        reader.read_records()
        overran = tok.overran and not to_end
        if overran:  # what it said may hold only for this text alone
            del self.errors.messages[errors:]
        origin, last = reader.current_origin, reader.last_name
        assert origin is not None and last is not None
        owner = last.to_wire()
        assert owner is not None
        after = ReaderState(origin, reader.default_ttl, reader.default_ttl_known,
                            reader.default_ttl_from_soa, reader.last_ttl, reader.last_ttl_known)
        return (Resume(after, owner, reader._skipped is last, reader._tok_seen is tok),
                reader.included, overran)


def include_opener(zones_root: str | None) -> Opener:
    """The fast reader's way to open the files a zone file in `zones_root` $INCLUDEs."""
    return FastHelp(dns.name.root, "", zones_root).opener


def _raised_in(exc: BaseException) -> list[str]:
    """The dnspython modules an exception was raised through, outermost first."""
    return [name for frame, _ in traceback.walk_tb(exc.__traceback__)
            if (name := frame.f_globals.get("__name__", "")).startswith("dns.")]


def _bare(exc: BaseException) -> bool:
    """A dns.exception.SyntaxError raised without a message."""
    return type(exc) is dns.exception.SyntaxError and str(exc) == dns.exception.SyntaxError.__doc__


class _Bind(dns.exception.SyntaxError):
    """An error already in BIND's words."""


@dataclass
class _FileNotes:
    """What decoding one file found, for its error messages."""

    errors: list[str] = field(default_factory=list)  # `file:line: message` (a byte order mark)
    # line -> bytes that are not UTF-8 outside quoted strings and comments, as \DDD
    undecodable: dict[int, str] = field(default_factory=dict)


class _Reader(dns.zonefile.Reader):
    """dnspython's zone file reader, noting where each record starts and what it skips, and
    reading on after an error (the way BIND does) so that every error is reported."""

    where = ""  # "file:line" of the record being read
    where_code = 0  # the same as the builder's `where` (ZoneBuilder.file_code() + line)
    _skipped: dns.name.Name | None = None  # the out-of-zone owner last warned about
    _tok_seen: dns.tokenizer.Tokenizer | None = None  # the file the last record came from

    def _tok(self) -> _Tokenizer:
        tok = self.tok
        assert isinstance(tok, _Tokenizer)
        return tok

    def setup(self, zones_root: str | None, notes: dict[str, _FileNotes]) -> None:
        self.zones_root = os.path.realpath(zones_root) if zones_root else None
        self.included: list[str] = []
        # the real paths of the files being read: this one, those it includes
        self.reading: list[str] = [os.path.realpath(self._tok().filename)]
        self.notes = notes
        self.errors = Errors()

    # The loop of dnspython's Reader.read(), one line at a time, with every directive here so
    # that an error in any of them is reported in the same way and reading goes on.
    def read(self) -> None:
        for notes in self.notes.values():
            for message in notes.errors:
                self.errors.add(message)
        self.read_records()

    def read_records(self) -> None:
        """Read to the end of the text (and of the files it includes)."""
        while True:
            try:
                if not self._line():
                    return
            except (dns.exception.DNSException, ZoneFileError, ValueError) as exc:
                self._failed(exc)

    def _line(self) -> bool:
        """Read one line (a record, a directive, a comment or nothing); False at the end."""
        token = self.tok.get(True, True)
        if token.is_eof():
            if self.current_file is not None:
                self.current_file.close()
            if not self.saved_state:
                return False
            self.reading.pop()
            (self.tok, self.current_origin, self.last_name, self.current_file, self.last_ttl,
             self.last_ttl_known, self.default_ttl, self.default_ttl_known,
             self.default_ttl_from_soa) = self.saved_state.pop(-1)
        elif token.is_comment():
            self.tok.get_eol()
        elif token.is_identifier() and token.value[0] == "$":
            self._directive(token.value)
        elif not token.is_eol():
            self.tok.unget(token)
            self._rr_line()
        return True

    def _directive(self, word: str) -> None:
        c = word.upper()
        if c == "$TTL":
            token = self.tok.get()
            if not token.is_identifier():
                raise _Bind("unexpected end of line" if token.is_eol_or_eof() else "bad ttl")
            try:
                self.default_ttl = dns.ttl.from_text(token.value)
            except dns.ttl.BadTTL as exc:
                raise _Bind(f"{self._tok().near()}: bad ttl ({_tidy(str(exc))})") from None
            self.default_ttl_known = True
            self.default_ttl_from_soa = False
            self.tok.get_eol()
        elif c == "$ORIGIN":
            # A relative $ORIGIN is relative to the current origin (RFC 1035 section 5.1).
            self.current_origin = self.tok.get_name(self.current_origin)
            self.tok.get_eol()
        elif c == "$INCLUDE":
            self._include()
        elif c == "$GENERATE":
            self._generate_line()
        else:
            raise _Bind(f"unknown $ directive '{word}'")

    def _include(self) -> None:
        token = self.tok.get()
        if not (token.is_identifier() or token.is_quoted_string()):
            raise _Bind("unexpected end of line")
        written = token.value
        filename = os.fsdecode(token.unescape_to_bytes().value)
        token = self.tok.get()
        new_origin = self.current_origin
        if token.is_identifier():
            new_origin = self.tok.as_name(token, self.current_origin)
            self.tok.get_eol()
        elif not token.is_eol_or_eof():
            raise _Bind(f"{self._tok().near()}: bad origin in $INCLUDE")
        stream = self._open_include(written, filename)
        self.reading.append(self.included[-1])
        self.saved_state.append((
            self.tok, self.current_origin, self.last_name, self.current_file, self.last_ttl,
            self.last_ttl_known, self.default_ttl, self.default_ttl_known,
            self.default_ttl_from_soa))
        self.current_file = stream
        self.tok = _Tokenizer(stream, written)  # named as written (\DDD, not raw bytes)
        self.current_origin = new_origin

    def _open_include(self, written: str, filename: str) -> io.StringIO:
        """An $INCLUDEd file's text, confined to the zones directory."""
        path = include_path(self.zones_root, written, filename)
        self.included.append(path)
        if path in self.reading:
            raise _Bind(f"$INCLUDE {written}: an include loop (the file is being read already)")
        text, notes = include_text(path, written)
        self.notes[written] = notes
        for message in notes.errors:
            self.errors.add(message)
        return io.StringIO(text)

    def _note_where(self) -> None:
        """Where the record being read starts."""
        filename, line = self.tok.where()
        self.where = f"{filename}:{line}"
        txn = self.txn
        assert isinstance(txn, _CollectTransaction)
        self.where_code = txn.builder.file_code(filename) + line

    def _rr_line(self) -> None:
        self._note_where()
        if self.tok is not self._tok_seen:  # into or out of an $INCLUDEd file: a new batch
            self._tok_seen = self.tok
            txn = self.txn
            assert isinstance(txn, _CollectTransaction)
            txn.builder.break_batch()
        nothing_known = not (self.default_ttl_known or self.last_ttl_known)
        super()._rr_line()
        if nothing_known and self.default_ttl_from_soa and not self.last_ttl_known:
            # An SOA without a TTL before any TTL is known: like BIND, its MINIMUM becomes the
            # default TTL, as if written in a $TTL line.
            self.default_ttl_from_soa = False

    def _generate_line(self) -> None:
        self._note_where()
        txn = self.txn
        assert isinstance(txn, _CollectTransaction)
        txn.builder.break_batch()
        range_token = self.tok.get()
        self.tok.unget(range_token)
        try:
            super()._generate_line()
        except dns.exception.SyntaxError as exc:
            if self._tok().last is range_token and _bare(exc):
                raise _Bind(f"$GENERATE: invalid range '{range_token.value}'") from None
            raise
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

    def _failed(self, exc: Exception) -> None:
        """Note one error and skip to the next record."""
        tok = self._tok()
        if isinstance(exc, ZoneFileError):  # the builder's: already `file:line: message`
            for message in exc.errors:
                self.errors.add(message)
        else:
            filename, line = tok.where()
            reason = self._reason(exc)
            bad = self.notes.get(filename, _FileNotes()).undecodable.get(line)
            if bad and not isinstance(exc, _Bind):  # a line that does not parse
                reason = f"not a text file (bytes that are not UTF-8: {bad}): {reason}"
            self.errors.add(f"{filename}:{line}: {reason}")
        tok.resync()

    def _reason(self, exc: Exception) -> str:
        """What went wrong, in BIND's words where dnspython's differ."""
        if isinstance(exc, _Bind):
            return str(exc)
        if isinstance(exc, ValueError):  # dnspython's transaction refusing an SOA off the apex
            name = self.last_name.to_text(omit_final_dot=True) if self.last_name else "?"
            if "SOA" in str(exc):
                return f"SOA record not at top of zone ({name})"
            return str(exc)
        tok = self._tok()
        text = _tidy(str(exc))
        caught = _CAUGHT.fullmatch(text)
        if caught:
            text = _tidy(caught[1])
        modules = _raised_in(exc)
        whole = _whole_reason(exc, text, tok.last, modules)
        if whole is not None:
            return whole
        near = tok.near()
        reason = _reason_near(exc, text, tok.last, modules)
        return f"{near}: {reason}" if near else reason


def _whole_reason(exc: Exception, text: str, last: dns.tokenizer.Token | None,
                  modules: list[str]) -> str | None:
    """BIND's words for errors that name what they are about themselves."""
    if _bare(exc) and last is not None and last.is_eol_or_eof() and \
            not {"dns.ipv4", "dns.ipv6"} & set(modules):
        return "unexpected end of line"
    if text.startswith("unknown rdatatype '"):
        word = text[len("unknown rdatatype '"):-1]
        hint = f" {_TTL_HINT}" if _TTL_LIKE.fullmatch(word) else ""
        return f"unknown RR type '{word}'{hint}"
    if text == "RR class is not zone's class":
        word = last.value.upper() if last is not None else "?"
        return f"class '{word}' != zone class 'IN'"
    if text == "Missing default TTL value":
        return "no TTL specified; zone rejected"
    return None


def _reason_near(exc: Exception, text: str, last: dns.tokenizer.Token | None,
                 modules: list[str]) -> str:
    """BIND's words for errors said `near` the text they are in."""
    for module, reason in _BY_MODULE:
        if module in modules:
            return reason
    if _bare(exc) and modules[-1:] == ["dns.tokenizer"] and last is None:
        return "unbalanced parentheses"  # a ")" without its "("
    if text.startswith("expected EOL or EOF"):
        return "extra input text"
    if (text in _END or isinstance(exc, dns.exception.UnexpectedEnd)) and \
            last is not None and last.is_eol_or_eof():
        return "unexpected end of input"
    if text == "expecting an integer":
        return "not a valid number"
    if isinstance(exc, dns.ttl.BadTTL):
        return f"bad ttl ({text})"
    if (m := _NOT_UNSIGNED.fullmatch(text)) is not None:
        return f"out of range (at most {2 ** int(m[2]) - 1})"
    return _MESSAGES.get(text, text)


def parse_text_dnspython(
    text: str, origin: dns.name.Name, filename: str, zones_root: str | None = None,
    notes: _FileNotes | None = None, every_record: bool = True,
) -> ParsedZone:
    """Parse zone file text with dnspython's reader; raises ZoneFileError naming file and line
    for every error found (up to MAX_ERRORS). every_record: see ZoneBuilder."""
    manager = _CollectManager(origin, every_record)
    txn = manager.writer(True)
    tok = _Tokenizer(text, filename)
    reader = _Reader(tok, dns.rdataclass.IN, txn, allow_include=True)
    reader.setup(zones_root, {filename: notes or _FileNotes()})
    txn.reader = reader
    errors = reader.errors
    builder = txn.builder
    records: list[Record] = []
    nodes = None
    count = None
    try:
        reader.read()
        records, nodes, count = builder.finish()
    except TooManyErrors:
        errors.messages[-1] += " (too many errors: stopped reading)"
    except ZoneFileError as exc:  # RRsets too big for any message
        for message in exc.errors[:MAX_ERRORS - len(errors.messages)]:
            errors.messages.append(message)
    try:
        errors.check()
    except ZoneFileError as exc:
        # The files it tried to include, there or not: once one appears or changes, the zone
        # is read again.
        exc.includes = list(reader.included)
        raise
    return ParsedZone(origin, records, reader.included, builder.warnings, nodes, count)


def parse_text(
    text: str, origin: dns.name.Name, filename: str, zones_root: str | None = None,
    notes: _FileNotes | None = None, every_record: bool = True,
) -> ParsedZone:
    """Parse zone file text: the fast reader, handing each record it does not read to
    dnspython's reader (FastHelp), else dnspython's reader for the whole file (every_record:
    see ZoneBuilder)."""
    with paused_gc():
        if notes is None or not notes.errors:
            helper = FastHelp(origin, filename, zones_root, notes)
            parsed = parse_fast(text, origin, filename, every_record, helper.opener,
                                helper.fallback)
            if parsed is not None:
                if helper.errors:
                    error = ZoneFileError(*helper.errors.messages)
                    error.includes = list(parsed.includes)
                    raise error
                return parsed
        return parse_text_dnspython(text, origin, filename, zones_root, notes, every_record)


def _tidy(message: str) -> str:
    return message.rstrip(".") if message else "syntax error"


_BOM_UTF8 = b"\xef\xbb\xbf"
# One piece of a line as BIND's lexer sees it: a quoted string (to its closing quote, or
# to the end of the line), a comment, an escape, or a run of anything else.
_PIECE = re.compile(rb'"(?:[^"\\]|\\.?)*"?|;.*|\\.?|[^"\\;]+', re.S)
_ESCAPE_OR_HIGH = re.compile(rb"\\(.)|([\x80-\xff])", re.S)
_HIGH = re.compile(rb"[\x80-\xff]")
_DDD = [b"\\%03d" % n for n in range(256)]


def _escape_high(m: re.Match[bytes]) -> bytes:
    escaped = m[1]
    if escaped is None:
        return _DDD[m[0][0]]
    return _DDD[escaped[0]] if escaped[0] >= 0x80 else m[0]


def _high_to_ddd(m: re.Match[bytes]) -> bytes:
    return _DDD[m[0][0]]


def _not_utf8(run: bytes) -> list[int]:
    """The bytes of a run that are not part of valid UTF-8."""
    return [ord(c) - 0xDC00 for c in run.decode("utf-8", "surrogateescape")
            if "\udc80" <= c <= "\udcff"]


def _ascii_line(line: bytes) -> tuple[bytes, list[int]]:
    """A line with every byte that is not ASCII written as \\DDD (an escaped one too: `\\é`
    is that byte), carriage returns in its comment made spaces (a comment ends only at a
    newline, as in BIND), and the bytes outside strings and comments that are not UTF-8."""
    out = []
    undecodable: list[int] = []
    for m in _PIECE.finditer(line):
        piece = m[0]
        first = piece[0]
        if first == 0x3B:  # ;
            piece = _HIGH.sub(_high_to_ddd, piece.replace(b"\r", b" "))
        elif first == 0x22 or first == 0x5C:  # " or \
            piece = _ESCAPE_OR_HIGH.sub(_escape_high, piece)
        elif not piece.isascii():
            undecodable += _not_utf8(piece)
            piece = _HIGH.sub(_high_to_ddd, piece)
        out.append(piece)
    return b"".join(out), undecodable


def decode_zone_bytes(raw: bytes, path: str) -> tuple[str, _FileNotes]:
    """A zone file's bytes as the ASCII text dnspython reads, and what decoding found.

    Binary files (a NUL byte, UTF-16) are refused whole with ZoneFileError.
    """
    notes = _FileNotes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ZoneFileError(f"{path}:1: not a text file (UTF-16: save it as UTF-8 or ASCII)")
    nul = raw.find(b"\x00")
    if nul >= 0:
        at = raw.count(b"\n", 0, nul) + 1
        raise ZoneFileError(f"{path}:{at}: not a text file (NUL byte)")
    if raw.startswith(_BOM_UTF8):
        notes.errors.append(
            f"{path}:1: the file starts with a UTF-8 byte order mark, which BIND reads as "
            "part of the first name and refuses: remove it")
        raw = raw[len(_BOM_UTF8):]
    if raw.isascii() and b"\r" not in raw:
        return raw.decode("ascii"), notes
    lines = raw.split(b"\n")
    for index, line in enumerate(lines):
        if line.isascii() and (b"\r" not in line or b";" not in line):
            continue
        lines[index], undecodable = _ascii_line(line)
        if undecodable:
            notes.undecodable[index + 1] = "".join(f"\\{b:03d}" for b in undecodable[:8]) + \
                ("..." if len(undecodable) > 8 else "")
    return b"\n".join(lines).decode("ascii"), notes


def decode_zone_text(raw: bytes, path: str) -> str:
    """A zone file's bytes as the text the readers read (see decode_zone_bytes)."""
    text, notes = decode_zone_bytes(raw, path)
    if notes.errors:
        raise ZoneFileError(*notes.errors)
    return text


_WRITTEN_ORIGIN = re.compile(
    rb"^(?:\$ORIGIN[ \t]+([^\s;]+\.)|([^\s;$]+\.)[ \t]+(?:[^\s;]+[ \t]+){0,2}SOA[ \t])",
    re.I | re.M)


def written_origin(path: str) -> str | None:
    """The first absolute $ORIGIN or SOA owner name near the top of a zone file, if any: what
    the file says its zone is, for a file whose origin is not known."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    m = _WRITTEN_ORIGIN.search(head)
    if m is None:
        return None
    return (m[1] or m[2]).decode("ascii", "backslashreplace")


def read_zone_file(
    path: str, origin: dns.name.Name | None = None, zones_root: str | None = None,
    every_record: bool = True,
) -> ParsedZone:
    """Read one zone file from disk; its origin defaults to the file name (every_record:
    see ZoneBuilder)."""
    if origin is None:
        origin = origin_for_file(path)
    try:
        raw = read_regular(path)  # never blocks: a FIFO is refused, not opened for reading
    except OSError as exc:
        raise ZoneFileError(f"{path}:1: cannot read the file: {exc.strerror}") from None
    text, notes = decode_zone_bytes(raw, path)
    del raw  # not held through the parse of a large file
    root = zones_root if zones_root is not None else os.path.dirname(os.path.abspath(path))
    return parse_text(text, origin, path, root, notes, every_record)
