"""The benchmark's query mix and the generated zone it asks about, written as dnsperf input."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.zone

from testkit import dnssec
from testkit.peers import Zone
from testkit.zones import EXAMPLE_ZONE

from .tools import log

BENCH_ORIGIN = "bench.test"
EDNS_PAYLOAD = 1232
DO_BIT = 0x8000

# The questions about the example zone (testkit.zones.EXAMPLE_ZONE, the tests' copy of the
# shipped zones/example.com.zone, which users edit), by kind of answer. Each one is
# asked twice in the mix, once plain and once with EDNS (every fourth EDNS one with DO).
EXAMPLE_QUESTIONS: tuple[tuple[str, str, str], ...] = (
    # positive answers
    ("positive", "example.com", "SOA"),
    ("positive", "example.com", "NS"),
    ("positive", "example.com", "A"),
    ("positive", "example.com", "AAAA"),
    ("positive", "example.com", "MX"),
    ("positive", "example.com", "TXT"),
    ("positive", "example.com", "CAA"),
    ("positive", "ns1.example.com", "A"),
    ("positive", "ns1.example.com", "AAAA"),
    ("positive", "ns2.example.com", "A"),
    ("positive", "mail.example.com", "A"),
    ("positive", "mail.example.com", "AAAA"),
    ("positive", "api.example.com", "A"),
    ("positive", "sip.example.com", "A"),
    ("positive", "_sip._tcp.example.com", "SRV"),
    ("positive", "_dmarc.example.com", "TXT"),
    ("positive", "deep.a.b.c.example.com", "TXT"),
    # CNAME, and a CNAME chain (ftp -> www -> apex)
    ("cname", "www.example.com", "A"),
    ("cname", "www.example.com", "AAAA"),
    ("cname", "www.example.com", "CNAME"),
    ("cname", "ftp.example.com", "A"),
    ("cname", "ftp.example.com", "MX"),
    # wildcard
    ("wildcard", "x.apps.example.com", "A"),
    ("wildcard", "shop.apps.example.com", "TXT"),
    ("wildcard", "a.b.apps.example.com", "A"),
    ("wildcard", "blog.apps.example.com", "AAAA"),
    # NXDOMAIN
    ("nxdomain", "nope.example.com", "A"),
    ("nxdomain", "x.www.example.com", "A"),
    ("nxdomain", "zz.b.c.example.com", "TXT"),
    ("nxdomain", "mail2.example.com", "MX"),
    # NODATA, including empty non-terminals
    ("nodata", "api.example.com", "AAAA"),
    ("nodata", "mail.example.com", "TXT"),
    ("nodata", "ns2.example.com", "AAAA"),
    ("nodata", "b.c.example.com", "A"),
    ("nodata", "apps.example.com", "A"),
    # referral below the delegation, with glue
    ("referral", "dev.example.com", "NS"),
    ("referral", "host.dev.example.com", "A"),
    ("referral", "a.b.dev.example.com", "AAAA"),
    ("referral", "ns1.dev.example.com", "A"),
    # DNAME
    ("dname", "www.old.example.com", "A"),
    # mixed letter case
    ("case", "WwW.ExAmPlE.CoM", "A"),
    ("case", "EXAMPLE.COM", "MX"),
    ("case", "Mail.Example.Com", "AAAA"),
    ("case", "X.APPS.example.COM", "TXT"),
    ("case", "NoPe.ExAmPlE.cOm", "A"),
    ("case", "Host.DEV.example.com", "A"),
)


@dataclass(frozen=True)
class Question:
    """One query of the mix: what is asked and how."""

    kind: str  # positive, cname, wildcard, nxdomain, nodata, referral, dname, case
    name: str  # as sent, letter case included
    rtype: str
    edns: bool
    do: bool = False


def example_mix() -> list[Question]:
    """Every example.com question, plain and with EDNS."""
    out: list[Question] = []
    for i, (kind, name, rtype) in enumerate(EXAMPLE_QUESTIONS):
        out.append(Question(kind, name, rtype, edns=False))
        out.append(Question(kind, name, rtype, edns=True, do=i % 4 == 0))
    return out


# ---------------------------------------------------------------------------------------
# The generated zone: many names, so that most questions are asked once per pass


@dataclass(frozen=True)
class BenchZone:
    """A zone of numbered hosts; its layout says which names and types exist."""

    origin: str  # without the final dot
    hosts: int  # h0 .. h{hosts-1}
    records: int

    @staticmethod
    def has_aaaa(i: int) -> bool:
        return i % 2 == 0

    @staticmethod
    def has_txt(i: int) -> bool:
        return i % 5 == 0

    @staticmethod
    def has_mx(i: int) -> bool:
        return i % 10 == 0

    @staticmethod
    def has_cname(i: int) -> bool:
        return i % 4 == 0

    @staticmethod
    def is_delegation(i: int) -> bool:
        return i % 50 == 0


def _host_records(i: int, z: type[BenchZone]) -> list[str]:
    lines = [f"h{i} A 198.18.{(i >> 8) & 255}.{i & 255}"]
    if z.has_aaaa(i):
        lines.append(f"h{i} AAAA 2001:db8:{(i >> 16) & 0xffff:x}:{i & 0xffff:x}::1")
    if z.has_txt(i):
        lines.append(f'h{i} TXT "host {i}" "generated for the benchmark"')
    if z.has_mx(i):
        lines.append(f"h{i} MX 10 mail")
    if z.has_cname(i):
        lines.append(f"c{i} CNAME h{i}")
    if z.is_delegation(i):
        lines += [f"d{i} NS ns1.d{i}", f"d{i} NS ns2.d{i}",
                  f"ns1.d{i} A 198.19.{(i >> 8) & 255}.{i & 255}",
                  f"ns2.d{i} AAAA 2001:db8:ffff:{i & 0xffff:x}::53"]
    return lines


def write_bench_zone(path: Path, origin: str, records: int) -> BenchZone:
    """Write a zone file of about `records` records; return its layout."""
    head = [
        f"$ORIGIN {origin}.",
        "$TTL 3600",
        "@ SOA ns1 hostmaster 1 7200 1800 1209600 300",
        "@ NS ns1", "@ NS ns2", "@ MX 10 mail", "@ A 198.18.255.1",
        "ns1 A 198.18.255.53", "ns2 A 198.18.255.54", "mail A 198.18.255.25",
        "*.wild A 198.18.255.80", '*.wild TXT "wildcard"',
    ]
    count = len(head) - 2
    hosts = 0
    with open(path, "w") as f:
        f.write("; generated by bench/querymix.py for the throughput benchmark\n")
        f.write("\n".join(head) + "\n")
        while count < records:
            lines = _host_records(hosts, BenchZone)
            f.write("\n".join(lines) + "\n")
            count += len(lines)
            hosts += 1
    return BenchZone(origin, hosts, count)


def _mixed_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def spread_mix(zone: BenchZone, count: int, seed: int = 53) -> list[Question]:
    """`count` questions about the generated zone, nearly all different from one another."""
    rng = random.Random(seed)
    o = zone.origin
    kinds = (["positive"] * 35 + ["cname"] * 10 + ["wildcard"] * 15 + ["nxdomain"] * 15
             + ["nodata"] * 10 + ["referral"] * 10 + ["apex"] * 5)
    out: list[Question] = []
    for n in range(count):
        kind = rng.choice(kinds)
        i = rng.randrange(zone.hosts)
        if kind == "positive":
            types = ["A"] + [t for t, ok in (("AAAA", zone.has_aaaa(i)), ("TXT", zone.has_txt(i)),
                                             ("MX", zone.has_mx(i))) if ok]
            name, rtype = f"h{i}.{o}", rng.choice(types)
        elif kind == "cname":
            i -= i % 4
            name, rtype = f"c{i}.{o}", rng.choice(("A", "AAAA"))
        elif kind == "wildcard":
            name, rtype = f"w{n}x{rng.randrange(1 << 30):x}.wild.{o}", rng.choice(("A", "TXT"))
        elif kind == "nxdomain":
            name = (f"n{n}x{rng.randrange(1 << 30):x}.{o}" if rng.random() < 0.7
                    else f"x{n}.h{i}.{o}")
            rtype = "A"
        elif kind == "nodata":
            name, rtype = f"h{i}.{o}", ("SRV" if zone.has_aaaa(i) else "AAAA")
        elif kind == "referral":
            i -= i % 50
            name, rtype = f"www{n}.d{i}.{o}", rng.choice(("A", "AAAA"))
        else:
            name, rtype = o, rng.choice(("SOA", "NS", "MX"))
        if rng.random() < 0.25:
            name = _mixed_case(name, rng)
            kind = f"{kind}+case"
        edns = rng.random() < 0.5
        out.append(Question(kind, name, rtype, edns, do=edns and rng.random() < 0.1))
    return out


def signed_mix(zone: BenchZone, count: int, seed: int = 54) -> list[Question]:
    """`count` questions with DO=1 about a signed copy of the generated zone, nearly all
    different: 40% positive, 25% NXDOMAIN, 20% NODATA, 15% wildcard; a quarter in mixed
    case. Each signed answer carries RRSIGs, and each negative or wildcard one its NSEC or
    NSEC3 proof."""
    rng = random.Random(seed)
    o = zone.origin
    kinds = ["positive"] * 40 + ["nxdomain"] * 25 + ["nodata"] * 20 + ["wildcard"] * 15
    out: list[Question] = []
    for n in range(count):
        kind = rng.choice(kinds)
        i = rng.randrange(zone.hosts)
        if kind == "positive":
            types = ["A"] + [t for t, ok in (("AAAA", zone.has_aaaa(i)),
                                             ("TXT", zone.has_txt(i))) if ok]
            name, rtype = f"h{i}.{o}", rng.choice(types)
        elif kind == "nxdomain":
            name, rtype = f"n{n}x{rng.randrange(1 << 30):x}.{o}", "A"
        elif kind == "nodata":
            name, rtype = f"h{i}.{o}", ("SRV" if zone.has_aaaa(i) else "AAAA")
        else:
            name, rtype = f"w{n}x{rng.randrange(1 << 30):x}.wild.{o}", rng.choice(("A", "TXT"))
        if rng.random() < 0.25:
            name = _mixed_case(name, rng)
            kind = f"{kind}+case"
        out.append(Question(kind, name, rtype, edns=True, do=True))
    return out


# The signed mixes (`compare --signed`): mix name -> (zone origin, how names are denied).
SIGNED_MIXES = {"signed-nsec": (f"nsec.{BENCH_ORIGIN}", dnssec.NSEC),
                "signed-nsec3": (f"nsec3.{BENCH_ORIGIN}", dnssec.NSEC3)}


# ---------------------------------------------------------------------------------------
# dnsperf input


def query_wire(q: Question) -> bytes:
    """The query message, RD clear as resolvers send to authoritative servers."""
    qname = dns.name.from_text(q.name).to_wire()
    assert qname is not None
    header = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 1 if q.edns else 0)
    question = qname + struct.pack("!HH", dns.rdatatype.from_text(q.rtype), 1)
    opt = b""
    if q.edns:
        opt = b"\x00" + struct.pack("!HHBBHH", 41, EDNS_PAYLOAD, 0, 0, DO_BIT if q.do else 0, 0)
    return header + question + opt


def write_binary(path: Path, questions: Iterable[Question]) -> int:
    """Write dnsperf -B input (each message behind a two-byte length); return the count."""
    n = 0
    with open(path, "wb") as f:
        for q in questions:
            wire = query_wire(q)
            f.write(struct.pack("!H", len(wire)) + wire)
            n += 1
    return n


def write_text(path: Path, questions: Iterable[Question]) -> None:
    """A readable listing of the mix: name, type, edns/plain, kind."""
    with open(path, "w") as f:
        for q in questions:
            how = "edns+do" if q.do else "edns" if q.edns else "plain"
            f.write(f"{q.name} {q.rtype} {how} {q.kind}\n")


# ---------------------------------------------------------------------------------------
# The mixes of a run, written into its directory


@dataclass
class Mix:
    name: str
    binary: Path
    check: list[Question]  # the questions whose answers are compared between servers
    count: int


def make_mixes(tmp: Path, spread_records: int, spread_queries: int,
               signed: bool = False) -> tuple[list[Zone], dict[str, Mix]]:
    """The zones to serve and the mixes to ask about them, written into `tmp`; with
    `signed`, the signed mixes too (their zones signed by dnssec-signzone)."""
    zones = [Zone("example.com", EXAMPLE_ZONE, soa_serial(EXAMPLE_ZONE))]
    mixes: dict[str, Mix] = {}
    ex = example_mix()
    n = write_binary(tmp / "example.bin", ex)
    write_text(tmp / "example.txt", ex)
    mixes["example"] = Mix("example", tmp / "example.bin", ex, n)
    if spread_records > 0:
        zpath = tmp / f"{BENCH_ORIGIN}.zone"
        bz = write_bench_zone(zpath, BENCH_ORIGIN, spread_records)
        zones.append(Zone(BENCH_ORIGIN, zpath, 1))
        sp = spread_mix(bz, spread_queries)
        n = write_binary(tmp / "spread.bin", sp)
        write_text(tmp / "spread.txt", sp)
        mixes["spread"] = Mix("spread", tmp / "spread.bin", sp[:300], n)
        log(f"generated {BENCH_ORIGIN}: {bz.records} records, {bz.hosts} hosts; "
            f"spread mix: {n} queries")
    if signed:
        for name, (origin, denial) in SIGNED_MIXES.items():
            zone, mix = _signed(tmp, name, origin, denial, spread_records, spread_queries)
            zones.append(zone)
            mixes[name] = mix
    return zones, mixes


def _signed(tmp: Path, name: str, origin: str, denial: str, records: int,
            queries: int) -> tuple[Zone, Mix]:
    """A signed copy of the generated zone (a KSK and a ZSK, ECDSA P-256) and its mix."""
    plain = tmp / f"{origin}.plain"
    bz = write_bench_zone(plain, origin, records)
    path = dnssec.sign(plain.read_text(), f"{origin}.", tmp / name, denial)
    questions = signed_mix(bz, queries)
    n = write_binary(tmp / f"{name}.bin", questions)
    write_text(tmp / f"{name}.txt", questions)
    log(f"signed {origin} ({denial}): {bz.records} records before signing; {name} mix: "
        f"{n} queries")
    return Zone(origin, path, 1), Mix(name, tmp / f"{name}.bin", questions[:300], n)


def soa_serial(path: Path) -> int:
    """The SOA serial of a zone file named <origin>.zone."""
    z = dns.zone.from_file(str(path), origin=path.name[: -len(".zone")], relativize=False)
    soa = z.find_rdataset("@", "SOA")[0]
    return int(soa.serial)
