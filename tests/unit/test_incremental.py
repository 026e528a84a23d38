"""Reading only what changed (zone.incremental) gives exactly what a full parse gives.

Exactly: the same nodes, meta, warnings (with their lines) and digest, or the same errors;
random edits of random zone texts (owners written and left out, $ORIGIN and $TTL changes,
multi-line records, several batches of one owner, CNAMEs beside other data, targets of NS,
MX and SRV, $INCLUDEd files, bad lines), of generated zones and of the Ferret zones. Each
edit is applied to the result of the last good one, as the writer does.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dns.name
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.zone.build import Built, FileChanged, build_zone
from dnsbackend.zone.incremental import Memo, Rebuilt, full_build, rebuild
from dnsbackend.zone.records import ZoneFileError
from dnsbackend.zone.textdiff import changed_regions
from testkit.zones import generate

from ..conftest import DATA

ORIGIN = dns.name.from_text("example.com.")

_OWNERS = ["www", "WWW", "mail", "a.b", "b", "*.w", "x.example.com.", "out.other.",
           "sub", "ns.sub", "deep.a.b", "@", "c"]
LINES = [
    "{o} A 192.0.2.{n}",
    "{o} 300 A 192.0.2.{n}",
    "{o} 600 IN A 192.0.2.{n}",
    "\tA 198.51.100.{n}",
    "\t3600 AAAA 2001:db8::{n}",
    '{o} TXT "t{n}"',
    '{o} TXT ( "a{n}"\n\t"b" ) ; two lines',
    '\tTXT "blank owner {n}"',
    "{o} CNAME www",
    "{o} MX 10 mail",
    "{o} MX 20 nowhere",
    "{o} SRV 0 1 80 www",
    "sub NS ns.sub",
    "ns.sub A 203.0.113.{n}",
    "$TTL {t}",
    "$ORIGIN {r}",
    "$ORIGIN example.com.",
    "; a comment {n}",
    "",
    "{o} A 999.1.1.{n}",
    "{o} BOGUS thing",
    "$INCLUDE inc.zone",
    "{o} 4294967295 A 192.0.2.{n}",
    "{o} A 192.0.2.{n} ; trailing",
    "{o} TXT ( \"open",
]
HEAD = ["$TTL 300", "@ SOA ns hostmaster ( 1 3600 600\n\t86400 300 )", "@ NS ns",
         "ns A 192.0.2.53"]


def _line(rng: random.Random) -> str:
    return rng.choice(LINES).format(o=rng.choice(_OWNERS), n=rng.randrange(1, 40),
                                     t=rng.choice(["60", "1h", "300"]),
                                     r=rng.choice(["b", "B", "example.com.", "sub"]))


def _zone(rng: random.Random, size: int) -> list[str]:
    head = list(HEAD)
    if rng.random() < 0.3:
        head[0] = "; no $TTL"
    return head + [_line(rng) for _ in range(size)]


def _edit(rng: random.Random, lines: list[str]) -> list[str]:
    """One save: a few changes at random places (replace, insert, delete, append)."""
    lines = list(lines)
    for _ in range(rng.choice([1, 1, 2, 5])):
        kind = rng.random()
        at = rng.randrange(len(lines) + 1)
        if kind < 0.4 and at < len(lines):
            lines[at] = _line(rng)
        elif kind < 0.7:
            lines[at:at] = [_line(rng) for _ in range(rng.randrange(1, 4))]
        elif kind < 0.85 and at < len(lines):
            del lines[at:at + rng.randrange(1, 4)]
        else:
            lines.append(_line(rng))
    if rng.random() < 0.5:  # the serial, inside the multi-line SOA
        lines = [line.replace("( 1 3600", f"( {rng.randrange(2, 99)} 3600") for line in lines]
    return lines


Outcome = tuple[str, object]


T = TypeVar("T")


def _settled(read: Callable[[], T]) -> T:
    """read(), again after a moment if a file was too fresh to trust (as parse_zone does)."""
    for _ in range(5):
        try:
            return read()
        except FileChanged:
            time.sleep(0.03)
    raise AssertionError("the files keep changing")


def _full(path: Path, origin: dns.name.Name = ORIGIN) -> tuple[Built | None, Outcome]:
    try:
        built = _settled(lambda: build_zone(str(path), origin, str(path.parent)))
    except ZoneFileError as exc:
        return None, ("error", exc.errors)
    return built, _seen(built)


def _seen(built: Built) -> Outcome:
    return ("zone", (built.contents.nodes, built.contents.meta, built.warnings, built.digest,
                     built.includes))


class Writer:
    """The writer's side: what it remembers of the last good version, edit after edit."""

    def __init__(self, path: Path, origin: dns.name.Name = ORIGIN) -> None:
        self.path = path
        self.origin = origin
        self.memo: Memo | None = None
        self.incremental = 0

    def save(self, text: str) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)

    def read(self) -> Outcome:
        """Read the file as the writer does; returns what it got (and remembers it)."""
        try:
            path, root, memo = str(self.path), str(self.path.parent), self.memo
            if memo is None:
                got: Rebuilt = _settled(lambda: full_build(path, self.origin, root))
            else:
                got = _settled(lambda: rebuild(memo, path, self.origin, root))
        except ZoneFileError as exc:
            return ("error", exc.errors)
        seen = _seen(got.built)
        if got.base:
            self.incremental += 1
        version = self.memo.version + 1 if self.memo else 1
        contents = got.built.contents
        self.memo = Memo(version, contents.nodes, contents.meta.records, got.text)
        return seen


