"""A big zone file's full parse in two processes, split near its middle at a record's start.

The writer forks a child (os.fork: the text is shared, nothing is copied) that reads the
second half with the fast reader into a builder of its own and finishes it to nodes, while
the writer reads the first half. The child's result comes back through a pipe in one
marshal string (nodes, the records the checks read, warnings, marks), and the halves are
joined. The result is always the one-process read's:

- The split line is chosen by text alone (one with an owner name written other than the
  line before's, no quote or parenthesis) and the reader's state before it guessed from
  the `$ORIGIN` and `$TTL` lines before it (a `$TTL` is needed: without one the default
  TTL may come from the SOA and a record's TTL from the record before, which text alone
  does not tell). The first half's reader proves both: it reaches the split line at a
  batch start (a new owner, so not inside parentheses, a quoted string or the batch
  before) in the guessed state, or its own read goes on from where it stopped, in its own
  state, and the child's answer is dropped.
- An owner with records in both halves is joined by the builder's rules
  (ZoneBuilder.join_node: the TTL of the later batch, duplicates by canonical form, the
  CNAME and singleton checks). Where those would fail (an error of the one-process read),
  where such a node holds RRSIGs, or where a TTL was clamped in the second half (its
  warning is said once per file), the halves are not joined: the writer reads the second
  half itself (the one-process read's cost, plus nothing but the child's wasted core).
- The child failing (a line the fast reader does not read, an error) raises HalfFailed:
  the one-process read fails there too, and the caller reads the file as it does then.
  A child with no answer when the writer has waited three times as long as its own part
  took (starved of CPU, or stuck) is killed, and the writer reads on.

The reader's marks (zone.incremental) are the first half's, then the child's, whose states
take the first half's last TTL until the child read one of its own.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import re
import select
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from ..store.format import Node
from .fastreader import ReaderState, _ttl, initial_state, read_lines, split_lines
from .records import Record, ZoneBuilder

SPLIT_LINES = 200_000  # files from this many lines on are read in two processes
# The share of the text the writer reads itself. More than half: the child's part costs it
# more than reading (it finishes its nodes and marshals them), and at 45% the writer waited
# 0.8 s for it at 1,000,000 A records. Wall time of the whole read, quiet machine, 2 cores,
# alternating runs: 1M A 2.98-3.32 s at 0.45, 2.32-2.72 s at 0.62; 1M mixed 4.94-5.63 s
# against 4.62-4.95 s (one process: 2.6-2.9 s and 4.5 s).
FIRST_SHARE = 0.62
# How long the writer waits for the child once its own part is read, in times what that
# took (plus a second): the child's part is some 1.4 times the writer's work.
WAIT_SHARE = 3.0
_LOOK = 1000  # lines looked at after the middle for one to split at
_DIRECTIVE = re.compile(r"\$([A-Za-z]+)[ \t]+([^ \t\n;]+)[ \t]*(?:;[^\n]*)?")  # a whole line
_NOT_OWNER = " \t\n;$(\""  # what a line with an owner name cannot start with
_CLAMPED = "> MAXTTL, setting TTL to 0"

class HalfFailed(Exception):
    """The second half did not read: neither would the whole file, in one process."""


Mark = Callable[[int, ReaderState], int]  # fastreader.Marker, recording the marks


class Split:
    """Where a text is split: the first line of its second half, where that line starts, and
    the reader's state guessed for before it."""

    __slots__ = ("line", "offset", "state")

    def __init__(self, line: int, offset: int, state: ReaderState) -> None:
        self.line = line
        self.offset = offset
        self.state = state


def find_split(text: str, origin: dns.name.Name, min_lines: int | None = None,
               near: int | None = None) -> Split | None:
    """A line near FIRST_SHARE of `text` (or after offset `near`) to split it at, or None (a
    file of fewer than `min_lines` lines, SPLIT_LINES by default; this process may run on one
    CPU only, where the child would only take turns with it and its extra work, finishing
    and marshalling its nodes, and the join would be added to the read; no line found, no
    `$TTL` before it, a directive not understood)."""
    if min_lines is None:
        if _cpus() < 2:
            return None
        min_lines = SPLIT_LINES
    if text.count("\n") + 1 < min_lines:
        return None
    offset = text.find("\n", int(len(text) * FIRST_SHARE) if near is None else near) + 1
    for _ in range(_LOOK):
        if offset <= 0 or offset >= len(text):
            return None
        end = text.find("\n", offset)
        line = text[offset:] if end < 0 else text[offset:end]
        if line and line[0] not in _NOT_OWNER and not any(c in line for c in "\"()") and \
                line.split(None, 1)[0] != _last_owner(text, offset):
            state = _state_before(text, offset, origin)
            if state is None:
                return None
            return Split(text.count("\n", 0, offset) + 1, offset, state)
        offset = end + 1
    return None


