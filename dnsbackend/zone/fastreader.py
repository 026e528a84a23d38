"""A fast reader for the common shapes of zone file lines, giving exactly what dnspython's gives.

It reads a file the way `bindreader.parse_text_dnspython` does (same owner, TTL, class and
type rules, the same ZoneBuilder merging, the same `file:line` for each RRset) but with
plain string operations instead of dnspython's character-at-a-time tokenizer, `$INCLUDE`d
files (with their origin and TTL scoping and batch breaks) and `$GENERATE` lines
(dnspython's own substitution) included. Backslash escapes are read where they are: a name
holding one is parsed by dnspython's name parser, a character-string unescaped as dnspython
does, record data of other types with one given to dnspython's rdata parser. Whatever it
does not fully understand (classes other than IN, unknown types, a parenthesis before an
owner name) and every error is handed to dnspython's reader (`Fallback`, from
bindreader), one record at a time, in the state of that point, so that error messages
always come from one place and a bad line in a big file costs no full read by dnspython;
where the lines of a record cannot be told apart (an unterminated quoted string or
parenthesis) it reads the rest of the file. Text it does not take at all (carriage
returns, control characters) goes to dnspython whole. Record data of the common types is
encoded here; other types go to dnspython's own rdata parser one record at a time.
"""

from __future__ import annotations

import os
import re
import socket
import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple

import dns.exception
import dns.grange
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.zonefile import _generate_text

from ..wire.codes import AAAA, CAA, CNAME, DNAME, DS, MX, NS, PTR, SOA, SPF, SRV, TXT, A
from .records import ParsedZone, ZoneBuilder, out_of_zone_warning

MAX_TTL = 2**32 - 1


class _Unsupported(Exception):
    """This file is left to the dnspython reader."""


class _Abort(Exception):
    """dnspython's reader failed on what it was handed: the whole file is read again by it."""


class _Stopped(Exception):
    """The marker stopped the reading before line `args[0]`."""


class ReaderState(NamedTuple):
    """What the lines after a point of a file depend on, as this reader (and dnspython's)
    reads them: the origin, and the state of the TTL rules."""

    origin: dns.name.Name
    default_ttl: int
    default_ttl_known: bool
    default_ttl_from_soa: bool
    last_ttl: int
    last_ttl_known: bool


class Resume(NamedTuple):
    """Where the reading is, as handed to dnspython's reader for a record this reader does
    not read itself, and back."""

    state: ReaderState
    owner: bytes  # the last owner name (dnspython's last_name), wire form
    warned: bool  # it was warned about as out of the zone
    same_file: bool  # the last record line read was from the file being read


# fallback(builder, text, file (as written), number of the text's first line, where the
# reading is, the real paths of the files being read, whether the text runs to the end of
# the file): dnspython's reader reads the text into the builder, noting its errors; returns
# where the reading is after it, the real paths of the files it $INCLUDEd, and whether
# skipping a bad record took it to the end of a text that does not run to the end of the
# file (what followed would have been skipped too: the errors are dropped, for the text to
# be read again with the rest of the file).
Fallback = Callable[[ZoneBuilder, str, str, int, Resume, list[str], bool],
                    tuple[Resume, list[str], bool]]


# Called before a line that starts a new batch (an owner name written, other than the last
# record's) at or after the line it last asked for: marker(line number, state before the
# line) returns the next line to be called at, or -1 to stop reading before this line.
Marker = Callable[[int, ReaderState], int]
_NEVER = 1 << 62


# The characters this reader handles: printable ASCII, tab and newline. Any other (IDNA,
# CR, control characters str.split() would treat as spaces) sends the whole file to
# dnspython. _PLAIN leaves out the backslash too: what the incremental reader takes.
_ESCAPED = bytes(range(0x20, 0x7F)) + b"\t\n"
_PLAIN = _ESCAPED.replace(b"\\", b"")
# Tokens of a line holding parentheses, quotes or escapes: a quoted string, a parenthesis,
# a comment, or a run of other characters (dnspython's delimiters are space, tab, ( ) ; "),
# a backslash and the character after it standing for themselves in either.
_TOKEN = re.compile(r'[ \t]*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([()])|(;.*)|'
                    r'([^ \t"();\\]+(?:\\.[^ \t"();\\]*)*|(?:\\.[^ \t"();\\]*)+))')
