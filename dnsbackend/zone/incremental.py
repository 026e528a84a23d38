"""Re-reading only what changed in a zone file: the new text compared with the one last
applied, and only the changed regions parsed again (in a writer process, never the server).

What the writer keeps of the text it applied last (`TextState`): the text, the fast
reader's state (origin, TTL rules) at marks, lines where a new owner starts a batch, about
every MARK_EVERY lines, and what the zone-wide rules need (owners read in several batches,
the names NS, MX and SRV records point to, the warnings and their lines). On a change,
textdiff finds the changed regions; each is read again from the last mark before it, with
the state kept there, by the same fast reader, until the reading reaches a mark after the
region in the same state as before: from there on the file reads as it did. The old text
of the same stretch is read too, to know what it held. Owners read there are rebuilt from
their records; empty non-terminals follow.

Anything this cannot prove gives the job back to a full parse (`rebuild` returns None):
characters or directives the fast reader does not take, an owner with records outside the
stretches read, an error of any kind (the full parse reports it at its `file:line`), a
TTL clamped (its warning is said once per file), SOA or NS at the apex gone, or a change
that could alter the warnings about NS, MX and SRV targets. tests/unit/test_incremental.py
checks the result against a full parse over random edits.
"""

from __future__ import annotations

import bisect
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

import dns.name

from ..store.format import Node, ZoneContents, ZoneMeta, soa_fields
from ..wire.codes import AAAA, CNAME, MX, NS, SOA, SRV, A
from .bindreader import decode_zone_bytes, parse_text, read_zone_file
from .build import Built, FileChanged, build_zone
from .checks import at_or_below
from .fastreader import Marker, ReaderState, initial_state, plain, read_lines
from .files import digest_content, file_stamp, read_regular
from .records import ParsedZone, Record, ZoneBuilder, paused_gc
from .split import directive_lines, find_split, read_in_two
from .textdiff import Region, changed_regions

MARK_EVERY = 8  # lines between the marks kept (a window reads some 2 x 8 lines more)
CHUNK = 1 << 12  # characters handed to the reader at first (then twice as many each time)
_TARGET_AT = {NS: 0, MX: 2, SRV: 6}  # where the name a record points to starts in its rdata
_CLAMPED = "> MAXTTL, setting TTL to 0"
_KNOWN = re.compile(r"\$(?:ORIGIN|TTL)[ \t]", re.I)  # the directives read incrementally
_WHERE = re.compile(r"(\d+): ")

Changes = dict[bytes, "Node | None"]
Lines = list[tuple[int, str]]  # (line, message) of warnings, in line order


class _Doubt(Exception):
    """The incremental read cannot vouch for its result: parse the whole file."""


@dataclass
class TextState:
    """What is kept of the text of a zone file last applied (see the module docstring)."""

    path: str
    origin: dns.name.Name
    text: str
    marks: list[int]  # line numbers, ascending; marks[0] is 1, the start of the file
    offsets: list[int]  # where each starts in the text
    states: list[ReaderState]  # the reader's state before each mark
    repeated: dict[bytes, int]  # owners read in several batches: how many
    warnings: Lines  # the reader's (TTL, out-of-zone data)
    target_warnings: Lines  # zone.checks.target_warnings
    targets: Counter[bytes]  # the names NS, MX and SRV records point to (lower case)
    missing: frozenset[bytes]  # those of them in the zone that are not there
    children: Counter[bytes] | None = None  # nodes below each name, made when first needed
    index: dict[int, int] = field(default_factory=dict)  # mark line -> its position

    def __post_init__(self) -> None:
        self.index = {line: i for i, line in enumerate(self.marks)}

    def line_of(self, offset: int) -> int:
        """The number of the line at an offset of the text."""
        k = bisect.bisect_right(self.offsets, offset) - 1
        return self.marks[k] + self.text.count("\n", self.offsets[k], offset)


