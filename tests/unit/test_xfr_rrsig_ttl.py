"""Transfers send each RRSIG with the TTL of the RRset it covers (RFC 4034 section 3), though
a node keeps one TTL for all its RRSIGs: AXFR from the store, and IXFR from the journal."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.name
import dns.rdatatype

from dnsbackend.store.snapshot import Reader
from dnsbackend.transfer.stream import Packer
from dnsbackend.transfer.xfr import plan
from testkit.store import load_zone, store_with_zones

ORIGIN = "signed.test."
SIG = "{covered} 13 2 {ttl} 20270101000000 20261201000000 12345 signed.test. AAAA"


def zone(serial: int, a_ttl: int) -> str:
    return f"""$ORIGIN {ORIGIN}
@ 300 IN SOA ns host {serial} 3600 600 86400 60
@ 300 IN NS ns
@ 300 IN RRSIG {SIG.format(covered="SOA", ttl=300)}
ns 300 IN A 192.0.2.1
www {a_ttl} IN A 192.0.2.2
www {a_ttl} IN RRSIG {SIG.format(covered="A", ttl=a_ttl)}
www 60 IN NSEC signed.test. A RRSIG NSEC
www 60 IN RRSIG {SIG.format(covered="NSEC", ttl=60)}
www 7200 IN TXT "t"
www 7200 IN RRSIG {SIG.format(covered="TXT", ttl=7200)}
"""


def rrsigs(msgs: list[bytes]) -> list[tuple[str, str, int]]:
    out = []
    for wire in msgs:
        for rrset in dns.message.from_wire(wire).answer:
            if rrset.rdtype == dns.rdatatype.RRSIG:
                for rdata in rrset:
                    out.append((rrset.name.to_text(), dns.rdatatype.to_text(rdata.type_covered),
                                rrset.ttl))
    return out


def test_axfr_and_ixfr_give_each_rrsig_its_rrsets_ttl(tmp_path: Path) -> None:
    store, snapshot = store_with_zones(tmp_path, {ORIGIN: zone(1, 900)})
    name = dns.name.from_text(ORIGIN).to_wire()
    assert name is not None
    question = dns.message.make_query(ORIGIN, "AXFR").to_wire()[12:]

    def sent(ixfr_from: int | None) -> list[tuple[str, str, int]]:
        entry = Reader(store).snapshot().zones[name]
        planned = plan(store, entry.meta.zone_id, entry.version, ixfr_from)
        xfr = next(planned)
        try:
            return rrsigs(list(xfr.messages(Packer(1, 0, question, name))))
        finally:
            planned.close()

    expected = {("signed.test.", "SOA", 300), ("www.signed.test.", "A", 900),
                ("www.signed.test.", "NSEC", 60), ("www.signed.test.", "TXT", 7200)}
    assert set(sent(None)) == expected
    del snapshot
    # The A RRset's TTL changes (and so its signature): the IXFR adds the new RRSIG at 1800.
    (tmp_path / "zones" / f"{ORIGIN}zone").write_text(zone(2, 1800))
    load_zone(tmp_path / "db", tmp_path / "zones" / f"{ORIGIN}zone", ORIGIN)
    ixfr = sent(1)
    assert ("www.signed.test.", "A", 1800) in ixfr
    assert all(ttl == {"SOA": 300, "NSEC": 60, "TXT": 7200}.get(covered, ttl)
               for _, covered, ttl in ixfr)
    assert set(sent(None)) == expected - {("www.signed.test.", "A", 900)} | {
        ("www.signed.test.", "A", 1800)}
