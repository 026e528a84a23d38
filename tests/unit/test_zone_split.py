"""A zone file read in two processes (zone.split) reads exactly as in one.

The same nodes (in the same order), records, count, warnings with their lines, owners read
in several batches, or the same errors; and every mark the two-process read keeps is a
batch start the one-process reader passes in the same state. Random zone texts ($ORIGIN
and $TTL changes, multi-line records, owners left out, several batches of one owner,
CNAMEs beside other data, bad lines) split at random places, and generated zones.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.name
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dnsbackend.zone import incremental, split
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.incremental import full_build
from dnsbackend.zone.records import ZoneFileError
from testkit.zones import generate

from . import test_incremental

ORIGIN = dns.name.from_text("example.com.")

_OWNERS = ["www", "WWW", "mail", "a.b", "*.w", "x.example.com.", "out.other.", "sub",
           "ns.sub", "@"]
# test_incremental's lines: those that make errors, or warnings said once a file (a few in
# some texts), and the rest (no $INCLUDE: the writer's fast read takes no such file).
_RARE = [line for line in test_incremental.LINES
         if "999." in line or "4294967295" in line or "BOGUS" in line or '"open' in line
         or "CNAME" in line or " NS " in line]
_LINES = [line for line in test_incremental.LINES if line not in _RARE and "$INCLUDE" not in line]
_HEAD = test_incremental.HEAD


def _owner(rng: random.Random) -> str:
    """Mostly names seen once or twice in a text, sometimes one of a few names seen often
    (owners in both halves, joined by the builder's rules)."""
    return rng.choice(_OWNERS) if rng.random() < 0.1 else f"h{rng.randrange(400)}"


def _line(rng: random.Random) -> str:
    kinds = _RARE if rng.random() < 0.004 else _LINES
    return rng.choice(kinds).format(o=_owner(rng), n=rng.randrange(1, 40),
                                    t=rng.choice(["60", "1h", "300"]),
                                    r=rng.choice(["b", "B", "example.com.", "sub"]))


def _text(rng: random.Random, size: int) -> str:
    head = list(_HEAD)
    if rng.random() < 0.1:
        head[0] = "; no $TTL"
    return "\n".join(head + [_line(rng) for _ in range(size)]) + "\n"


Read = tuple[str, Any]


def _read(text: str, near: int | None, mark_every: int = incremental.MARK_EVERY) -> Read:
    """What the writer's full parse (incremental._Recorder) reads of `text`, split after
    offset `near` (None: in one process): the parsed zone and what the next edit needs,
    or the errors."""
    def find(text: str, origin: dns.name.Name) -> split.Split | None:
        return None if near is None else split.find_split(text, origin, 1, near)

    recorder = incremental._Recorder()
    try:
        with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as root:
            patch.setattr(incremental, "find_split", find)
            patch.setattr(incremental, "MARK_EVERY", mark_every)
            path = os.path.join(root, "z.zone")
            Path(path).write_text(text)
            parsed = recorder.read(path, ORIGIN, root)
    except ZoneFileError as exc:
        return ("failed", [error.replace(root, "") for error in exc.errors])
    assert parsed.nodes is not None
    records = [record._replace(where=record.where.replace(root, "")) for record in parsed.records]
    return ("read", (records, list(parsed.nodes.items()), parsed.count,
                     [warning.replace(root, "") for warning in parsed.warnings],
                     recorder.kept and recorder.kept[3:], recorder.kept))


def _same_marks(two: Read, every: Read) -> None:
    """Every mark of the two-process read is a batch start of the one-process read (marked
    at every batch start), in the same state."""
    if two[1][5] is None:  # not read by the fast reader at all
        assert every[1][5] is None
        return
    marks, states = two[1][5][1], two[1][5][2]
    at = dict(zip(every[1][5][1], every[1][5][2], strict=True))
    for line, state in zip(marks, states, strict=True):
        assert line in at
        assert incremental._same(at[line], state)


def _check(text: str, near: int) -> bool:
    """The split read equals the one-process read; whether the halves were joined (not
    read on by the writer's process alone)."""
    joined: list[bool] = []
    saved = split._joined

    def counted(*args: Any) -> Any:
        got = saved(*args)
        joined.append(got is not None)
        return got

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(split, "_joined", counted)
        two = _read(text, near)
    one = _read(text, None)
    assert two[0] == one[0]
    if one[0] == "failed":
        assert two == one
        return False
    assert two[1][:5] == one[1][:5]
    _same_marks(two, _read(text, None, mark_every=1))
    return joined == [True]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32), st.integers(5, 300), st.floats(0.0, 1.0))
