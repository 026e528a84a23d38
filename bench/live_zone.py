"""The zones bench/live.py edits: generated once, each edit a new serial and probe address."""

from __future__ import annotations

import os
from pathlib import Path

from testkit.zones import generate

GEN_ZONE_MINIMUM = 14  # testkit.zones.generate() always writes a 13-record head
GEN_ZONE_SERIAL = "\t\t2026112601 ; serial\n"  # its serial line, which edits change


class LiveZone:
    """A generated zone whose SOA serial and last record (`probe A`) each edit changes.

    Zones of 14 records or more come from testkit.zones.generate (a realistic mix of
    types); smaller ones are an SOA, an NS, its address and host addresses. The last line is always
    `probe A <address>`. The text is generated once; an edit only changes the serial and
    the probe's address in memory, then writes the whole file.
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
        probe = "probe A {}.{}.{}.{}\n".format(*self.address(edit)).encode()
        serial = self.serial_line.format(2026000000 + edit).encode()
        return self.head + serial + self.tail + probe

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