@dataclass
class Memo:
    """What a writer keeps of the version of a zone it wrote last: the nodes (the next
    version is diffed against them in memory) and the text they were read from."""

    version: int
    nodes: dict[bytes, Node]
    records: int
    text: TextState | None


@dataclass
class Rebuilt:
    """A zone file read again: the result, and how it differs from the memo's version."""

    built: Built
    text: TextState | None  # of the new text, when it can be read incrementally next time
    base: int = 0  # the version `changes` are against (0: none, a full parse)
    changes: Changes = field(default_factory=dict)
    before: dict[bytes, Node] = field(default_factory=dict)
    undo: Callable[[], None] | None = None  # puts the memo's nodes back as they were
    lines: int = 0  # of the new text, read again (with `base`; a full parse read them all)


# -- the full parse, keeping what the next edit needs ----------------------------------


class _Recorder:
    """A read_zone_file for build_zone that also keeps the text and the reader's marks (and
    lists only the records the checks read, as build_zone's own)."""

    def __init__(self) -> None:
        self.kept: tuple[str, list[int], list[ReaderState], dict[bytes, int], int] | None = None

    def read(self, path: str, origin: dns.name.Name, zones_root: str) -> ParsedZone:
        try:
            raw = read_regular(path)
        except OSError:
            return read_zone_file(path, origin, zones_root, every_record=False)  # says why
        text, notes = decode_zone_bytes(raw, path)
        del raw
        if notes.errors or notes.undecodable or not plain(text) or _doubtful(text):
            return parse_text(text, origin, path, zones_root, notes, every_record=False)
        marks, states = [1], [initial_state(origin)]

        def mark(line: int, state: ReaderState) -> int:
            marks.append(line)
            states.append(state)
            return line + MARK_EVERY

        with paused_gc():
            try:
                builder, (records, nodes, count) = _read_marked(text, origin, path, marks,
                                                                states, mark)
            except Exception:  # noqa: BLE001 - read again by parse_text, which hands what
                # the fast reader does not read (errors too) to dnspython's reader
                return parse_text(text, origin, path, zones_root, notes, every_record=False)
        self.kept = (text, marks, states, builder.repeated, len(builder.warnings))
        return ParsedZone(origin, records, [], builder.warnings, nodes, count)


def _read_marked(text: str, origin: dns.name.Name, path: str, marks: list[int],
                 states: list[ReaderState], mark: Marker
                 ) -> tuple[ZoneBuilder, tuple[list[Record], dict[bytes, Node], int]]:
    """The fast reader's read of a whole text, marks recorded: in two processes when the
    text is big (zone.split), else in this one. Raises where the fast reader does not read
    the text."""
    builder = ZoneBuilder(origin, every_record=False)
    split = find_split(text, origin)
    if split is not None:
        return builder, read_in_two(text, split, origin, path, builder, mark, MARK_EVERY)
    read_lines(_lines(text, 0, checked=True), origin, path, builder, 1, states[0], mark,
               MARK_EVERY)
    return builder, builder.finish()


def full_build(path: str, origin: dns.name.Name, zones_root: str) -> Rebuilt:
    """build_zone(), keeping what an incremental read of the next edit needs when it can."""
    recorder = _Recorder()
    built = build_zone(path, origin, zones_root, recorder.read)
    return Rebuilt(built, _text_state(path, origin, built, recorder.kept))


def _text_state(path: str, origin: dns.name.Name, built: Built,
                kept: tuple[str, list[int], list[ReaderState], dict[bytes, int], int] | None
                ) -> TextState | None:
    if kept is None or built.includes:
        return None
    text, marks, states, repeated, reader_warnings = kept
    try:
        warnings = _lines_of(path, built.warnings[:reader_warnings])
        targeting = _lines_of(path, built.warnings[reader_warnings:])
    except _Doubt:
        return None
    if any(_CLAMPED in message for _, message in warnings):
        return None
    nodes = built.contents.nodes
    targets: Counter[bytes] = Counter()
    for node in nodes.values():
        if NS in node or MX in node or SRV in node:
            targets.update(_targets(node))
    apex = built.contents.meta.origin.lower()
    missing = frozenset(name for name in targets if name.endswith(apex) and name not in nodes)
    offsets = _offsets_of(text, marks)
    return TextState(path, origin, text, marks, offsets, states, repeated, warnings, targeting,
                     targets, missing)