_TTL_UNITS = re.compile(r"(?:[0-9]+[wdhmsWDHMS])+")
_TTL_UNIT = re.compile(r"([0-9]+)([wdhmsWDHMS])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_IPV6 = re.compile(r"[0-9A-Fa-f:]{2,39}")
_LENGTH = [bytes([n]) for n in range(256)]
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

# Types this reader accepts by mnemonic. The ones with an encoder below are encoded here;
# the rest go to dnspython's rdata parser record by record. None is a class name (RESERVED0
# INTERNET CH CHAOS HS HESIOD NONE ANY CLASSn), so a record of another class is refused.
_TYPE_NAMES = (
    "A NS CNAME SOA PTR HINFO MX TXT RP AFSDB AAAA LOC SRV NAPTR KX CERT DNAME DS SSHFP "
    "RRSIG NSEC DNSKEY NSEC3 NSEC3PARAM TLSA SMIMEA CDS CDNSKEY OPENPGPKEY CSYNC SVCB HTTPS "
    "SPF URI CAA ZONEMD"
)
TYPES = {name: int(dns.rdatatype.from_text(name)) for name in _TYPE_NAMES.split()}
_IN = dns.rdataclass.IN
_DIGEST_LENGTHS = {1: 20, 2: 32, 4: 48}  # DS digest types dnspython checks the length of


def _ttl(text: str) -> int | None:
    """dns.ttl.from_text, or None where it would raise BadTTL."""
    if text.isdigit():
        value = int(text)
    elif _TTL_UNITS.fullmatch(text):
        value = sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in _TTL_UNIT.findall(text))
    else:
        return None
    return value if value <= MAX_TTL else None


def _uint(text: str, limit: int) -> int:
    if not text.isdigit():
        raise _Unsupported
    value = int(text)
    if value > limit:
        raise _Unsupported
    return value


def _refuse_unplain(text: str, allowed: bytes = _PLAIN) -> None:
    """Refuse a text with characters other than `allowed`."""
    if not text.isascii() or text.encode().translate(None, allowed):
        raise _Unsupported


def _unescape(text: str) -> bytes:
    """A character-string's bytes, its escapes (\\DDD, \\X) applied as dnspython's
    Token.unescape_to_bytes applies them."""
    if "\\" not in text:
        return text.encode()
    out = bytearray()
    i, end = 0, len(text)
    while i < end:
        c = text[i]
        i += 1
        if c != "\\":
            out += c.encode()
            continue
        if i >= end:
            raise _Unsupported
        c = text[i]
        i += 1
        if "0" <= c <= "9":
            digits = text[i - 1:i + 2]
            if len(digits) != 3 or not digits.isdigit() or int(digits) > 255:
                raise _Unsupported
            out.append(int(digits))
            i += 2
        else:
            out += c.encode()
    return bytes(out)


def split_lines(text: str, start: int = 0, chunk: int = 1 << 20) -> Iterator[str]:
    """text[start:].split("\n"), a megabyte at a time so that a large file is not held a
    second time as one string per line."""
    while True:
        end = text.find("\n", start + chunk)
        if end < 0:
            yield from text[start:].split("\n")
            return
        yield from text[start:end].split("\n")
        start = end + 1


# An $INCLUDEd file's name as written (no escapes) -> (its real path, its text), or None
# where the dnspython reader would report an error (confinement, reading, decoding).
Opener = Callable[[str], "tuple[str, str] | None"]


