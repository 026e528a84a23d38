"""The zones bench/live.py edits: generated once, each edit a new serial and probe address."""

from __future__ import annotations

import os
from pathlib import Path

from testkit.zones import generate

GEN_ZONE_MINIMUM = 14  # testkit.zones.generate() always writes a 13-record head
GEN_ZONE_SERIAL = "\t\t2026112601 ; serial\n"  # its serial line, which edits change


SHAPES = ("one", "append", "scattered")  # what an edit changes: see LiveZone.content
SCATTERED = 100  # records the scattered edit changes


class LiveZone:
    """A generated zone whose SOA serial and last record (`probe A`) each edit changes.

    Zones of 14 records or more come from testkit.zones.generate (a realistic mix of
    types); smaller ones are an SOA, an NS, its address and host addresses. The last line is always
    `probe A <address>`. The text is generated once; an edit only changes the serial and
    the probe's address in memory, then writes the whole file.

    The edit's `shape` (SHAPES): "one" changes the serial and the probe; "append" only
    appends a line (`probe A <address>`: the probe gains an address, the serial stays);
    "scattered" also changes SCATTERED host addresses spread over the zone.
    """

    def __init__(self, directory: Path, origin: str, records: int) -> None:
        self.origin = origin if origin.endswith(".") else origin + "."
        self.path = directory / f"{self.origin}zone"
        self.serial = 0
        if records >= GEN_ZONE_MINIMUM:
            scratch = directory / f".{self.origin}gen"
            self.records = generate(str(scratch), self.origin, records - 1) + 1
            text = scratch.read_text()
            scratch.unlink()
            head, found, tail = text.partition(GEN_ZONE_SERIAL)
            if not found:
                raise RuntimeError("testkit.zones.generate changed: no serial line to edit")
            self.head, self.tail = head.encode(), tail.encode()
            self.serial_line = "\t\t{} ; serial\n"
        else:
            self.records = records
            self.head = f"$ORIGIN {self.origin}\n$TTL 300\n".encode()
            self.serial_line = "@ SOA ns1 hostmaster {} 3600 600 86400 300\n"
            text = "@ NS ns1\nns1 A 192.0.2.1\n" + "".join(
                f"h{i} A 10.0.{i >> 8 & 255}.{i & 255}\n" for i in range(max(records - 4, 0)))
            self.tail = text.encode()
        self.owners = self._owners(text)
        self.shape = "one"
        self.first = 0  # the edit the appended probe lines start from
        self._hosts = self._host_lines()

    def _host_lines(self) -> list[tuple[int, int]]:
        """(start, end) in the tail of SCATTERED host address lines spread over it."""
        found = []
        pos = self.tail.find(b"\tIN\tA\t10.")
        while pos >= 0:
            start = self.tail.rfind(b"\n", 0, pos) + 1
            found.append((start, self.tail.index(b"\n", pos)))
            pos = self.tail.find(b"\tIN\tA\t10.", pos + 1)
        return found[::max(len(found) // SCATTERED, 1)][:SCATTERED]

    def _scattered(self, edit: int) -> bytes:
        """The tail with the scattered hosts' addresses as edit `edit` has them."""
        parts, pos = [], 0
        for start, end in self._hosts:
            line = self.tail[start:end]
            parts += [self.tail[pos:start], line.replace(b"\tA\t10.", b"\tA\t11.") if edit % 2
                      else line]
            pos = end
        return b"".join(parts) + self.tail[pos:]

    def _owners(self, text: str) -> list[str]:
        """Owner names that start a line of the zone text, absolute, in file order."""
        owners: list[str] = []
        for line in text.splitlines():
            if not line or line[0] in " \t;$(":
                continue
            token = line.split(None, 1)[0]
            if "*" in token:
                continue
            name = self.origin if token == "@" else (
                token if token.endswith(".") else f"{token}.{self.origin}")
            if not owners or owners[-1] != name:
                owners.append(name)
        return owners

    def names(self, count: int) -> list[str]:
        """About `count` owner names of the zone (and the probe), spread over all of it."""
        step = max(len(self.owners) // max(count, 1), 1)
        return [*self.owners[::step][:count], f"probe.{self.origin}"]

    @staticmethod
    def address(edit: int) -> bytes:
        """The probe's address after edit number `edit` (distinct for 2**24 edits)."""
        return bytes((172, (edit >> 16) & 255, (edit >> 8) & 255, edit & 255))

    def content(self, edit: int) -> bytes:
        probes = range(self.first, edit + 1) if self.shape == "append" else [edit]
        probe = b"".join("probe A {}.{}.{}.{}\n".format(*self.address(n)).encode()
                         for n in probes)
        serial = self.serial_line.format(
            2026000000 + (self.first if self.shape == "append" else edit)).encode()
        tail = self._scattered(edit) if self.shape == "scattered" else self.tail
        return self.head + serial + tail + probe

    def write(self, edit: int, how: str) -> None:
        """Write edit `edit`: 'replace' = temp file + os.replace, 'inplace' = rewrite."""
        data = self.content(edit)
        if how == "replace":
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        else:
            with open(self.path, "r+b" if self.path.exists() else "wb") as f:
                f.truncate(0)
                f.write(data)
        self.serial = edit


def query_file(path: Path, names: list[str]) -> Path:
    """dnsperf's text input: an A question for each name."""
    path.write_text("".join(f"{name} A\n" for name in names))
    return path