def _cpus() -> int:
    """The CPUs this process may run on (taskset, cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _last_owner(text: str, offset: int) -> str | None:
    """The owner name written last before `offset`, as written (a guess: the first word
    of the last line starting with one)."""
    end = offset - 1
    for _ in range(_LOOK):
        if end <= 0:
            return None
        start = text.rfind("\n", 0, end) + 1
        if text[start] not in _NOT_OWNER:
            return text[start:end].split(None, 1)[0]
        end = start - 1
    return None


def _state_before(text: str, offset: int, origin: dns.name.Name) -> ReaderState | None:
    """The state the `$ORIGIN` and `$TTL` lines before `offset` leave (a guess, which the
    first half's reader checks), or None without a `$TTL`."""
    ttl = None
    for start in directive_lines(text, offset):
        end = text.find("\n", start, offset)
        m = _DIRECTIVE.fullmatch(text, start, offset if end < 0 else end)
        if m is None:
            return None
        word = m[1].upper()
        if word == "TTL":
            ttl = _ttl(m[2])
            if ttl is None:
                return None
        elif word == "ORIGIN":
            try:
                origin = dns.name.from_text(m[2], origin)
            except Exception:  # noqa: BLE001 - the reader says what is wrong
                return None
        else:
            return None
    if ttl is None:
        return None
    return ReaderState(origin, ttl, True, False, 0, False)


def directive_lines(text: str, end: int | None = None) -> Iterator[int]:
    """Where each line of `text` (before `end`) that starts with "$" starts: found with
    str.find, which a big text costs milliseconds, not with a multi-line regular expression
    (a dollar sign after `^`, re.M), which tries every position (0.2 s for 36 MB)."""
    stop = len(text) if end is None else end
    if text.startswith("$") and stop > 0:
        yield 0
    at = text.find("\n$", 0, stop)
    while at >= 0 and at + 1 < stop:
        yield at + 1
        at = text.find("\n$", at + 1, stop)


Half = tuple[list[Record], dict[bytes, Node], int]  # what ZoneBuilder.finish gives


def read_in_two(text: str, split: Split, origin: dns.name.Name, path: str,
                builder: ZoneBuilder, mark: Mark, mark_every: int) -> Half:
    """The whole text read as the fast reader reads it in one process (marks and states
    appended by `mark`): the first half into `builder`, the second by a forked child, and
    the two joined; where they cannot be (see the module docstring), this process reads
    on from the split line itself, in the state its reader reached there. Raises where the
    fast reader does not read the text (HalfFailed: the child said so)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(rfd)
        _child(text, split, origin, path, mark_every, wfd)
    os.close(wfd)
    stop: tuple[int, ReaderState] | None = None
    payload = b""
    started = time.monotonic()
    try:
        stop = _first_half(text, split, origin, path, builder, mark, mark_every)
        if stop is not None and stop[0] == split.line and _agrees(stop[1], split.state):
            took = time.monotonic() - started
            got = _received(rfd, time.monotonic() + 1.0 + WAIT_SHARE * took)
            if got == b"":  # the one-process read fails on the second half too
                raise HalfFailed(path)
            payload = got or b""  # None: too slow, or stuck, this process reads on
    finally:
        os.close(rfd)
        if payload:
            os.waitpid(pid, 0)
        else:
            _end(pid)  # its answer is not wanted
    if stop is None:  # the text ended before the split line
        return builder.finish()
    if payload:
        joined = _joined(builder, stop[1], marshal.loads(payload), mark)
        if joined is not None:
            return joined
    line, state = stop
    offset = split.offset
    for _ in range(split.line, line):
        offset = text.index("\n", offset) + 1
    read_lines(split_lines(text, offset), origin, path, builder, line, state, mark, line)
    return builder.finish()


def _first_half(text: str, split: Split, origin: dns.name.Name, path: str,
                builder: ZoneBuilder, mark: Mark, mark_every: int
                ) -> tuple[int, ReaderState] | None:
    """Read the first half, stopping before the first batch start at or after the split
    line: that line and the reader's state there (None: the text ended before)."""
    at: list[tuple[int, ReaderState]] = []

    def marker(line: int, state: ReaderState) -> int:
        if line >= split.line:
            at.append((line, state))
            return -1
        mark(line, state)
        return min(line + mark_every, split.line)

    read_lines(split_lines(text, 0), origin, path, builder, 1, initial_state(origin), marker,
               mark_every)
    return at[0] if at else None


def _agrees(real: ReaderState, guessed: ReaderState) -> bool:
    """The same state as far as the second half can tell (the last TTL aside: with a
    `$TTL` and no default from the SOA no record takes it)."""
    return (real.origin == guessed.origin and real.origin.labels == guessed.origin.labels
            and real[1:4] == guessed[1:4])


def _child(text: str, split: Split, origin: dns.name.Name, path: str, mark_every: int,
           wfd: int) -> None:
    """The second half, read and finished, written to `wfd` in one marshal string (nothing
    on any failure: the writer reads the file again in one process)."""
    status = 1
    try:
        payload = _second_half(text, split, origin, path, mark_every)
        status = 0
    except BaseException:  # noqa: BLE001 - told by an empty answer
        payload = b""
    try:
        with os.fdopen(wfd, "wb") as out:
            out.write(payload)
    finally:
        os._exit(status)  # no atexit, no cleanup of the writer's store handles


def _second_half(text: str, split: Split, origin: dns.name.Name, path: str,
                 mark_every: int) -> bytes:
    builder = ZoneBuilder(origin, every_record=False)
    marks: list[int] = []
    states: list[tuple[bytes, int, bool, bool, int, bool]] = []
    wires: dict[tuple[bytes, ...], bytes] = {}  # by labels: names compare ignoring case

    def marker(line: int, state: ReaderState) -> int:
        labels = state.origin.labels
        wire = wires.get(labels)
        if wire is None:
            wire = wires[labels] = _wire(state.origin)
        marks.append(line)
        states.append((wire, *state[1:]))
        return line + mark_every

    read_lines(split_lines(text, split.offset), origin, path, builder, split.line, split.state,
               marker, split.line)
    records, nodes, count = builder.finish()
    return marshal.dumps((nodes, [tuple(r) for r in records], count, builder.warnings,
                          builder.repeated, marks, states))


def _wire(name: dns.name.Name) -> bytes:
    wire = name.to_wire()
    assert wire is not None
    return wire


def _received(rfd: int, deadline: float) -> bytes | None:
    """What the child sent (b"": it failed), or None if it has not by `deadline` (it is
    starved of CPU, or stuck: see WAIT_SHARE)."""
    parts: list[bytes] = []
    while True:
        if not select.select([rfd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return None
        part = os.read(rfd, 1 << 20)
        if not part:
            return b"".join(parts)
        parts.append(part)


def _end(pid: int) -> None:
    """Stop the child and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _joined(builder: ZoneBuilder, at_split: ReaderState, second: Any, mark: Mark
            ) -> Half | None:
    """The first half (in `builder`) and the second (as the child sent it) as one, or None
    (`builder` untouched) where the two cannot be joined."""
    nodes2, records2, count2, warnings2, repeated2, marks, states = second
    if any(_CLAMPED in warning for warning in warnings2):
        return None
    names = builder.names
    shared = [name for name in nodes2 if name in names]
    if shared:
        taken = _take_shared(builder, shared, nodes2, records2, repeated2)
        if taken is None:
            return None
        records2, gone = taken
        count2 -= gone
    records, nodes, count = builder.finish()
    records += [Record._make(r) for r in records2]
    nodes.update(nodes2)
    builder.warnings += warnings2
    builder.repeated.update(repeated2)
    origins: dict[bytes, dns.name.Name] = {}
    for line, (wire, *rest) in zip(marks, states, strict=True):
        origin = origins.get(wire)
        if origin is None:
            origin = origins[wire] = dns.name.from_wire(wire, 0)[0]
        if not rest[4]:  # no TTL read in the child yet: the first half's last one
            rest[3], rest[4] = at_split.last_ttl, at_split.last_ttl_known
        mark(line, ReaderState(origin, *rest))
    return records, nodes, count + count2


def _take_shared(builder: ZoneBuilder, shared: list[bytes], nodes2: dict[bytes, Node],
                 records2: list[tuple[Any, ...]], repeated2: dict[bytes, int]
                 ) -> tuple[list[tuple[Any, ...]], int] | None:
    """The child's nodes of owners the first half has too, taken into the builder's drafts
    by its rules (ZoneBuilder.join_node) and out of what the child sent: its records left,
    and how many records they were. None (nothing changed) where they cannot be."""
    wanted = set(shared)
    wheres: dict[bytes, dict[int, int]] = {lower: {} for lower in shared}
    kept = []
    for record in records2:
        lower = record[0].lower()
        if lower in wanted:
            file, line = record[4].rsplit(":", 1)
            wheres[lower].setdefault(record[1], builder.file_code(file) + int(line))
        else:
            kept.append(record)
    if not all(builder.join_node(lower, nodes2[lower], wheres[lower], _canonical, False)
               for lower in shared):
        return None
    taken = 0
    for lower in shared:
        node = nodes2.pop(lower)
        builder.join_node(lower, node, wheres[lower], _canonical, True)
        taken += sum(len(rdatas) for _, rdatas in node.values())
        builder.repeated[lower] = builder.repeated.get(lower, 1) + repeated2.pop(lower, 1)
    return kept, taken


def _canonical(rtype: int, wire: bytes) -> bytes:
    """An rdata's canonical form (RFC 4034 6.2, as the readers compare records)."""
    rdata = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), wire,
                                0, len(wire))
    return rdata.to_digestable()