def test_random_texts_split_anywhere_read_as_in_one_process(seed: int, size: int,
                                                             where: float) -> None:
    text = _text(random.Random(seed), size)
    kept = _check(text, int(len(text) * where))
    event("halves joined" if kept else "read on by one process")


def test_generated_zones_split_and_read_as_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "g.zone"
    generate(str(path), "example.com.", 4000, seed=7)
    text = path.read_text()
    rng = random.Random(3)
    kept = [_check(text, rng.randrange(len(text))) for _ in range(12)]
    assert sum(kept) >= 9  # most places split


def test_a_guess_the_first_half_disproves_reads_in_one_process() -> None:
    """The state before the split is guessed from the text alone; the first half's reader
    proves it or the read gives up: here a `$TTL` line inside a record's parentheses (the
    guess takes it for a directive, the reader for the TXT's data)."""
    text = ("$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n"
            'a TXT ( "x"\n$TTL 60\n)\n' + "".join(f"h{n} A 192.0.2.{n % 250}\n"
                                                  for n in range(50)))
    near = text.index("h10 ")
    found = split.find_split(text, ORIGIN, 1, near)
    assert found is not None and found.state.default_ttl == 60
    assert not _check(text, near)
    real = text.replace('"x"\n$TTL 60\n)', '"x" )\n$TTL 60')  # a directive: the guess holds
    assert _check(real, real.index("h10 "))


def test_no_ttl_before_the_split_is_no_split() -> None:
    text = ("@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\n" +
            "".join(f"h{n} 60 A 192.0.2.{n % 250}\nh{n}x A 192.0.2.1\n" for n in range(50)))
    assert split.find_split(text, ORIGIN, 1) is None


def test_a_bad_line_in_the_second_half_is_its_file_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["$TTL 300", "@ SOA ns hostmaster 1 3600 600 86400 300", "@ NS ns",
             "ns A 192.0.2.1"] + [f"h{n} A 192.0.2.{n % 250}" for n in range(400)]
    lines[390] = "h386 A 999.1.1.1"
    path = tmp_path / "example.com.zone"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(split, "SPLIT_LINES", 100)
    with pytest.raises(ZoneFileError) as split_read:
        full_build(str(path), ORIGIN, str(tmp_path))
    monkeypatch.undo()
    with pytest.raises(ZoneFileError) as one_read:
        build_zone(str(path), ORIGIN, str(tmp_path))
    assert split_read.value.errors == one_read.value.errors
    assert split_read.value.errors[0].startswith(f"{path}:391: ")