class _FastReader:
    """One pass over one file's text; raises _Unsupported to hand the file to dnspython."""

    def __init__(self, origin: dns.name.Name, filename: str,
                 builder: ZoneBuilder | None = None, opener: Opener | None = None,
                 fallback: Fallback | None = None) -> None:
        self.filename = filename
        self.opener = opener
        self.fallback = fallback  # for what this reader does not read (None: give up)
        self.text = ""  # of the file being read (read() and $INCLUDE)
        self.counted: str | None = None  # the text `newlines` counts the newlines of
        self.newlines = 0
        # the lines of the last record read by _tokens: its first line, its lines, whether
        # they were all read
        self.record_start = 0
        self.record_lines: list[str] = []
        self.record_done = False
        self.soa_undo = (0, False, False)  # the default TTL's state before the last SOA
        self.includes: list[str] = []  # the real paths of the files $INCLUDEd, in order
        self.reading: list[str] = []  # the real paths of the files being read (once one is)
        self.escapes = False  # the file being read has a backslash somewhere
        # Which file the records come from (dnspython breaks a batch on changing files).
        self.file_id = 0
        self.files = 0
        self.last_file = 0  # the file of the last record line
        self.owners = 0  # owner names written so far: the id of the last one
        self.zone_origin = origin
        self.builder = builder or ZoneBuilder(origin)
        apex = origin.to_wire()
        assert apex is not None
        self.apex_lower = apex.lower()
        self._set_origin(origin)
        # dnspython's Reader state, same names and meaning
        self.last_ttl = 0
        self.last_ttl_known = False
        self.default_ttl = 0
        self.default_ttl_known = False
        self.default_ttl_from_soa = False
        self.warned_id = -1  # the written owner name last warned about as out of zone
        self.marker: Marker | None = None  # see read_lines()
        self.next_mark = _NEVER

    def _set_origin(self, origin: dns.name.Name) -> None:
        wire = origin.to_wire()
        assert wire is not None
        self.origin = origin
        self.origin_wire = wire
        self.origin_in_zone = self._in_zone(wire.lower())
        self.names: dict[str, bytes] = {}  # rdata names already encoded under this origin

    def _in_zone(self, lower: bytes) -> bool:
        apex = self.apex_lower
        if not lower.endswith(apex):
            return False
        pos, end = 0, len(lower) - len(apex)
        while pos < end:
            pos += lower[pos] + 1
        return pos == end

    def name(self, text: str) -> bytes:
        """dns.name.from_text(text, current origin).to_wire()."""
        if self.escapes and "\\" in text:
            return self._escaped_name(text)
        if text == "@":
            return self.origin_wire
        if text[-1] == ".":
            if text == ".":
                return b"\x00"
            text = text[:-1]
            tail = b"\x00"
        else:
            tail = self.origin_wire
        if "." not in text:
            if len(text) > 63 or len(tail) > 254 - len(text):
                raise _Unsupported
            return _LENGTH[len(text)] + text.encode() + tail
        labels = text.split(".")
        if "" in labels:
            raise _Unsupported
        try:
            wire = b"".join([_LENGTH[len(label)] + label.encode() for label in labels]) + tail
        except IndexError:
            raise _Unsupported from None
        if len(wire) > 255 or max(map(len, labels)) > 63:
            raise _Unsupported
        return wire

    def _escaped_name(self, text: str) -> bytes:
        """A name with escapes, by dnspython's own name parser."""
        try:
            wire = dns.name.from_text(text, self.origin).to_wire()
        except dns.exception.DNSException:
            raise _Unsupported from None
        assert wire is not None
        return wire

    def rdata_name(self, text: str) -> bytes:
        wire = self.names.get(text)
        if wire is None:
            if text[0] == '"':
                raise _Unsupported
            wire = self.names[text] = self.name(text)
        return wire

    def read(self, text: str) -> ParsedZone:
        _refuse_unplain(text, _ESCAPED)
        self.escapes = "\\" in text
        self.text = text
        self.read_lines(split_lines(text), 0, None, _NEVER)
        records, nodes, count = self.builder.finish()
        return ParsedZone(self.zone_origin, records, self.includes, self.builder.warnings,
                          nodes, count)

    def state(self) -> ReaderState:
        return ReaderState(self.origin, self.default_ttl, self.default_ttl_known,
                           self.default_ttl_from_soa, self.last_ttl, self.last_ttl_known)

    def set_state(self, state: ReaderState) -> None:
        self._set_origin(state.origin)
        self.default_ttl = state.default_ttl
        self.default_ttl_known = state.default_ttl_known
        self.default_ttl_from_soa = state.default_ttl_from_soa
        self.last_ttl = state.last_ttl
        self.last_ttl_known = state.last_ttl_known

    def _owner(self, written: str, line: int, last: bytes) -> bytes:
        """The owner name written at the start of a line; a new batch starts there if it is
        not the last one, and the marker may be due."""
        owner = self.name(written)
        if line >= self.next_mark and owner != last and self.marker is not None:
            self.next_mark = self.marker(line, self.state())
            if self.next_mark < 0:
                raise _Stopped(line)
        return owner

    def read_lines(self, lines: Iterator[str], index: int, marker: Marker | None,
                   next_mark: int) -> int:
        """Read lines numbered from index + 1 on into the builder; raises _Stopped when the
        marker stops it."""
        self.marker = marker
        self.next_mark = next_mark
        # dnspython's last_name starts at the origin
        self._read_file(lines, index, self.origin_wire, 0, True)
        return 0

    def _read_file(self, lines: Iterator[str], index: int, owner: bytes, owner_id: int,
                   owner_ok: bool) -> None:
        """Read the lines of one file (the zone file or one it includes) numbered from
        index + 1 on, `owner` (written as name `owner_id`, in the zone or not) the last
        owner before them."""
        builder = self.builder  # called directly, not through bound methods: compiled,
        base = builder.file_code(self.filename)  # + the line: the `where` of a record
        escapes = self.escapes
        fresh = True  # no record line read since the start or the last directive
        for line in lines:
            index += 1
            start = index
            rtype = 0
            try:
                if '"' in line or "(" in line or ")" in line or (escapes and "\\" in line):
                    tokens, index = self._tokens(lines, index, line)
                else:
                    cut = line.find(";")
                    tokens = (line if cut < 0 else line[:cut]).split()
                if not tokens:
                    continue  # an empty line or a comment
                pos = 0
                first = line[0]
                if first != " " and first != "\t":
                    head = tokens[0]
                    if head[0] == "$" or head[0] == '"' or first == "(":
                        # or a line this reader does not take
                        owner, owner_id, owner_ok = self._directive(tokens, line, start, owner,
                                                                    owner_id, owner_ok)
                        fresh = True
                        continue
                    owner = self._owner(head, start, owner)
                    self.owners += 1
                    owner_id = self.owners
                    owner_ok = (self.origin_in_zone and head[-1] != ".") or \
                        self._in_zone(owner.lower())
                    pos = 1
                if fresh:
                    fresh = False
                    self._record_file()
                if not owner_ok:
                    self._skip_out_of_zone(owner, owner_id, start)
                    continue
                ttl, rtype, pos = self._head(tokens, pos)
                wire, canonical, covers, ttl = self._encode(rtype, tokens[pos:], ttl)
                got = builder.add(owner, rtype, covers, ttl, wire, canonical, base + start)
                if got != ttl:
                    self.last_ttl = got
                    self.last_ttl_known = True
            except Exception as exc:  # noqa: BLE001 - dnspython's reader reads it, or decides
                owner, owner_id, owner_ok, index = self._hand_over(exc, lines, line, start,
                                                                   index, rtype, owner, owner_id)
                fresh = True

    def _hand_over(self, exc: Exception, lines: Iterator[str], line: str, start: int,
                   index: int, rtype: int, owner: bytes, owner_id: int
                   ) -> tuple[bytes, int, bool, int]:
        """The record from line `start` (to `index`) this reader did not read: read by
        dnspython's reader in the state before it (or the rest of the file, where the lines
        of the record could not be told apart). Returns the last owner after it (as
        _directive) and the last line read."""
        if self.fallback is None or isinstance(exc, (_Stopped, _Abort)):
            raise exc
        if rtype == SOA:  # as it was before the record
            self.default_ttl, self.default_ttl_known, self.default_ttl_from_soa = self.soa_undo
        raw = [line]
        whole = True  # the lines of the record, to the end of its last one
        if start == self.record_start and self.record_lines[0] is line:  # read by _tokens
            raw = self.record_lines
            if not self.record_done:  # the rest of the file, as it is
                raw = raw + list(lines)
                whole = False
        text = "\n".join(raw)
        index = start + len(raw) - 1
        if whole and index <= self._newlines():
            text += "\n"  # (the last line of a file may not end in one)
        resume = Resume(self.state(), owner, self.warned_id == owner_id,
                        self.last_file == self.file_id)
        reading = self.reading or [os.path.realpath(self.filename)]
        try:
            after, included, overran = self.fallback(self.builder, text, self.filename, start,
                                                     resume, reading, not whole)
            if overran:
                raw = raw + list(lines)
                index = start + len(raw) - 1
                after, included, overran = self.fallback(
                    self.builder, "\n".join(raw), self.filename, start, resume, reading, True)
        except Exception as failed:
            raise _Abort from failed
        self.includes += included
        self.set_state(after.state)
        self.owners += 1
        if after.warned:
            self.warned_id = self.owners
        self.last_file = self.file_id if after.same_file else -1
        return after.owner, self.owners, self._in_zone(after.owner.lower()), index

    def _encode(self, rtype: int, rdata: list[str], ttl: int) -> tuple[bytes, bytes, int, int]:
        """A record's data as (wire, canonical form, type covered), and its TTL (`ttl`; -1:
        none known yet)."""
        wire, canonical, covers = self._rdata(rtype, rdata)
        if ttl < 0:
            ttl = self._soa_minimum_ttl(rtype)
        return wire, canonical, covers, ttl

    def _rdata(self, rtype: int, rdata: list[str]) -> tuple[bytes, bytes, int]:
        """A record's data as (wire, canonical form, type covered)."""
        if self.escapes and rtype != TXT and rtype != SPF and rtype != SOA and \
                any("\\" in token for token in rdata):
            # escapes elsewhere than in character-strings and SOA's names (whose MINIMUM
            # may be the default TTL: read here)
            return self._by_dnspython(rtype, rdata)
        if rtype == A:  # the commonest types: direct calls once compiled (mypyc)
            wire, canonical = self._a(rdata)
        elif rtype == AAAA:
            wire, canonical = self._aaaa(rdata)
        else:
            encode = _ENCODERS.get(rtype)
            if encode is None:
                return self._by_dnspython(rtype, rdata)
            wire, canonical = encode(self, rdata)
        return wire, canonical, 0

    def _head(self, tokens: list[str], pos: int) -> tuple[int, int, int]:
        """A record's [TTL] [class] [TTL] type from tokens[pos] on, read as dnspython reads
        them: its TTL (-1 if none is known yet), its type and where its rdata starts."""
        try:
            word = tokens[pos]
            ttl = _ttl(word) if "0" <= word[0] <= "9" else None
            if ttl is not None:
                self.last_ttl = ttl
                self.last_ttl_known = True
                pos += 1
                word = tokens[pos]
            if word == "IN" or word.upper() == "IN":  # another class is no type: refused below
                pos += 1
                word = tokens[pos]
                if ttl is None and "0" <= word[0] <= "9":
                    ttl = _ttl(word)
                    if ttl is not None:
                        self.last_ttl = ttl
                        self.last_ttl_known = True
                        pos += 1
                        word = tokens[pos]
        except IndexError:  # the line ends before its type
            raise _Unsupported from None
        if ttl is None:  # the TTL dnspython's reader gives a record without one
            if self.last_ttl_known and (not self.default_ttl_known or self.default_ttl_from_soa):
                ttl = self.last_ttl
            elif self.default_ttl_known:
                ttl = self.default_ttl
        rtype = TYPES.get(word) or TYPES.get(word.upper())
        if rtype is None or pos + 1 >= len(tokens):  # an unknown type, or no rdata
            raise _Unsupported
        return -1 if ttl is None else ttl, rtype, pos + 1

    def _soa_minimum_ttl(self, rtype: int) -> int:
        """The TTL of a record when none is known (no $TTL, no TTL written before): only the
        first SOA has one, BIND's: its MINIMUM, the default from then on as if from $TTL."""
        if rtype != SOA:
            raise _Unsupported
        self.default_ttl_from_soa = False
        return self.default_ttl  # set by _soa()

    def _skip_out_of_zone(self, owner: bytes, owner_id: int, line: int) -> None:
        """A record whose owner is outside the zone is left out, with one warning for each
        written owner name (`owner_id`)."""
        builder = self.builder
        builder.break_batch()
        if owner_id != self.warned_id:
            self.warned_id = owner_id
            builder.warnings.append(out_of_zone_warning(f"{self.filename}:{line}",
                                                        dns.name.from_wire(owner, 0)[0]))

    def _tokens(self, lines: Iterator[str], index: int, line: str) -> tuple[list[str], int]:
        """The tokens of a line with quotes or parentheses, reading on while one is open."""
        tokens: list[str] = []
        depth = 0
        self.record_start = index
        self.record_lines = [line]
        self.record_done = False
        while True:
            depth = _line_tokens(line, tokens, depth)
            if depth == 0:
                self.record_done = True
                return tokens, index
            next_line = next(lines, None)
            if next_line is None:
                raise _Unsupported  # the file ends inside parentheses
            line = next_line
            self.record_lines.append(line)
            index += 1

    def _newlines(self) -> int:
        """The newlines in the text of the file being read (counted once a file)."""
        if self.counted is not self.text:
            self.counted = self.text
            self.newlines = self.text.count("\n")
        return self.newlines

    def _record_file(self) -> None:
        """The first record line after the start of a file or a directive: dnspython's
        reader starts a new batch when it is not from the file of the record line before."""
        if self.last_file != self.file_id:
            self.last_file = self.file_id
            self.builder.break_batch()

    def _directive(self, tokens: list[str], line: str, start: int, owner: bytes,
                   owner_id: int, owner_ok: bool) -> tuple[bytes, int, bool]:
        """A $ line (at line `start`, after `owner`, written as owner name `owner_id`, in
        the zone or not); returns the last owner name after it, as the arguments."""
        if tokens[0][0] != "$":
            raise _Unsupported  # a quote or parenthesis before the owner name
        word = tokens[0].upper()
        if word == "$INCLUDE":
            self._include(tokens, owner, owner_id, owner_ok)
        elif word == "$GENERATE":  # the last name it made
            owner = self._generate(tokens, line, start)
            self.owners += 1
            return owner, self.owners, True
        else:
            self._origin_or_ttl(word, tokens)
        return owner, owner_id, owner_ok

    def _origin_or_ttl(self, word: str, tokens: list[str]) -> None:
        if len(tokens) != 2 or tokens[1][0] == '"':
            raise _Unsupported
        if word == "$TTL":
            ttl = _ttl(tokens[1])
            if ttl is None:
                raise _Unsupported
            self.default_ttl = ttl
            self.default_ttl_known = True
            self.default_ttl_from_soa = False
        elif word == "$ORIGIN":
            self._set_origin(dns.name.from_wire(self.name(tokens[1]), 0)[0])
        else:
            raise _Unsupported

    def _include(self, tokens: list[str], owner: bytes, owner_id: int, owner_ok: bool) -> None:
        """`$INCLUDE file [origin]`: the file read in the state of this point, under its
        own origin; after it the state is as before it (dnspython's saved state: origin,
        TTL rules, the last owner name). Its name as written names its lines."""
        if self.opener is None or not 2 <= len(tokens) <= 3 or "\\" in tokens[1]:
            raise _Unsupported
        written = tokens[1][1:-1] if tokens[1][0] == '"' else tokens[1]
        origin = self.origin
        if len(tokens) == 3:
            if tokens[2][0] == '"':
                raise _Unsupported
            origin = dns.name.from_wire(self.name(tokens[2]), 0)[0]
        opened = self.opener(written)
        if opened is None:
            raise _Unsupported
        path, text = opened
        if not self.reading:
            self.reading.append(os.path.realpath(self.filename))  # the zone file
        if path in self.reading:
            raise _Unsupported  # an include loop: dnspython's reader reports it
        _refuse_unplain(text, _ESCAPED)
        self.includes.append(path)  # (once read: dnspython's reader notes those it fails on)
        saved = (self.state(), self.filename, self.escapes, self.file_id, self.text)
        self.reading.append(path)
        self.files += 1
        self.file_id = self.files
        self.filename = written
        self.escapes = "\\" in text
        self.text = text
        self._set_origin(origin)
        self._read_file(split_lines(text), 0, owner, owner_id, owner_ok)
        self.reading.pop()
        state, self.filename, self.escapes, self.file_id, self.text = saved
        self.set_state(state)

    def _generate(self, tokens: list[str], line: str, start: int) -> bytes:
        """`$GENERATE range lhs [ttl] [class] type rhs`, read as dnspython reads it (its own
        range and substitution); returns the last owner name made."""
        if '"' in line or "(" in line or ")" in line or len(tokens) < 5:
            raise _Unsupported
        try:
            first, last, step = dns.grange.from_text(tokens[1])
        except Exception:  # noqa: BLE001 - dnspython's reader says what is wrong
            raise _Unsupported from None
        lhs = tokens[2]
        ttl, rtype, rhs = self._generate_head(tokens)
        where = self.builder.file_code(self.filename) + start
        builder = self.builder
        builder.break_batch()
        owner = b""
        for i in range(first, last + 1, step):
            try:
                name, rdata = _generate_text(lhs, i), _generate_text(rhs, i)
            except dns.exception.DNSException:
                raise _Unsupported from None
            owner = self.name(name)
            if not self._in_zone(owner.lower()):
                raise _Unsupported  # dnspython stops the line there
            wire, canonical, covers = self._rdata(rtype, [rdata])
            got = builder.add(owner, rtype, covers, ttl, wire, canonical, where)
            if got != ttl:
                self.last_ttl = got
                self.last_ttl_known = True
        builder.break_batch()
        return owner

    def _generate_head(self, tokens: list[str]) -> tuple[int, int, str]:
        """The TTL, type and rhs of a $GENERATE line, whose lhs is tokens[2]."""
        ttl = _ttl(tokens[3])  # dns.ttl.from_text, whatever the token
        pos = 3
        if ttl is not None:
            self.last_ttl = ttl
            self.last_ttl_known = True
            pos = 4
        elif self.last_ttl_known and (not self.default_ttl_known or self.default_ttl_from_soa):
            ttl = self.last_ttl
        elif self.default_ttl_known:
            ttl = self.default_ttl
        else:
            raise _Unsupported  # no TTL known
        word = tokens[pos]
        if word.upper() == "IN":
            pos += 1
            word = tokens[pos] if pos < len(tokens) else ""
        rtype = TYPES.get(word) or TYPES.get(word.upper())
        if rtype is None or rtype == SOA or pos + 2 != len(tokens):
            raise _Unsupported  # one rhs token after the type, as dnspython reads it
        return ttl, rtype, tokens[pos + 1]

    # The rdata encoders of _ENCODERS: the rdata tokens in, the wire form and the canonical
    # form (names in lower case) out.

    def _a(self, rdata: list[str]) -> tuple[bytes, bytes]:
        if len(rdata) != 1:
            raise _Unsupported
        text = rdata[0]
        parts = text.split(".")
        if len(parts) != 4:
            raise _Unsupported
        for part in parts:  # dnspython's dotted quad: 0-255 without leading zeros
            if not part.isdigit() or len(part) > 3 or (part[0] == "0" and len(part) > 1):
                raise _Unsupported
        try:
            wire = socket.inet_aton(text)  # refuses a part above 255
        except OSError:
            raise _Unsupported from None
        return wire, wire

    def _aaaa(self, rdata: list[str]) -> tuple[bytes, bytes]:
        if len(rdata) != 1 or not _IPV6.fullmatch(rdata[0]):
            raise _Unsupported
        try:
            wire = socket.inet_pton(socket.AF_INET6, rdata[0])
        except OSError:
            raise _Unsupported from None
        return wire, wire

    def _one_name(self, rdata: list[str]) -> tuple[bytes, bytes]:
        """NS, CNAME, PTR, DNAME."""
        if len(rdata) != 1:
            raise _Unsupported
        wire = self.names.get(rdata[0]) or self.rdata_name(rdata[0])
        return wire, wire.lower()

    def _mx(self, rdata: list[str]) -> tuple[bytes, bytes]:
        if len(rdata) != 2:
            raise _Unsupported
        head = _U16.pack(_uint(rdata[0], 0xFFFF))
        target = self.names.get(rdata[1]) or self.rdata_name(rdata[1])
        return head + target, head + target.lower()

    def _srv(self, rdata: list[str]) -> tuple[bytes, bytes]:
        if len(rdata) != 4:
            raise _Unsupported
        head = _U16.pack(_uint(rdata[0], 0xFFFF)) + _U16.pack(_uint(rdata[1], 0xFFFF)) + \
            _U16.pack(_uint(rdata[2], 0xFFFF))
        target = self.names.get(rdata[3]) or self.rdata_name(rdata[3])
        return head + target, head + target.lower()

    def _strings(self, rdata: list[str]) -> tuple[bytes, bytes]:
        """TXT, SPF."""
        parts = []
        for token in rdata:
            value = _unescape(token[1:-1] if token[0] == '"' else token)
            if len(value) > 255:
                raise _Unsupported
            parts.append(_LENGTH[len(value)] + value)
        wire = b"".join(parts)
        return wire, wire

    def _ds(self, rdata: list[str]) -> tuple[bytes, bytes]:
        if len(rdata) < 4:
            raise _Unsupported
        digest_type = _uint(rdata[2], 0xFF)
        if any(token[0] == '"' for token in rdata[3:]):
            raise _Unsupported
        try:
            digest = bytes.fromhex("".join(rdata[3:]))
        except ValueError:
            raise _Unsupported from None
        if _DIGEST_LENGTHS.get(digest_type) != len(digest):
            raise _Unsupported
        wire = struct.pack("!HBB", _uint(rdata[0], 0xFFFF), _uint(rdata[1], 0xFF),
                           digest_type) + digest
        return wire, wire

    def _caa(self, rdata: list[str]) -> tuple[bytes, bytes]:
        if len(rdata) != 3:
            raise _Unsupported
        tag, value = [token[1:-1] if token[0] == '"' else token for token in rdata[1:]]
        if not tag.isalnum() or len(tag) > 255:
            raise _Unsupported
        wire = bytes([_uint(rdata[0], 0xFF), len(tag)]) + tag.encode() + value.encode()
        return wire, wire

    def _soa(self, rdata: list[str]) -> tuple[bytes, bytes]:
        self.soa_undo = (self.default_ttl, self.default_ttl_known, self.default_ttl_from_soa)
        if len(rdata) != 7:
            raise _Unsupported
        mname = self.rdata_name(rdata[0])
        rname = self.rdata_name(rdata[1])
        numbers = [_uint(rdata[2], MAX_TTL)]
        for text in rdata[3:]:
            value = _ttl(text)
            if value is None:
                raise _Unsupported
            numbers.append(value)
        if not self.default_ttl_known:  # BIND: the first SOA's MINIMUM is the default TTL
            self.default_ttl = numbers[4]
            self.default_ttl_known = True
            self.default_ttl_from_soa = True
        tail = struct.pack("!IIIII", *numbers)
        return mname + rname + tail, mname.lower() + rname.lower() + tail

    def _by_dnspython(self, rtype: int, rdata: list[str]) -> tuple[bytes, bytes, int]:
        """Types without an encoder here: dnspython's own parser, on the same tokens."""
        try:
            rd = dns.rdata.from_text(_IN, dns.rdatatype.RdataType(rtype), " ".join(rdata),
                                     self.origin, False)
        except dns.exception.DNSException:
            raise _Unsupported from None
        wire = rd.to_wire()
        assert wire is not None
        return wire, rd.to_digestable(), int(rd.covers())


