"""Signed zones for tests: nodes written as zone file text, and BIND's dnssec-verify on it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import dns.name
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


def have_dnssec_verify() -> bool:
    return shutil.which("dnssec-verify") is not None


def dnssec_verify(path: Path, origin: str) -> subprocess.CompletedProcess[str]:
    """BIND's dnssec-verify on a signed zone file (-z: our one key is a CSK, SEP flag set,
    which signs the zone too)."""
    return subprocess.run(["dnssec-verify", "-z", "-o", origin, str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