def _offsets_of(text: str, marks: list[int]) -> list[int]:
    """Where each line of `marks` (ascending numbers) starts in text, found a megabyte of
    text at a time (not a list of every line of a big file)."""
    out: list[int] = []
    k, line, offset = 0, 1, 0  # the next mark; the first line of the piece, its offset
    while k < len(marks):
        end = text.find("\n", offset + (1 << 20))
        stop = len(text) if end < 0 else end + 1
        pieces = text[offset:stop].split("\n")
        lines = len(pieces) if stop == len(text) else len(pieces) - 1
        starts = list(accumulate(map(len, pieces), initial=0))
        while k < len(marks) and marks[k] < line + lines:
            j = marks[k] - line
            out.append(offset + starts[j] + j)
            k += 1
        if stop == len(text):
            break
        line, offset = line + lines, stop
    return out


def _lines_of(path: str, warnings: list[str]) -> Lines:
    """`path:line: message` warnings as (line, message)."""
    out: Lines = []
    prefix = f"{path}:"
    for warning in warnings:
        m = _WHERE.match(warning, len(prefix)) if warning.startswith(prefix) else None
        if m is None:
            raise _Doubt
        out.append((int(m[1]), warning[m.end():]))
    return out


def _targets(node: Node) -> list[bytes]:
    return [rdata[at:].lower() for rtype, at in _TARGET_AT.items() if rtype in node
            for rdata in node[rtype][1]]


def _doubtful(text: str) -> bool:
    """Whether a text has a directive other than $ORIGIN and $TTL ($INCLUDE, $GENERATE):
    then it is read in full."""
    return any(_KNOWN.match(text, start) is None for start in directive_lines(text))


def _lines(text: str, offset: int, checked: bool = False) -> Iterator[str]:
    """The lines of text from offset on, a chunk at a time, refusing what only a full parse
    may read (characters the fast reader does not take, directives but $ORIGIN and $TTL)
    unless the text was `checked` already."""
    size = CHUNK
    while True:
        end = text.find("\n", offset + size)
        chunk = text[offset:] if end < 0 else text[offset:end]
        if not checked and (not plain(chunk) or _doubtful(chunk)):
            raise _Doubt
        yield from chunk.split("\n")
        if end < 0:
            return
        offset = end + 1
        size = min(size * 2, 1 << 20)


# -- reading again what changed --------------------------------------------------------


def rebuild(memo: Memo, path: str, origin: dns.name.Name, zones_root: str) -> Rebuilt:
    """Read a zone file again, incrementally against the memo when it can, else in full."""
    if memo.text is not None and memo.text.path == path:
        try:
            return _incremental(memo, memo.text, path, origin)
        except FileChanged:
            raise
        except Exception:  # noqa: BLE001 - any doubt: the full parse decides, and says why
            pass
    return full_build(path, origin, zones_root)


@dataclass
class _Window:
    """One stretch read again: from old line `start` to old line `end` (0: to the end),
    new lines from `new_start` to `new_end`."""

    start: int
    end: int
    new_start: int
    new_end: int