def test_the_joined_read_feeds_the_next_edit(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """full_build of a split read keeps marks from which an edit in either half is read
    again incrementally, as a full parse reads it."""
    path = tmp_path / "example.com.zone"
    generate(str(path), "example.com.", 3000, seed=5)
    text = path.read_text()
    lines = text.split("\n")
    first = "\n".join(lines[:100] + ["edited1 A 192.0.2.77"] + lines[100:])
    second = "\n".join(lines[:-300] + ["edited2 A 192.0.2.78"] + lines[-300:])
    monkeypatch.setattr(split, "SPLIT_LINES", 100)
    writer = test_incremental.check_edits(path, [text, first, second])
    assert writer.incremental == 2


def test_small_files_are_read_in_one_process() -> None:
    assert split.find_split(_text(random.Random(1), 50), ORIGIN) is None


def test_a_big_file_is_split_only_with_two_cpus_or_more(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    text = "\n".join([*_HEAD, *(f"h{i} A 192.0.2.1" for i in range(split.SPLIT_LINES))])
    monkeypatch.setattr(split.os, "sched_getaffinity", lambda pid: {0, 1})
    assert split.find_split(text, ORIGIN) is not None
    monkeypatch.setattr(split.os, "sched_getaffinity", lambda pid: {1})
    assert split.find_split(text, ORIGIN) is None


def test_a_child_with_no_answer_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child stuck (or starved of CPU) past split.WAIT_SHARE times the writer's own part:
    the writer stops it and reads on, to the one-process read."""
    text = _text(random.Random(11), 300)
    def stuck(*args: Any) -> bytes:
        time.sleep(60)
        return b""

    answers: list[bytes | None] = []
    received = split._received

    def spied(rfd: int, deadline: float) -> bytes | None:
        answers.append(received(rfd, deadline))
        return answers[-1]

    monkeypatch.setattr(split, "_second_half", stuck)
    monkeypatch.setattr(split, "_received", spied)
    assert _read(text, len(text) // 3) == _read(text, None)
    assert answers == [None]  # none came: the writer read on


def test_owners_in_both_halves_are_joined_as_one_process_reads_them() -> None:
    """A file sorted by type (every owner in both halves); an RRset in both, with a record
    written again in other letter case (the later spelling kept) and another TTL (the
    later batch's); and the same with a CNAME beside the other data (the error of the
    one-process read)."""
    head = "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n"
    names = range(60)
    text = head + "".join(f"h{n} A 192.0.2.{n}\nh{n} MX 10 mail{n}\n" for n in names) + \
        "".join(f"h{n} AAAA 2001:db8::{n}\nH{n} 60 MX 10 MAIL{n}\nh{n} MX 20 b\n"
                for n in names)
    near = text.index("h0 AAAA")
    assert _check(text, near)
    assert _check(text, text.index("h30 A "))
    cname = text.replace("h40 AAAA 2001:db8::40", "h40 CNAME www")
    assert not _check(cname, near)
    assert _read(cname, near)[0] == "failed"


# The multi-line regular expressions the line scans replaced (each tries every position of
# a big text): the from-scratch twins of directive_lines, _state_before and _doubtful.
_OLD_DIRECTIVE = re.compile(r"^\$([A-Za-z]+)[ \t]+([^ \t\n;]+)[ \t]*(?:;[^\n]*)?$", re.M)
_OLD_ANY = re.compile(r"^\$", re.M)
_OLD_DOUBTFUL = re.compile(r"^\$(?!ORIGIN[ \t]|TTL[ \t])", re.I | re.M)
_PIECES = ["$TTL 1h", "$ttl 300 ; c", "$TTL\t60\t", "$TTL bad", "$ORIGIN sub", "$origin x.",
           "$ORIGIN a..b", "$INCLUDE f", "$GENERATE 1-2 h$ A 1.2.3.4", "$", "$TTL", "$TTLX 5",
           "www A 1.2.3.4", " A 1.2.3.4", "; $TTL 5", "a TXT \"$TTL 1\"", "", "\r", "$TTL 1h\r"]


def _old_state_before(text: str, offset: int, origin: dns.name.Name
                      ) -> split.ReaderState | None:
    ttl = None
    directives = 0
    for m in _OLD_DIRECTIVE.finditer(text, 0, offset):
        directives += 1
        word = m[1].upper()
        if word == "TTL":
            ttl = split._ttl(m[2])
            if ttl is None:
                return None
        elif word == "ORIGIN":
            try:
                origin = dns.name.from_text(m[2], origin)
            except Exception:  # noqa: BLE001
                return None
        else:
            return None
    if ttl is None or directives != len(_OLD_ANY.findall(text, 0, offset)):
        return None
    return split.ReaderState(origin, ttl, True, False, 0, False)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12), st.booleans(), st.integers(0, 12))
def test_directive_scans_find_what_the_regular_expressions_found(
        pieces: list[str], newline: bool, cut: int) -> None:
    text = "\n".join(pieces) + ("\n" if newline else "")
    assert list(split.directive_lines(text)) == [m.start() for m in _OLD_ANY.finditer(text)]
    assert incremental._doubtful(text) == (_OLD_DOUBTFUL.search(text) is not None)
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    offset = starts[min(cut, len(starts) - 1)]
    assert list(split.directive_lines(text, offset)) == \
        [m.start() for m in _OLD_ANY.finditer(text, 0, offset)]
    new = split._state_before(text, offset, ORIGIN)
    old = _old_state_before(text, offset, ORIGIN)
    assert (new is None) == (old is None)
    if new is not None and old is not None:
        assert new == old and new.origin.labels == old.origin.labels