_Encoder = Callable[[_FastReader, list[str]], tuple[bytes, bytes]]
# The types encoded here; the rest of TYPES go to dnspython's rdata parser.
_ENCODERS: dict[int, _Encoder] = {
    A: _FastReader._a, AAAA: _FastReader._aaaa,
    NS: _FastReader._one_name, CNAME: _FastReader._one_name, PTR: _FastReader._one_name,
    DNAME: _FastReader._one_name,
    MX: _FastReader._mx, SRV: _FastReader._srv, TXT: _FastReader._strings,
    SPF: _FastReader._strings, SOA: _FastReader._soa, DS: _FastReader._ds, CAA: _FastReader._caa,
}


def _line_tokens(line: str, tokens: list[str], depth: int) -> int:
    """Append the tokens of one line (of a record that may run over several) to `tokens`;
    the depth of parentheses at its end, from `depth` at its start."""
    pos, end = 0, len(line)
    while pos < end:
        m = _TOKEN.match(line, pos)
        if m is None:
            if line[pos:].strip(" \t"):
                raise _Unsupported  # an unterminated quoted string
            break
        pos = m.end()
        quoted, paren, comment, word = m.groups()
        if word is not None:
            tokens.append(word)
        elif quoted is not None:
            tokens.append(quoted)
        elif paren == "(":
            depth += 1
        elif paren == ")":
            depth -= 1
            if depth < 0:
                raise _Unsupported
        elif comment is not None:
            break
    return depth


