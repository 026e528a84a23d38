"""Signed zones for tests: nodes or an AXFR written as zone file text, and the verifiers
(BIND's dnssec-verify, ldns-verify-zone) run on it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import dns.name
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from dnsbackend.store.format import Node


def nodes_text(nodes: Mapping[bytes, Node]) -> str:
    """Every RR of the nodes as zone file lines (RRSIGs with the TTL of the RRset they cover,
    as a validator reads them)."""
    lines = []
    for owner in sorted(nodes):
        name = dns.name.from_wire(owner, 0)[0].to_text()
        node = nodes[owner]
        for rtype, (ttl, rdatas) in node.items():
            for wire in rdatas:
                rdata = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype),
                                            wire, 0, len(wire))
                if rtype == dns.rdatatype.RRSIG:  # each with the TTL of the RRset it covers
                    ttl = getattr(rdata, "original_ttl", ttl)
                kind = dns.rdatatype.to_text(rdata.rdtype)
                lines.append(f"{name} {ttl} IN {kind} {rdata.to_text()}")
    return "\n".join(lines) + "\n"


def axfr_text(port: int, origin: str) -> str:
    """The zone as an AXFR from 127.0.0.1@port sends it, one RR a line (each RRSIG with its
    covered RRset's TTL, as it is served), the SOA once."""
    lines = []
    for message in dns.query.xfr("127.0.0.1", origin, port=port, lifetime=30,
                                 relativize=False):
        for rrset in message.answer:
            for rdata in rrset:
                lines.append(f"{rrset.name} {rrset.ttl} IN "
                             f"{dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}")
    return "\n".join(lines[:-1]) + "\n"  # the SOA that ends an AXFR only once


def have_dnssec_verify() -> bool:
    return shutil.which("dnssec-verify") is not None


def dnssec_verify(path: Path, origin: str) -> subprocess.CompletedProcess[str]:
    """BIND's dnssec-verify on a signed zone file (-z: our one key is a CSK, SEP flag set,
    which signs the zone too)."""
    return subprocess.run(["dnssec-verify", "-z", "-o", origin, str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def ldns_verify_zone(path: Path, anchors: Path | None = None) -> subprocess.CompletedProcess[str]:
    """ldns-verify-zone (Debian ldnsutils) on a signed zone file: every signature, the NSEC or
    NSEC3 chain, and with `anchors` (a file of DS or DNSKEY records) the keys' trust."""
    args = ["ldns-verify-zone"] + (["-k", str(anchors)] if anchors is not None else [])
    return subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=120,
                          check=False)
