"""Zones for live-update tests: every record carries its version number, so mixes show."""

from __future__ import annotations

import os
import re

import dns.message
import dns.rdatatype


def versioned_zone(origin: str, n: int, padding: int = 0) -> str:
    """Zone text where every record (answers, NS targets, glue) is named or valued after `n`."""
    a, b = divmod(n, 256)
    lines = [
        f"$ORIGIN {origin}",
        "$TTL 300",
        f"@ IN SOA ns-{n} hostmaster-{n} {n} 3600 600 86400 60",
        f"@ IN NS ns-{n}",
        f'@ IN TXT "v={n}"',
        f"@ IN MX 10 mail-{n}",
        f"ns-{n} IN A 10.{a}.{b}.1",
        f"mail-{n} IN A 10.{a}.{b}.2",
        f"www IN A 10.{a}.{b}.3",
        f"www IN A 10.{a}.{b}.4",
        f'www IN TXT "v={n}"',
        "alias IN CNAME www",
        f"child IN NS ns-{n}.child",
        f"child IN NS ns2-{n}.child",
        f"ns-{n}.child IN A 10.{a}.{b}.9",
        f"ns2-{n}.child IN A 10.{a}.{b}.10",
        f'*.wild IN TXT "v={n}"',
    ]
    for i in range(padding):
        lines.append(f"host{i} IN A 10.{a}.{b}.{i % 250 + 1}")
    return "\n".join(lines) + "\n"


_NAME_VERSION = re.compile(r"-(\d+)\.")
_TXT_VERSION = re.compile(r'"v=(\d+)"')


def versions_in(response: dns.message.Message) -> set[int]:
    """Every version number a response's records carry."""
    found: set[int] = set()
    for section in (response.answer, response.authority, response.additional):
        for rrset in section:
            found.update(int(m) for m in _NAME_VERSION.findall(rrset.name.to_text()))
            for rdata in rrset:
                text = rdata.to_text()
                if rrset.rdtype == dns.rdatatype.A:
                    parts = [int(p) for p in text.split(".")]
                    found.add(parts[1] * 256 + parts[2])
                elif rrset.rdtype == dns.rdatatype.SOA:
                    found.add(int(text.split()[2]))
                    found.update(int(m) for m in _NAME_VERSION.findall(text))
                elif rrset.rdtype == dns.rdatatype.TXT:
                    found.update(int(m) for m in _TXT_VERSION.findall(text))
                else:
                    found.update(int(m) for m in _NAME_VERSION.findall(text))
    return found


def write_atomically(path: str, text: str) -> None:
    """Write as editors do: a temporary file in the same directory, then rename over."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_in_place(path: str, text: str) -> None:
    """Truncate and rewrite the same inode, as `>` in a shell does."""
    with open(path, "w") as f:
        f.write(text)