class _Reread:
    """The reading of the changed stretches of one edit, old and new text."""

    def __init__(self, state: TextState, new: str, regions: list[Region]) -> None:
        self.state = state
        self.new = new
        self.regions = regions
        self.origin = state.origin
        self.old_builder = ZoneBuilder(state.origin)
        self.new_builder = ZoneBuilder(state.origin)
        self.windows: list[_Window] = []
        self.marks: list[int] = []
        self.offsets: list[int] = []
        self.states: list[ReaderState] = []
        self.limit = max(20000, state.marks[-1] // 8)  # lines read again at most

    def run(self) -> None:
        state = self.state
        r = 0
        # where the last window ended (a batch start in both texts): old, new line, old
        # offset, and how far the new text is moved there (lines, characters)
        done, done_offset, lines, chars = 1, 0, 0, 0
        done_state = state.states[0]
        while r < len(self.regions):
            region = self.regions[r]
            k = max(bisect.bisect_left(state.marks, region.old_line) - 1, 0)
            if state.marks[k] > done:
                start, offset, start_state = state.marks[k], state.offsets[k], state.states[k]
            else:
                start, offset, start_state = done, done_offset, done_state
            self._copy_marks(done, start, lines, chars)
            r, end, end_state = self._window(r, start, offset, start_state, lines, chars)
            if not end:
                return
            last = self.regions[r - 1]
            lines = last.new_end_line - last.old_end_line
            chars = last.new_end - last.old_end
            done, done_offset, done_state = end, state.offsets[state.index[end]], end_state
        self._copy_marks(done, 1 << 62, lines, chars)

    def _copy_marks(self, start: int, end: int, lines: int, chars: int) -> None:
        """The old marks in [start, end), moved by `lines` lines and `chars` characters."""
        marks = self.state.marks
        lo, hi = bisect.bisect_left(marks, start), bisect.bisect_left(marks, end)
        self.marks += [line + lines for line in marks[lo:hi]]
        self.offsets += [offset + chars for offset in self.state.offsets[lo:hi]]
        self.states += self.state.states[lo:hi]

    def _window(self, r: int, start: int, offset: int, start_state: ReaderState, lines: int,
                chars: int) -> tuple[int, int, ReaderState]:
        """Read the new text from old line `start` (at `offset`, moved by lines and chars in
        the new text) until it is back in step with the old text; then the old text over
        the same stretch. Returns (the next region to handle, the old line the window ends
        before, 0 at the end of the text, and the state there)."""
        state = self.state
        regions = self.regions
        new_start = start + lines
        at = {"r": r, "recorded": new_start}
        found: list[tuple[int, int, ReaderState]] = []
        recorded: list[int] = []

        def marker(line: int, now: ReaderState) -> int:
            i = at["r"]
            while i + 1 < len(regions) and line >= regions[i + 1].new_line:
                i += 1
            at["r"] = i
            if line - new_start > self.limit:
                raise _Doubt  # as good as a full parse
            if line >= regions[i].new_end_line:
                old_line = line - (regions[i].new_end_line - regions[i].old_end_line)
                k = state.index.get(old_line)
                if k is not None and _same(state.states[k], now):
                    found.append((old_line, line, now))
                    return -1
            if line - at["recorded"] >= MARK_EVERY:
                at["recorded"] = line
                recorded.append(line)
                self.states.append(now)
            return line + 1

        self.marks.append(new_start)
        self.offsets.append(offset + chars)
        self.states.append(start_state)
        self.new_builder.break_batch()
        stopped = read_lines(_lines(self.new, offset + chars), self.origin, state.path,
                             self.new_builder, new_start, start_state, marker)
        self.marks += recorded
        self.offsets += _offsets(self.new, offset + chars, new_start, recorded)
        old_end, new_end, end_state = found[0] if stopped else (0, 0, start_state)
        self.windows.append(_Window(start, old_end, new_start, new_end))
        self._old(start, old_end, offset, start_state)
        return at["r"] + 1, old_end, end_state

    def _old(self, start: int, end: int, offset: int, start_state: ReaderState) -> None:
        """Read the old text from line start to line end (0: to the end of the text)."""
        def marker(line: int, now: ReaderState) -> int:
            return -1 if line >= end else end

        self.old_builder.break_batch()
        read_lines(_lines(self.state.text, offset), self.origin, self.state.path,
                   self.old_builder, start, start_state, marker, end or (1 << 62))


def _offsets(text: str, offset: int, line: int, wanted: list[int]) -> list[int]:
    """The offsets of the lines `wanted` (ascending, after `line`, which is at `offset`)."""
    out = []
    for target in wanted:
        for _ in range(target - line):
            offset = text.index("\n", offset) + 1
        line = target
        out.append(offset)
    return out


def _same(a: ReaderState, b: ReaderState) -> bool:
    """The same state, origin letter case too (relative names take it)."""
    return a == b and a.origin.labels == b.origin.labels


def _incremental(memo: Memo, state: TextState, path: str, origin: dns.name.Name) -> Rebuilt:
    started = time.perf_counter()
    if state.origin != origin or state.origin.labels != origin.labels:
        raise _Doubt
    before = file_stamp(path)
    raw = read_regular(path)
    if file_stamp(path) != before:
        raise FileChanged(path)
    text, notes = decode_zone_bytes(raw, path)
    if notes.errors or notes.undecodable:
        raise _Doubt
    digest = digest_content(raw)
    del raw
    regions = changed_regions(state.text, text, state.line_of)
    reread = _Reread(state, text, regions)  # (small: with the cycle collector on)
    reread.run()
    return _Merge(memo, state, reread, text, digest, started).result()


class _Merge:
    """The records read again turned into node changes, checked, and applied to the memo."""

    def __init__(self, memo: Memo, state: TextState, reread: _Reread, text: str,
                 digest: str, started: float) -> None:
        self.memo = memo
        self.state = state
        self.reread = reread
        self.text = text
        self.digest = digest
        self.started = started
        self.nodes = memo.nodes
        apex = state.origin.to_wire()
        assert apex is not None
        self.apex = apex
        self.apex_lower = apex.lower()

    def result(self) -> Rebuilt:
        new_builder = self.reread.new_builder
        old_names = set(self.reread.old_builder.names)
        new_names = set(new_builder.names)
        repeated = self._repeated(old_names, new_names)
        new_warnings = _lines_of(self.state.path, new_builder.warnings)
        records = new_builder.records()
        if any(_CLAMPED in message for _, message in new_warnings):
            raise _Doubt
        grouped = _grouped(records)
        touched = old_names | new_names
        changes, created, emptied = self._changes(touched, grouped)
        children = self._settle_tree(changes, created, emptied)
        self._check(touched, changes)
        count = self.memo.records + len(records) - sum(
            _count(self.nodes[name]) for name in old_names)
        moves = _pointer_lines(self.reread.old_builder.records(), records)
        warnings, targeting = self._warnings(new_warnings, moves)
        before = {owner: self.nodes[owner] for owner in changes if owner in self.nodes}
        meta = self._meta(changes, count)
        # NS, MX and SRV records are as they were (_check): so are the names they point to
        reread = self.reread
        state = TextState(self.state.path, self.state.origin, self.text, reread.marks,
                          reread.offsets, reread.states, repeated, warnings, targeting,
                          self.state.targets, self.state.missing, children)
        path = self.state.path
        shown = [f"{path}:{line}: {m}" for line, m in warnings + targeting]
        built = Built(ZoneContents(meta, self.nodes), [], self.digest,
                      time.perf_counter() - self.started, shown)
        undo = self._apply(changes) if changes else None  # last: nothing may fail after it
        return Rebuilt(built, state if changes else None, self.memo.version, changes, before,
                       undo, self._lines_read())

    def _lines_read(self) -> int:
        """Lines of the new text the windows read (one running to the end: to its end)."""
        windows = self.reread.windows
        last = 0
        if any(w.end == 0 for w in windows):
            last = self.text.count("\n") + (not self.text.endswith("\n"))
        return sum((w.new_end or last + 1) - w.new_start for w in windows)

    def _repeated(self, old_names: set[bytes], new_names: set[bytes]) -> dict[bytes, int]:
        """The owners read in several batches after the edit; _Doubt if an owner read again
        also has records outside the stretches read."""
        old_rep = self.reread.old_builder.repeated
        new_rep = self.reread.new_builder.repeated
        repeated = dict(self.state.repeated)
        for name in old_names | new_names:
            node = self.nodes.get(name)
            total = self.state.repeated.get(name, 1) if node else 0
            read = old_rep.get(name, 1) if name in old_names else 0
            if total != read:
                raise _Doubt
            now = new_rep.get(name, 1) if name in new_names else 0
            if now > 1:
                repeated[name] = now
            else:
                repeated.pop(name, None)
        return repeated

    def _changes(self, touched: set[bytes], grouped: dict[bytes, Node]) -> tuple[
            Changes, list[bytes], list[bytes]]:
        """Owner -> new node (None: gone) for the owners read again, the owners created
        and the owners left without records."""
        nodes = self.nodes
        changes: Changes = {}
        created: list[bytes] = []
        emptied: list[bytes] = []
        for name in touched:
            node = grouped.get(name)
            old = nodes.get(name)
            if node is None:
                if name == self.apex_lower:
                    raise _Doubt  # no records left at the apex: the full parse says so
                if old:
                    emptied.append(name)
            elif node != old:
                changes[name] = node
                if old is None:
                    created.append(name)
        return changes, created, emptied

    def _settle_tree(self, changes: Changes, created: list[bytes],
                     emptied: list[bytes]) -> Counter[bytes] | None:
        """Empty non-terminals: made above created owners, and an owner without records
        kept as one while it has nodes below it, else removed with the ones above it that
        had only it below them. Returns the children counts after the edit (if made)."""
        nodes = self.nodes
        children = self.state.children
        if emptied and children is None:
            children = Counter(name[name[0] + 1:] for name in nodes if name != self.apex_lower)
        change: Counter[bytes] = Counter()
        for name in created:
            while name != self.apex_lower:
                parent = name[name[0] + 1:]
                change[parent] += 1
                if parent in nodes or parent in changes:
                    break
                changes[parent] = {}
                name = parent
        if children is None:
            return None
        for name in sorted(emptied, key=_depth, reverse=True):
            while name != self.apex_lower:
                if children[name] + change[name] > 0:
                    changes[name] = {}
                    break
                changes[name] = None
                parent = name[name[0] + 1:]
                change[parent] -= 1
                node = changes[parent] if parent in changes else nodes.get(parent)
                if node or parent == self.apex_lower:
                    break
                name = parent
        settled = Counter(children)
        settled.update(change)
        return +settled

    def _check(self, touched: set[bytes], changes: Changes) -> None:
        """What the full parse's checks would refuse, or warn about anew: _Doubt."""
        apex = changes.get(self.apex_lower, self.nodes.get(self.apex_lower))
        if not apex or SOA not in apex or len(apex[SOA][1]) != 1 or NS not in apex:
            raise _Doubt
        self._check_changes(changes)
        nodes = self.nodes
        for name in touched:
            old, node = nodes.get(name) or {}, changes.get(name, nodes.get(name)) or {}
            if any(old.get(rtype) != node.get(rtype) for rtype in _TARGET_AT):
                raise _Doubt  # NS, MX or SRV records changed: their targets are checked

    def _check_changes(self, changes: Changes) -> None:
        """_Doubt for a changed node the target checks may see otherwise."""
        nodes = self.nodes
        targets = self.state.targets
        missing = self.state.missing
        for name, node in changes.items():
            old = nodes.get(name)
            if name != self.apex_lower and (NS in (old or ())) != (NS in (node or ())):
                raise _Doubt  # a delegation made or removed: the places of names change
            if targets[name] and _kind(old) != _kind(node):
                raise _Doubt  # a name pointed to gains or loses addresses, or a CNAME
            if missing and _finds_missing(name, old, node, missing):
                raise _Doubt  # a name pointed to, not there, may now be found by a wildcard

    def _warnings(self, new_warnings: Lines, moves: dict[int, int]) -> tuple[Lines, Lines]:
        """The reader's warnings outside the windows (moved) and those read again; the
        target warnings, moved (those of records read again to where their RRset now
        starts: `moves`, from old lines)."""
        windows = _Windows(self.reread.windows)
        kept = [(windows.moved(line), m) for line, m in self.state.warnings
                if not windows.inside(line)]
        warnings = sorted(kept + new_warnings, key=lambda w: w[0])
        targeting = []
        for line, m in self.state.target_warnings:
            if not windows.inside(line):
                targeting.append((windows.moved(line), m))
            elif line in moves:
                targeting.append((moves[line], m))
            else:
                raise _Doubt
        targeting.sort()  # as target_warnings sorts them: by line, then text
        return warnings, targeting

    def _apply(self, changes: Changes) -> Callable[[], None]:
        """Change the memo's nodes to the new version's; returns what puts them back. The
        apex is copied first: the serial policy may change it in place."""
        nodes = self.nodes
        apex = self.apex_lower
        saved = {owner: nodes.get(owner) for owner in changes}
        saved[apex] = nodes[apex]
        nodes[apex] = dict(nodes[apex])
        for owner, node in changes.items():
            if node is None:
                del nodes[owner]
            else:
                nodes[owner] = node

        def undo() -> None:
            for owner, node in saved.items():
                if node is None:
                    nodes.pop(owner, None)
                else:
                    nodes[owner] = node
        return undo

    def _meta(self, changes: Changes, count: int) -> ZoneMeta:
        apex = changes.get(self.apex_lower) or self.nodes[self.apex_lower]
        ttl, (rdata,) = apex[SOA]
        serial, minimum = soa_fields(rdata)
        return ZoneMeta(self.apex, serial, ttl, min(ttl, minimum), rdata, count)


def _finds_missing(name: bytes, old: Node | None, node: Node | None,
                   missing: frozenset[bytes]) -> bool:
    """Whether a change may change how a missing name is looked up (target_warnings looks
    for a wildcard at its closest encloser): a name above one came or went, or a wildcard
    at or above one changed."""
    if name[:2] == b"\x01*":
        return any(at_or_below(target, name[2:]) for target in missing)
    return (old is None) != (node is None) and \
        any(target != name and at_or_below(target, name) for target in missing)


def _pointer_lines(old: list[Record], new: list[Record]) -> dict[int, int]:
    """Old line -> new line of the first record of each NS, MX and SRV RRset read again
    (the line its target warnings are said at)."""
    def lines(records: list[Record]) -> dict[tuple[bytes, int], int]:
        return {(r.owner.lower(), r.rtype): int(r.where.rpartition(":")[2]) for r in records
                if r.rtype in _TARGET_AT}
    now = lines(new)
    return {line: now[key] for key, line in lines(old).items() if key in now}


def _grouped(records: list[Record]) -> dict[bytes, Node]:
    """Records (grouped by owner and RRset, as the builder gives them) as nodes."""
    nodes: dict[bytes, Node] = {}
    for owner, rtype, ttl, rdata, _ in records:
        node = nodes.setdefault(owner.lower(), {})
        entry = node.get(rtype)
        node[rtype] = (ttl, (rdata,)) if entry is None else (entry[0], entry[1] + (rdata,))
    return nodes


def _count(node: Node) -> int:
    return sum(len(rdatas) for _, rdatas in node.values())


def _depth(name: bytes) -> int:
    return len(name)


def _kind(node: Node | None) -> tuple[bool, bool] | None:
    """What the target checks see of a name: there or not, with addresses, a CNAME."""
    if node is None:
        return None
    return (A in node or AAAA in node, CNAME in node)


class _Windows:
    """Where the windows read again are, for the lines of what was kept."""

    def __init__(self, windows: list[_Window]) -> None:
        self.windows = windows
        self.starts = [w.start for w in windows]

    def inside(self, line: int) -> bool:
        i = bisect.bisect_right(self.starts, line) - 1
        return i >= 0 and (self.windows[i].end == 0 or line < self.windows[i].end)

    def moved(self, line: int) -> int:
        """Where an old line outside the windows is in the new text."""
        i = bisect.bisect_right(self.starts, line) - 1
        if i < 0:
            return line
        return line + self.windows[i].new_end - self.windows[i].end
