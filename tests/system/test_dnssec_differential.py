"""Differential test of signed answers: zones signed by dnssec-signzone, served by NSD, Knot,
BIND and us, asked with DO=1 (UDP, EDNS payload 1232 and 512).

What the peers agree on we must answer the same (see _agreed): rcode, the AA/TC/AD flags,
and each section as a set of records (owners lower-cased). Where they differ that part is
not compared. Our responses must also echo DO and never set AD. BIND runs with
`minimal-responses no-auth` (its default adds the apex NS set to answers, as NSD does).

Where BIND differs from NSD and Knot agreeing (the test follows those two there; each
case seen with BIND 9.18 on this battery):
- A negative answer to an SOA query carries the SOA with TTL 0 (BIND's zero-TTL SOA, so
  that a cache cannot mistake it for the answer); NSD, Knot and we use RFC 2308's TTL.
- NSEC asked at a delegation: BIND answers the parent's NSEC authoritatively, NSD and Knot
  refer (of the parent side they answer DS only, RFC 4035 section 3.1.4.1).
- At a payload of 512 BIND sets TC on answers NSD and Knot still fit (511 bytes), with
  empty sections; its truncated answers are always empty, NSD and Knot keep what fits.
And where BIND breaks a tie: NSEC asked at a CNAME owner of an NSEC3 zone is NODATA at
the owner (BIND and Knot: NSEC may live beside a CNAME, RFC 4035 section 2.5), where NSD
follows the CNAME.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import dns.dnssec
import dns.edns
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
from testkit.peers import Bind, Knot, Nsd, PeerProcess, Zone
from testkit.server import ServerProcess

from .test_nsd_differential import _records

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(any(programs.find(p) is None for p in ("nsd", "knotd", "named"))
                                 or dnssec.missing() is not None,
                                 reason="nsd, knotd, named and dnssec-signzone are the "
                                 "reference (Debian packages nsd, knot, bind9, bind9-utils)")]

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
          [name.removesuffix(origin) + prefix + origin for name in extra])
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
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, int], int]]:
    """({peer name: its port} for NSD, Knot and BIND; our port), all serving the signed
    zones from the same files."""
    root = tmp_path_factory.mktemp("dnssec")
    files = [dnssec.sign(text, origin, root / "sign" / origin.rstrip("."), denial)
             for origin, text, denial, _ in ZONES]
    served = [Zone(origin.rstrip("."), path)
              for (origin, *_), path in zip(ZONES, files, strict=True)]
    peers: list[PeerProcess] = []
    ours: ServerProcess | None = None
    try:
        # BIND adds the apex NS set to authoritative answers by default, as NSD does; the
        # third opinion is worth more without it (Knot and we send minimal responses).
        for peer in (Nsd(), Knot(), Bind("minimal-responses no-auth;")):
            peers.append(peer.start(root / peer.name, served, check=True))
        for running in peers:
            running.wait_ready(served, timeout=30)
        zones = root / "zones"
        zones.mkdir()
        for path in files:
            shutil.copy(path, zones / path.name)
        ours = ServerProcess(zones, root / "db")
        for origin, *_ in ZONES:
            ours.wait_served(origin)
        yield {running.name: running.port for running in peers}, ours.port
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


def _agreed(theirs: dict[str, dict[str, object]], key: str) -> object | None:
    """The value of `key` the peers agree on, else None: what NSD and Knot both answer (the
    bar before BIND joined), or else what two of the three share where those two also
    agree on everything before it (rcode, flags, then the sections in order).

    What fits into a section depends on the sections before it, so two answers that left
    out the same records for different reasons do not agree by rule. Beyond NSD and Knot,
    the sections of a truncated answer (whatever each server fitted in before it gave up;
    a client ignores them, RFC 2181 section 9) count only where all three agree, as does
    the additional section: each server drops optional data by its own rule when room is
    short (NSD its apex NS set first, BIND and Knot the A and AAAA before their
    signatures, BIND nothing at a payload of 512, we each RRset with its signatures)."""
    nsd, knot = theirs["NSD"], theirs["Knot"]
    if nsd[key] == knot[key]:
        return nsd[key]
    summaries = list(theirs.values())
    keys = list(nsd)
    before = keys[:keys.index(key) + 1]

    def same(one: dict[str, object], other: dict[str, object]) -> bool:
        return all(one[k] == other[k] for k in before)

    if key == "additional" or (key in ("answer", "authority") and
                               any(s["tc"] for s in summaries)):
        return None  # all three would agree, NSD and Knot among them
    for i, one in enumerate(summaries):
        if any(same(one, other) for other in summaries[i + 1:]):
            return one[key]
    return None


@pytest.mark.parametrize(("origin", "name"), _cases())
def test_signed_answers_as_the_peers(servers: tuple[dict[str, int], int], origin: str,
                                     name: str) -> None:
    peer_ports, our_port = servers
    compared = 0
    wrong = []
    for rdtype in TYPES:
        for payload in PAYLOADS:
            theirs = {peer: _summary(_ask(port, name, rdtype, payload))
                      for peer, port in peer_ports.items()}
            response = _ask(our_port, name, rdtype, payload)
            assert response.ednsflags & dns.flags.DO, "DO echoed"
            ours = _summary(response)
            assert not ours["ad"]
            for key, value in ours.items():
                agreed = _agreed(theirs, key)
                if agreed is None:
                    continue
                compared += 1
                if value != agreed:
                    said = ", ".join(f"{peer} {summary[key]}"
                                     for peer, summary in theirs.items())
                    wrong.append(f"{name} {rdtype} @{payload} {key}: ours {value}; {said}")
    assert not wrong, "\n".join(wrong)
    assert compared >= len(TYPES) * len(PAYLOADS) * 4  # rcode and flags agree at the least


# NSEC3 records at the hashes of names the zone does not have (testkit.dnssec
# .with_collisions): to a server, names of the zone whose hashes collide with them.
COLLIDING = ["collide.signed.test.", "zz.wild.signed.test."]


@pytest.fixture(scope="module")
def colliding(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(NSD's port, our port), serving an NSEC3 zone with colliding hashes."""
    root = tmp_path_factory.mktemp("collisions")
    signed = dnssec.sign(dnssec.CASES_ZONE, "signed.test.", root / "sign", dnssec.NSEC3)
    zones = root / "zones"
    zones.mkdir()
    path = zones / "signed.test.zone"
    path.write_text(dnssec.with_collisions(signed.read_text(), "signed.test.", COLLIDING))
    nsd = Nsd().start(root / "nsd", [Zone("signed.test", path)], check=True)
    ours: ServerProcess | None = None
    try:
        nsd.wait_ready([Zone("signed.test", path)], timeout=20)
        ours = ServerProcess(zones, root / "db")
        ours.wait_served("signed.test.")
        yield nsd.port, ours.port
    finally:
        if ours is not None:
            ours.stop()
        nsd.stop()


