"""Compiling parsed zones into answer-ready nodes: grouping, empty non-terminals, zone meta."""

from __future__ import annotations

import struct

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from dnsbackend.store.format import ZoneContents, ZoneMeta
from dnsbackend.zone.bindreader import parse_text, read_zone_file
from dnsbackend.zone.nodes import zone_nodes
from dnsbackend.zone.records import ParsedZone, Record
from testkit.zones import EXAMPLE_ZONE

ORIGIN = dns.name.from_text("Example.COM.")


def wire(name: str) -> bytes:
    out = dns.name.from_text(name).to_wire()
    assert out is not None
    return out


def rdata(rdtype: str, text: str) -> bytes:
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text,
                             dns.name.root, False)
    out = rd.to_wire()
    assert out is not None
    return out


def rec(owner: str, rdtype: str, ttl: int, text: str) -> Record:
    return Record(wire(owner), int(dns.rdatatype.from_text(rdtype)), ttl, rdata(rdtype, text),
                  "z:1")


def test_records_are_grouped_by_lower_case_owner_and_type() -> None:
    records = [
        rec("Example.COM.", "SOA", 3600, "ns1.example.com. host.example.com. 7 2 3 4 300"),
        rec("example.com.", "NS", 3600, "ns1.example.com."),
        rec("WWW.example.com.", "A", 60, "192.0.2.1"),
        rec("x.example.com.", "A", 60, "192.0.2.9"),
        rec("www.example.com.", "A", 60, "192.0.2.2"),  # the same RRset, not adjacent
        rec("www.Example.com.", "TXT", 30, '"t"'),
    ]
    compiled = zone_nodes(ParsedZone(ORIGIN, records))
    assert compiled.nodes[wire("www.example.com.")] == {
        1: (60, (rdata("A", "192.0.2.1"), rdata("A", "192.0.2.2"))),
        16: (30, (rdata("TXT", '"t"'),)),
    }
    assert set(compiled.nodes) == {wire("example.com."), wire("www.example.com."),
                                   wire("x.example.com.")}


def test_empty_non_terminals_are_added_up_to_the_apex_only() -> None:
    records = [
        rec("example.com.", "SOA", 3600, "ns1.example.com. host.example.com. 7 2 3 4 300"),
        rec("deep.a.b.c.example.com.", "TXT", 60, '"x"'),
        rec("other.b.c.example.com.", "TXT", 60, '"y"'),
        rec("z.example.com.", "A", 60, "192.0.2.1"),
    ]
    compiled = zone_nodes(ParsedZone(ORIGIN, records))
    for ent in ("a.b.c.example.com.", "b.c.example.com.", "c.example.com."):
        assert compiled.nodes[wire(ent)] == {}
    assert wire("com.") not in compiled.nodes
    assert len(compiled.nodes) == 7


def test_meta_describes_the_apex_soa() -> None:
    soa = "ns1.example.com. host.example.com. 2026112601 7200 1800 1209600 300"
    records = [rec("example.com.", "NS", 3600, "ns1.example.com."),
               rec("Example.COM.", "SOA", 3600, soa),
               rec("a.example.com.", "A", 60, "192.0.2.1")]
    meta = zone_nodes(ParsedZone(ORIGIN, records)).meta
    assert meta.origin == wire("Example.COM.")
    assert meta.serial == 2026112601
    assert meta.soa_ttl == 3600
    assert meta.negative_ttl == 300
    assert meta.soa_rdata == rdata("SOA", soa)
    assert meta.records == 3
    assert ZoneMeta.unpack(meta.pack()) == meta
    short = [rec("example.com.", "SOA", 60, soa)]
    assert zone_nodes(ParsedZone(ORIGIN, short)).meta.negative_ttl == 60
    assert struct.unpack("!I", meta.soa_rdata[-20:-16])[0] == meta.serial


def test_signatures_of_several_types_share_one_rrsig_entry() -> None:
    sig = "{} 13 2 300 20261201000000 20261101000000 1 example.com. AAAA"
    text = ("$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\n"
            f"www A 192.0.2.1\nwww RRSIG {sig.format('A')}\nwww AAAA 2001:db8::1\n"
            f"www RRSIG {sig.format('AAAA')}\n")
    compiled = zone_nodes(parse_text(text, ORIGIN, "z"))
    node = compiled.nodes[wire("www.example.com.")]
    assert set(node) == {1, 28, 46}
    assert node[46][1] == (rdata("RRSIG", sig.format("A")), rdata("RRSIG", sig.format("AAAA")))


def test_example_zone_compiles() -> None:
    path = EXAMPLE_ZONE
    parsed = read_zone_file(str(path))
    compiled: ZoneContents = zone_nodes(parsed)
    nodes = compiled.nodes
    assert nodes[wire("api.example.com.")][1] == (
        3600, (rdata("A", "192.0.2.40"), rdata("A", "192.0.2.41")))
    assert nodes[wire("ns2.example.com.")][1][0] == 300
    assert nodes[wire("c.example.com.")] == {}  # above deep.a.b.c
    assert nodes[wire("*.apps.example.com.")].keys() == {1, 16}
    assert compiled.meta.serial == 2026112601
    assert compiled.meta.negative_ttl == 300
    assert compiled.meta.records == len(parsed.records) == 30
    items = compiled.items()
    assert [key for key, _ in items] == sorted(nodes)
