"""Zones for tests and benchmarks.

Versioned zones for live updates: every record carries its version number, so a response
that mixes versions shows (`versioned_zone`, `versions_in`), written the two ways editors
write (`write_atomically`, `write_in_place`).

Large, realistic zones: `generate(path, origin, records)`. The mix resembles a big hosting
or enterprise zone: hosts with A and AAAA (some with several addresses), CNAMEs, MX,
SPF/verification TXT, SRV, delegations with glue and DS, wildcards, explicit TTLs with
units, blank owners, comments and a multi-line SOA. The output is deterministic for a
given (origin, records, seed). `python bench/gen_zone.py` writes one from the command line.

The example zone: `EXAMPLE_ZONE`, the tests' and benchmarks' own copy of the zone shipped in
zones/ (that one is the user's, to edit as the README says).
"""

from __future__ import annotations

import bisect
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.rdatatype

EXAMPLE_ZONE = Path(__file__).resolve().parent.parent / "tests" / "data" / "zones" / \
    "example.com.zone"

# ---------------------------------------------------------------------------------------
# Versioned zones


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


def only_version(n: int) -> Callable[[dns.message.Message], bool]:
    """A predicate for ServerProcess.wait_until: the response's records carry `n`, only."""
    return lambda response: versions_in(response) == {n}


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


# ---------------------------------------------------------------------------------------
# Large, realistic zones

_WORDS = ("www", "api", "mail", "smtp", "imap", "vpn", "git", "ci", "cdn", "img", "static",
          "shop", "blog", "docs", "auth", "db", "cache", "app", "web", "edge", "lb", "node",
          "host", "srv", "ns", "dev", "stage", "prod", "test", "eu", "us", "ap")
_TTLS = ("300", "600", "1h", "3600", "1d", "5m", "2h30m")

# One kind of entry: (line, number of records it adds) for the host numbered `host`, named
# `name`, with `ttl` (empty or " TTL") where the kind may carry one.
_Lines = Iterator[tuple[str, int]]
_Kind = Callable[[str, int, str, str, random.Random], _Lines]


def _addresses(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    yield f"{name}{ttl}\tIN\tA\t10.{host >> 16 & 255}.{host >> 8 & 255}.{host & 255}", 1
    if rng.random() < 0.5:
        yield f"\t\tIN\tAAAA\t2001:db8:{host >> 16:x}:{host & 0xFFFF:x}::1", 1
    if rng.random() < 0.1:
        yield f"\t\tIN\tA\t192.0.2.{host & 255}", 1


def _alias(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    target = f"{rng.choice(_WORDS)}{rng.randrange(1, host + 1)}"
    yield f"{name}{ttl} IN CNAME {target}", 1


def _mail(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    yield f"{name} IN MX {rng.choice((10, 20, 50))} mx{host % 7}.{origin}", 1
    yield f"{name} IN TXT \"v=spf1 ip4:198.51.100.{host & 255} -all\"", 1


def _verification(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    token = f"{rng.getrandbits(128):032x}"
    yield f"{name} 3600 IN TXT ( \"site-verification={token}\" ; verification\n" \
          f"\t\t\"second string\" )", 1


def _service(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    yield f"_sip._tcp.{name} IN SRV 10 60 5060 {name}", 1
    yield f"{name} IN A 198.51.100.{host & 255}", 1


def _delegation(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    digest = f"{rng.getrandbits(256):064X}"
    yield f"{name} 86400 IN NS ns1.{name}", 1
    yield f"\t86400 IN NS ns2.{name}", 1
    yield f"\t86400 IN DS {rng.randrange(65536)} 13 2 {digest}", 1
    yield f"ns1.{name} IN A 203.0.113.{host & 255}", 1
    yield f"ns2.{name} IN AAAA 2001:db8:ffff::{host & 0xFFFF:x}", 1


def _wildcard(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    yield f"*.{name} IN A 192.0.2.{host & 255}", 1


def _retired(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    yield f"; host {name} retired {rng.randrange(2000, 2026)}", 0
    address = f"10.255.{host >> 8 & 255}.{host & 255}"
    yield f"{name}.{origin} {rng.choice(_TTLS)} IN A {address}", 1


def _caa(name: str, host: int, ttl: str, origin: str, rng: random.Random) -> _Lines:
    yield f"{name} IN CAA 0 issue \"ca{host % 3}.example.net\"", 1
    yield f"{name} IN AAAA 2001:db8::{host & 0xFFFF:x}", 1


# A kind is drawn as a number in [0, 1): below 0.45 addresses, below 0.62 an alias, ...
_KIND_BELOW = (0.45, 0.62, 0.70, 0.76, 0.82, 0.88, 0.92, 0.96)
_KINDS: tuple[_Kind, ...] = (_addresses, _alias, _mail, _verification, _service, _delegation,
                             _wildcard, _retired, _caa)


def _lines(origin: str, rng: random.Random) -> _Lines:
    """(line, number of records it adds) forever, after the zone's head."""
    host = 0
    while True:
        host += 1
        name = f"{rng.choice(_WORDS)}{host}"
        kind = rng.random()
        ttl = f" {rng.choice(_TTLS)}" if rng.random() < 0.2 else ""
        yield from _KINDS[bisect.bisect_right(_KIND_BELOW, kind)](name, host, ttl, origin, rng)


def _head(origin: str, records: int) -> list[str]:
    """The zone's first lines: the comment, $ORIGIN, $TTL, SOA, NS, MX and their addresses."""
    head = [
        f"; generated by bench/gen_zone.py: {records} records",
        f"$ORIGIN {origin}",
        "$TTL 1h",
        f"@\tIN\tSOA\tns1.{origin} hostmaster.{origin} (",
        "\t\t2026112601 ; serial",
        "\t\t2h ; refresh",
        "\t\t30m ; retry",
        "\t\t2w ; expire",
        "\t\t5m ) ; negative TTL",
        "\tIN\tNS\tns1",
        "\tIN\tNS\tns2",
        "\tIN\tMX\t10 mx0",
        "ns1\tIN\tA\t192.0.2.1",
        "ns2\tIN\tA\t192.0.2.2",
    ]
    head += [f"mx{n}\tIN\tA\t192.0.2.{20 + n}" for n in range(7)]
    return head


HEAD_RECORDS = 13  # what _head() writes: SOA, 2 NS, MX, 2 A for the NS, 7 for the MX


def generate(path: str, origin: str, records: int, seed: int = 1) -> int:
    """Write a zone of `records` resource records for `origin` to `path`; returns the count."""
    if not origin.endswith("."):
        origin += "."
    rng = random.Random(f"{origin}/{records}/{seed}")
    written = HEAD_RECORDS
    with open(path, "w") as f:
        f.write("\n".join(_head(origin, records)) + "\n")
        lines = _lines(origin, rng)
        while written < records:
            line, count = next(lines)
            if written + count > records:
                break
            f.write(line + "\n")
            written += count
        while written < records:  # top up with single A records
            f.write(f"fill{written}\tIN\tA\t10.254.{written >> 8 & 255}.{written & 255}\n")
            written += 1
    return written