def check_edits(path: Path, texts: list[str], origin: dns.name.Name = ORIGIN) -> Writer:
    """Each text saved in turn: the writer's read equals a full parse every time."""
    writer = Writer(path, origin)
    last = None
    for text in texts:
        if text == last:
            continue  # the watcher's digest says so first: no read at all
        last = text
        writer.save(text)
        expected = _full(path, origin)[1]
        assert writer.read() == expected
    return writer


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32), st.integers(5, 60), st.integers(1, 6))
def test_random_edits_read_as_a_full_parse(tmp_path: Path, seed: int, size: int,
                                           edits: int) -> None:
    rng = random.Random(seed)
    (tmp_path / "inc.zone").write_text(f"inc{seed % 3} A 192.0.2.1\n")
    lines = _zone(rng, size)
    texts = ["\n".join(lines) + "\n"]
    for _ in range(edits):
        if rng.random() < 0.1:  # the $INCLUDEd file changes
            (tmp_path / "inc.zone").write_text(f"{rng.choice(_OWNERS)} A 192.0.2.2\n")
        lines = _edit(rng, lines)
        texts.append("\n".join(lines) + "\n")
    check_edits(tmp_path / "example.com.zone", texts)


def _scattered(text: str, rng: random.Random, count: int) -> str:
    """`count` address records changed at places spread over the text."""
    lines = text.split("\n")
    places = [i for i, line in enumerate(lines) if "\tA\t10." in line]
    for i in rng.sample(places, min(count, len(places))):
        lines[i] = lines[i].replace("\tA\t10.", "\tA\t11.", 1)
    return "\n".join(lines)


def _deleted(text: str, rng: random.Random) -> str:
    """A host with one address record taken out."""
    lines = text.split("\n")
    del lines[rng.choice([i for i, line in enumerate(lines[:-1]) if "\tIN\tA\t10." in line
                          and lines[i + 1][:1] not in ("\t", " ")])]
    return "\n".join(lines)


def _serial(text: str, serial: int) -> str:
    return re.sub(r"\t\t\d+ ; serial", f"\t\t{serial} ; serial", text, count=1)


EDITS: dict[str, Callable[[str, int, random.Random], str]] = {
    "serial": lambda t, n, rng: t,  # the serial only, as every edit below
    "append": lambda t, n, rng: t + f"added{n}\tIN\tA\t192.0.2.{n % 250}\n",
    "scattered": lambda t, n, rng: _scattered(t, rng, 100),
    "ttl": lambda t, n, rng: t.replace("$TTL 1h", f"$TTL {n + 1}h", 1),
    "delete": lambda t, n, rng: _deleted(t, rng),
    "bad line": lambda t, n, rng: t.replace("\tIN\tA\t10.0.3.", "\tIN\tA\t10.0.3.x", 1),
}


