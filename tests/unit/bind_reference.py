"""BIND's named-checkzone as the reference for what a zone file holds and how it goes wrong.

Helpers for the tests of zone files that BIND reads and we once refused or read differently:
write a file of exact bytes, run named-checkzone on it, and compare the records it loads
(or the lines of its errors and warnings) with ours.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import pytest

from dnsbackend.zone.records import ParsedZone

ORIGIN = "example.com."
HEAD = (b"$TTL 1h\n@ IN SOA ns1 hostmaster 1 2h 30m 2w 5m\n@ IN NS ns1\n"
        b"ns1 IN A 192.0.2.1\n")  # 4 lines: what a test adds starts on line 5

needs_bind = pytest.mark.skipif(shutil.which("named-checkzone") is None,
                                reason="named-checkzone (Debian bind9-utils) is not installed")

Canonical = tuple[bytes, int, int, bytes]  # lower-case owner, type, TTL, canonical rdata


def write_zone(tmp_path: Path, body: bytes, head: bytes = HEAD,
               name: str = f"{ORIGIN}zone") -> Path:
    """A zone file of exactly these bytes in tmp_path/zones."""
    zones = tmp_path / "zones"
    zones.mkdir(exist_ok=True)
    path = zones / name
    path.write_bytes(head + body)
    return path


@dataclass
class Bind:
    """What named-checkzone said about a file."""

    loaded: bool
    lines: list[str]  # its messages, `file:line:` or `zone ...:` prefixes removed
    records: set[Canonical]  # what it loaded (empty if it did not)
    numbered: list[tuple[int, str]]  # (line, message) for its messages that name a line


_PREFIX = re.compile(r"^(?:dns_rdata_fromtext: |dns_master_load: |\$GENERATE: )?"
                     r"(?:[^:\s]+:\d+: |zone [^ ]+/IN: )")


def named_checkzone(path: Path, origin: str = ORIGIN) -> Bind:
    """named-checkzone's messages about a file and, if it loads it, the records it loads
    (`-i local`: its checks of the names records point to, without looking names up)."""
    def run(*options: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["named-checkzone", "-i", "local", *options, origin, path.name],
                              cwd=path.parent, capture_output=True, timeout=60)

    proc = run()
    said = (proc.stdout + proc.stderr).decode("latin-1").splitlines()
    lines = [_PREFIX.sub("", line) for line in said]
    numbered = [(int(m[1]), _PREFIX.sub("", line)) for line in said
                if (m := re.search(rf"{re.escape(path.name)}:(\d+): ", line))]
    records = set()
    if proc.returncode == 0:
        for line in run("-D", "-o", "-").stdout.decode("latin-1").splitlines():
            if line.strip() and not line.startswith(";"):
                records.add(_parse_dump_line(line))
    return Bind(proc.returncode == 0, lines, records, numbered)


def _parse_dump_line(line: str) -> Canonical:
    tok = dns.tokenizer.Tokenizer(line)
    name = tok.get_name(dns.name.root)
    ttl = tok.get_int()
    tok.get_string()  # the class
    rdtype = dns.rdatatype.from_text(tok.get_string())
    rd = dns.rdata.from_text(dns.rdataclass.IN, rdtype, tok, dns.name.root, False)
    wire = name.to_wire()
    assert wire is not None
    return (wire.lower(), int(rdtype), ttl, rd.to_digestable())


def ours(parsed: ParsedZone) -> set[Canonical]:
    out = set()
    for rec in parsed.records:
        rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rec.rtype),
                                rec.rdata, 0, len(rec.rdata))
        out.add((rec.owner.lower(), rec.rtype, rec.ttl, rd.to_digestable()))
    return out


def message(error: str) -> str:
    """A `file:line: message` line without its `file:line: `."""
    return re.sub(r"^[^:]*:\d+: ", "", error)


def line_of(error: str) -> int:
    m = re.match(r"^[^:]*:(\d+): ", error)
    assert m, error
    return int(m[1])
