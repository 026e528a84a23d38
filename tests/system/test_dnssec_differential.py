"""Differential test of signed answers: zones signed by dnssec-signzone, served by NSD, Knot
and us, asked with DO=1 (UDP, EDNS payload 1232 and 512).

What NSD and Knot agree on we must answer the same: rcode, the AA/TC/AD flags, and each
section as a set of records (owners lower-cased). Where the two differ (NSD adds the apex
NS set to positive answers, truncated answers keep more or less) that part is not
compared. Our responses must also echo DO and never set AD.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from testkit import dnssec, programs
from testkit.peers import Knot, Nsd, PeerProcess, Zone
from testkit.server import ServerProcess

from .test_nsd_differential import _records

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(programs.find("nsd") is None or programs.find("knotd") is None
                                 or dnssec.missing() is not None,
                                 reason="nsd, knotd and dnssec-signzone are the reference "
                                 "(Debian packages nsd, knot, bind9-utils)")]

TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "DS", "DNSKEY", "NSEC", "NSEC3", "CNAME", "DNAME"]
PAYLOADS = [1232, 512]

# The zones as written (origin, text, names that are not owners but exercise a rule)
SOURCES = [
    ("example.", dnssec.RFC4035_ZONE, [
        "nothing.example.", "a.b.nothing.example.", "z.w.example.", "a.z.w.example.",
        "y.w.example.", "w.example.", "ml.example.", "x.ns1.a.example.", "b.ai.example.",
        "zzz.example.", "0.example.", "x.y.w.example."]),
    ("signed.test.", dnssec.CASES_ZONE, [
        "nothing.signed.test.", "a.b.nothing.signed.test.", "x.wild.signed.test.",
        "a.b.wild.signed.test.", "wild.signed.test.", "c.signed.test.", "b.c.signed.test.",
        "a.b.c.signed.test.", "x.deep.a.b.c.signed.test.", "x.old.signed.test.",
        "x.inzone.signed.test.", "y.inzone.signed.test.", "a.x.cname.signed.test.",
        "x.secure.signed.test.", "x.insecure.signed.test.", "zzzz.signed.test.",
        "sub.signed.test.", "x.www.signed.test."]),
]
# Each signed three ways, under its own origin: (origin, text, how denied, extra names).
ZONES = [(prefix + origin, text.replace(origin, prefix + origin), denial,
          [prefix + name for name in extra])
         for origin, text, extra in SOURCES
         for prefix, denial in (("", dnssec.NSEC), ("nsec3.", dnssec.NSEC3),
                                ("optout.", dnssec.NSEC3_OPTOUT))]


def _hashed_owners(origin: str, text: str) -> list[str]:
    """NSEC3 owner names the signer makes (0 iterations, no salt) for some of the zone's
    names: queried, they must answer NXDOMAIN (RFC 5155 section 7.2.8)."""
    zone = dns.zone.from_text(text, origin=origin, relativize=False)
    apex = dns.name.from_text(origin)
    names = sorted(zone.nodes)[:3]
    return [f"{dns.dnssec.nsec3_hash(name, None, 0, 1).lower()}.{origin}" for name in names
            if name.is_subdomain(apex)]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, int]]:
    """(NSD's port, Knot's port, our port), all serving the signed zones."""
    root = tmp_path_factory.mktemp("dnssec")
    files = [dnssec.sign(text, origin, root / "sign" / origin.rstrip("."), denial)
             for origin, text, denial, _ in ZONES]
    served = [Zone(origin.rstrip("."), path)
              for (origin, *_), path in zip(ZONES, files, strict=True)]
    peers: list[PeerProcess] = []
    ours: ServerProcess | None = None
    try:
        for peer in (Nsd(), Knot()):
            peers.append(peer.start(root / peer.name, served, check=True))
            peers[-1].wait_ready(served, timeout=20)
        zones = root / "zones"
        zones.mkdir()
        for path in files:
            shutil.copy(path, zones / path.name)
        ours = ServerProcess(zones, root / "db")
        for origin, *_ in ZONES:
            ours.wait_served(origin)
        yield peers[0].port, peers[1].port, ours.port
    finally:
        if ours is not None:
            ours.stop()
        for peer_process in peers:
            peer_process.stop()


def _ask(port: int, name: str, rdtype: str, payload: int) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=payload, want_dnssec=True)
    q.flags &= ~dns.flags.RD
    for _ in range(3):
        try:
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=2.0, ignore_trailing=True)
        except dns.exception.Timeout:
            continue
    raise AssertionError(f"no answer from port {port} to {name} {rdtype}")


def _summary(r: dns.message.Message) -> dict[str, object]:
    return {
        "rcode": dns.rcode.to_text(r.rcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "tc": bool(r.flags & dns.flags.TC),
        "ad": bool(r.flags & dns.flags.AD),
        "answer": _records(r.answer),
        "authority": _records(r.authority),
        "additional": _records(r.additional),
    }


def _cases() -> list[tuple[str, str]]:
    cases = []
    for origin, text, denial, extra in ZONES:
        zone = dns.zone.from_text(text, origin=origin, relativize=False)
        if denial != dnssec.NSEC:
            extra = extra + _hashed_owners(origin, text)
        for name in sorted({n.to_text() for n in zone.nodes} | set(extra)):
            cases.append((origin, name))
    return cases


@pytest.mark.parametrize(("origin", "name"), _cases())
def test_signed_answers_as_nsd_and_knot(servers: tuple[int, int, int], origin: str,
                                        name: str) -> None:
    nsd_port, knot_port, our_port = servers
    compared = 0
    wrong = []
    for rdtype in TYPES:
        for payload in PAYLOADS:
            nsd = _summary(_ask(nsd_port, name, rdtype, payload))
            knot = _summary(_ask(knot_port, name, rdtype, payload))
            response = _ask(our_port, name, rdtype, payload)
            assert response.ednsflags & dns.flags.DO, "DO echoed"
            ours = _summary(response)
            assert not ours["ad"]
            for key, value in nsd.items():
                if knot[key] == value:
                    compared += 1
                    if ours[key] != value:
                        wrong.append(f"{name} {rdtype} @{payload} {key}: ours {ours[key]}, "
                                     f"NSD and Knot {value}")
    assert not wrong, "\n".join(wrong)
    assert compared >= len(TYPES) * len(PAYLOADS) * 4  # rcode and flags agree at the least