@pytest.mark.parametrize("shape", sorted(EDITS))
def test_generated_zone_edits(tmp_path: Path, shape: str) -> None:
    """The three edit shapes of the benchmark (and others) on a generated zone: the same as
    a full parse, and (but for the bad edit and the $TTL at the top) read incrementally."""
    path = tmp_path / "example.com.zone"
    generate(str(path), "example.com.", 5000)
    rng = random.Random(shape)
    text = path.read_text()
    texts = [text]
    for n in range(4):
        text = _serial(EDITS[shape](text, n, rng), 2026112700 + n)
        texts.append(text)
    writer = check_edits(path, texts)
    if shape not in ("ttl", "bad line"):
        assert writer.incremental == 4


def test_bad_edit_deep_in_the_file_is_its_line(tmp_path: Path) -> None:
    """A syntax error far into a big file: the full parse's error, at its line."""
    path = tmp_path / "example.com.zone"
    generate(str(path), "example.com.", 20000)
    writer = Writer(path)
    assert writer.read()[0] == "zone"
    lines = path.read_text().split("\n")
    at = next(i for i in range(len(lines) - 1, 0, -1) if "\tIN\tA\t10." in lines[i])
    lines[at] = lines[at].replace("\tIN\tA\t10.", "\tIN\tA\t10.999.", 1)
    writer.save("\n".join(lines))
    kind, errors = writer.read()
    assert kind == "error"
    assert isinstance(errors, list) and errors[0].startswith(f"{path}:{at + 1}: ")
    lines[at] = lines[at].replace("10.999.", "10.", 1) + " ; fixed"
    writer.save("\n".join(lines))
    assert writer.read() == _full(path)[1]
    assert writer.incremental == 1  # the fix is read against the last good version


def _ferret_zones() -> list[Path]:
    return sorted((DATA / "ferret" / "ZoneFiles").glob("*.txt"))[::25]


def test_ferret_zones_edited(tmp_path: Path) -> None:
    """Every 25th Ferret zone, each with random edits of its own lines."""
    files = _ferret_zones()
    assert len(files) >= 100
    incremental = 0
    for number, source in enumerate(files):
        text = source.read_text()
        origin = dns.name.from_text(text.split(None, 1)[0])
        rng = random.Random(number)
        lines = text.split("\n")
        texts = [text]
        for _ in range(3):
            at = rng.randrange(len(lines))
            lines[at:at + 1] = [lines[rng.randrange(len(lines))], _line(rng)][:rng.randrange(3)]
            texts.append("\n".join(lines))
        incremental += check_edits(tmp_path / f"z{number}.zone", texts, origin).incremental
    assert incremental >= len(files) // 2  # not all to the full parse (here: 86 of 360)


@given(st.text(alphabet="ab\n", max_size=60), st.text(alphabet="ab\n", max_size=60))
def test_regions_cover_every_difference(old: str, new: str) -> None:
    """Replacing each region's old text by its new text turns old into new; regions are
    whole lines, in order, numbered."""
    regions = changed_regions(old, new, lambda pos: old.count("\n", 0, pos) + 1)
    out, pos = [], 0
    for r in regions:
        assert r.old_start >= pos
        assert r.old_start == 0 or old[r.old_start - 1] == "\n"
        assert r.new_start == 0 or new[r.new_start - 1] == "\n"
        out.append(old[pos:r.old_start])
        out.append(new[r.new_start:r.new_end])
        pos = r.old_end
        assert r.old_line == old.count("\n", 0, r.old_start) + 1
        assert r.new_line == new.count("\n", 0, r.new_start) + 1
    out.append(old[pos:])
    assert "".join(out) == new


def test_warned_record_read_again_keeps_its_warning_at_its_line(tmp_path: Path) -> None:
    """An MX pointing nowhere (a warning) with lines inserted just before it: read
    incrementally, the warning said at the MX's new line."""
    path = tmp_path / "example.com.zone"
    generate(str(path), "example.com.", 2000)
    text = path.read_text() + "lonely\tIN\tMX\t10 nowhere\n"
    texts = [text]
    for n in range(3):
        text = text.replace("lonely\tIN", f"before{n}\tIN\tA\t192.0.2.{n}\nlonely\tIN")
        texts.append(_serial(text, 2026112700 + n))
    writer = check_edits(path, texts)
    assert writer.incremental == 3
    warnings = _full(path)[0]
    assert warnings is not None and any("nowhere" in w for w in warnings.warnings)