def plain(text: str) -> bool:
    """Whether a text has only the characters this reader takes."""
    try:
        _refuse_unplain(text)
    except _Unsupported:
        return False
    return True


def initial_state(origin: dns.name.Name) -> ReaderState:
    """The state before a file's first line."""
    return ReaderState(origin, 0, False, False, 0, False)


def read_lines(lines: Iterator[str], origin: dns.name.Name, filename: str,
               builder: ZoneBuilder, first: int, state: ReaderState, marker: Marker,
               next_mark: int = 0) -> int:
    """Read the lines of a file numbered from `first` on (only characters plain() takes),
    in `state`, into `builder`, calling `marker` at batch starts (see Marker); returns the
    number of the line the marker stopped before, or 0 at the end of the lines. Raises an
    exception wherever parse_fast would give the file to dnspython."""
    reader = _FastReader(origin, filename, builder)
    reader.set_state(state)
    try:
        return reader.read_lines(lines, first - 1, marker, next_mark)
    except _Stopped as stop:
        line: int = stop.args[0]
        return line


def parse_fast(text: str, origin: dns.name.Name, filename: str,
               every_record: bool = True, opener: Opener | None = None,
               fallback: Fallback | None = None) -> ParsedZone | None:
    """The zone in `text` read without dnspython's reader, or None to read it with dnspython
    (every_record: see ZoneBuilder); `opener` gives the files it $INCLUDEs (none: an
    $INCLUDE is left to dnspython), `fallback` reads the records it does not (none: the
    file is left to dnspython)."""
    try:
        return _FastReader(origin, filename, ZoneBuilder(origin, every_record), opener,
                           fallback).read(text)
    except _Unsupported:
        return None
    except Exception:  # noqa: BLE001 - any surprise: dnspython's reader decides
        return None