@pytest.mark.parametrize("name", ["collide.signed.test.", "a.b.collide.signed.test.",
                                  "zz.wild.signed.test.", "nothing.signed.test.",
                                  "yy.wild.signed.test."])
def test_nsec3_collisions_answer_as_nsd(colliding: tuple[int, int], name: str) -> None:
    """RFC 5155 section 7.2.9: SERVFAIL where the proof needs a colliding hash covered, as
    NSD answers (with AA); other names as ever. (Knot answers SERVFAIL for the wildcard
    and an empty NXDOMAIN without AA for the others; BIND sends the impossible proof.)"""
    nsd_port, our_port = colliding
    for rdtype in ("A", "TXT"):
        nsd_response = _ask(nsd_port, name, rdtype, 1232)
        our_response = _ask(our_port, name, rdtype, 1232)
        nsd, ours = _summary(nsd_response), _summary(our_response)
        assert (ours["rcode"], ours["aa"]) == (nsd["rcode"], nsd["aa"]), (name, rdtype)
        # The Extended DNS Error NSD gives the SERVFAIL (EDE 0 Other, its text), if any.
        assert _edes(our_response) == _edes(nsd_response), (name, rdtype)
        if nsd["rcode"] == "SERVFAIL":
            assert ours["answer"] == ours["authority"] == ours["additional"] == []


def _edes(response: dns.message.Message) -> list[tuple[int, str | None]]:
    return [(int(o.code), o.text) for o in response.options
            if isinstance(o, dns.edns.EDEOption)]
