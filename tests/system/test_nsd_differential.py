"""Differential test: our server and a real NSD serving the example zone (the tests' copy,
testkit.zones.EXAMPLE_ZONE) must agree.

Both are queried over UDP (and TCP for ANY) without EDNS and with RD=0. Compared: rcode,
AA, TC and the answer section; authority and additional too when the answer is empty
(negative answers and referrals). Positive answers are compared on the answer section only,
because NSD (minimal-responses: no) adds the apex NS set and its addresses to them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from testkit import programs
from testkit.peers import Nsd, PeerProcess, Zone
from testkit.server import ServerProcess
from testkit.zones import EXAMPLE_ZONE

from ..unit.test_answer import ZONES

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(programs.find("nsd") is None,
                                 reason="the nsd binary is not installed (Debian package "
                                 "nsd); it is the reference for this test")]

TYPES = ["A", "AAAA", "NS", "MX", "TXT", "SOA", "CNAME", "SRV", "CAA", "DS", "DNAME", "PTR"]

# Names that are not owners in the zone but exercise a rule; each says what it tests.
EXTRA_NAMES = [
    "nothing.example.com.",  # NXDOMAIN
    "a.b.nothing.example.com.",  # NXDOMAIN, deeper
    "x.apps.example.com.",  # wildcard
    "a.b.apps.example.com.",  # wildcard, several labels deep
    "apps.example.com.",  # empty non-terminal above the wildcard
    "c.example.com.", "b.c.example.com.", "a.b.c.example.com.",  # empty non-terminals
    "x.deep.a.b.c.example.com.",  # NXDOMAIN below a leaf
    "x.old.example.com.", "a.b.old.example.com.",  # DNAME
    "x.dev.example.com.", "a.b.dev.example.com.",  # below a delegation: referral
    "x.www.example.com.",  # below a CNAME owner
    "_tcp.example.com.",  # empty non-terminal above SRV
    "WwW.ExAmPlE.CoM.", "MAIL.example.COM.", "X.APPS.example.com.",  # mixed case
    "NS1.DEV.example.com.", "Foo.OLD.example.com.",
    "example.org.", "com.", ".",  # no served zone: REFUSED
]


def start_pair(root: Path, zone_files: list[Path]) -> tuple[PeerProcess, ServerProcess]:
    """NSD and our server, both serving the same zone files."""
    served = [Zone(path.name.removesuffix(".zone"), path) for path in zone_files]
    nsd = Nsd().start(root / "nsd", served, check=True)
    try:
        nsd.wait_ready(served, timeout=20)
        zones = root / "zones"
        zones.mkdir()
        for path in zone_files:
            shutil.copy(path, zones / path.name)
        ours = ServerProcess(zones, root / "db")
    except BaseException:
        nsd.stop()
        raise
    return nsd, ours


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(NSD's port, our port), both serving the example.com zone."""
    nsd, ours = start_pair(tmp_path_factory.mktemp("differential"), [EXAMPLE_ZONE])
    try:
        ours.wait_served("example.com.")
        yield nsd.port, ours.port
    finally:
        ours.stop()
        nsd.stop()


def _cases() -> list[tuple[str, str]]:
    zone = dns.zone.from_file(str(EXAMPLE_ZONE), origin="example.com.", relativize=False)
    names = sorted({n.to_text() for n in zone.nodes} | set(EXTRA_NAMES))
    return [(name, rdtype) for name in names for rdtype in TYPES]


def _records(section: list[dns.rrset.RRset]) -> list[str]:
    """Each record as text, owner lower-cased (letter case of answers is compared apart)."""
    lines = []
    for rrset in section:
        for line in rrset.to_text().splitlines():
            owner, rest = line.split(" ", 1)
            lines.append(f"{owner.lower()} {rest}")
    return sorted(lines)


def _ask(port: int, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=False)
    q.flags &= ~dns.flags.RD
    for _ in range(3):
        try:
            if tcp:
                return dns.query.tcp(q, "127.0.0.1", port=port, timeout=2.0)
            return dns.query.udp(q, "127.0.0.1", port=port, timeout=2.0)
        except dns.exception.Timeout:
            continue
    raise AssertionError(f"no answer from port {port} to {name} {rdtype}")


def _summary(r: dns.message.Message, full: bool) -> dict[str, object]:
    out: dict[str, object] = {
        "rcode": dns.rcode.to_text(r.rcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "tc": bool(r.flags & dns.flags.TC),
        "question": [q.to_text() for q in r.question],
        "answer": _records(r.answer),
    }
    if full:
        out["authority"] = _records(r.authority)
        out["additional"] = _records(r.additional)
    return out


@pytest.mark.parametrize(("name", "rdtype"), _cases())
def test_same_answer_as_nsd(servers: tuple[int, int], name: str, rdtype: str) -> None:
    nsd_port, our_port = servers
    theirs = _ask(nsd_port, name, rdtype)
    ours = _ask(our_port, name, rdtype)
    full = not theirs.answer or not ours.answer
    assert _summary(ours, full) == _summary(theirs, full)


NAMES = sorted({n for n, _ in _cases()})


def _rrsets_match_direct_queries(port: int, name: str, msg: dns.message.Message) -> None:
    """Each RRset answered to ANY is what a query for its own type gets from NSD."""
    for rrset in msg.answer:
        direct = _ask(port, name, dns.rdatatype.to_text(rrset.rdtype))
        same = [a for a in direct.answer if a.name == rrset.name and a.rdtype == rrset.rdtype]
        assert _records([rrset]) == _records(same)


def _types_at(port: int, name: str) -> set[dns.rdatatype.RdataType]:
    """The types of the RRsets at `name` (its own or a wildcard's), from NSD's answers to a
    query for each type."""
    owner = dns.name.from_text(name)
    return {rrset.rdtype for rdtype in TYPES for rrset in _ask(port, name, rdtype).answer
            if rrset.name == owner and rrset.rdtype == dns.rdatatype.from_text(rdtype)}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_any_like_nsd(servers: tuple[int, int], name: str, tcp: bool) -> None:
    # RFC 8482 lets a server answer ANY with any one RRset. NSD 4 always does (UDP and
    # TCP), and picks its first; we give one over UDP (the amplification risk) and every
    # RRset over TCP. So: same rcode, flags and question; where NSD gives one RRset, each
    # of ours is what NSD answers to a query for that type, and we give exactly one over
    # UDP, and over TCP every type NSD answers at the name, NSD's RRset among them.
    nsd_port, our_port = servers
    theirs = _ask(nsd_port, name, "ANY", tcp)
    ours = _ask(our_port, name, "ANY", tcp)
    if len(theirs.answer) != 1 or theirs.answer[0].name != dns.name.from_text(name):
        # Nothing at the name, or a DNAME redirection: no choice to make, so all must agree.
        assert _summary(ours, True) == _summary(theirs, True)
        return
    mine, nsds = _summary(ours, False), _summary(theirs, False)
    for key in ("rcode", "aa", "tc", "question"):
        assert mine[key] == nsds[key], key
    assert ours.flags == theirs.flags
    assert {rrset.name for rrset in ours.answer} == {dns.name.from_text(name)}
    if tcp:
        assert set(_records(theirs.answer)) <= set(_records(ours.answer))
        assert {rrset.rdtype for rrset in ours.answer} == _types_at(nsd_port, name)
    else:
        assert len(ours.answer) == 1
    _rrsets_match_direct_queries(nsd_port, name, ours)


# ---------------------------------------------------------------------------------------
# The unit-test zones (tests/unit/test_answer.py): CNAME chains and loops, chains between
# zones, DNAME chains, a served child, answers too big for 512 bytes.

UNIT_EXTRA = ["nothing.example.com.", "x.wild.example.com.", "a.b.wild.example.com.",
              "ent.wild.example.com.", "y.ent.wild.example.com.", "x.*.wild.example.com.",
              "ab.star.example.com.", "star.example.com.", "x.cname.example.com.",
              "www.child.example.com.", "host.old.example.com.", "www.old2.example.com.",
              "nothing.old2.example.com.", "x.served.example.com.", "HOST.Old2.Example.Com.",
              "a.b.c.example.com.", "b.c.example.com.", "_tcp.example.com."]


@pytest.fixture(scope="module")
def unit_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    root = tmp_path_factory.mktemp("differential-unit")
    files = []
    (root / "src").mkdir()
    for origin, text in ZONES.items():
        path = root / "src" / f"{origin}zone"
        path.write_text(text)
        files.append(path)
    nsd, ours = start_pair(root, files)
    try:
        for origin in ZONES:
            ours.wait_served(origin)
        yield nsd.port, ours.port
    finally:
        ours.stop()
        nsd.stop()


def _unit_cases() -> list[tuple[str, str]]:
    names: set[str] = set(UNIT_EXTRA)
    for origin, text in ZONES.items():
        zone = dns.zone.from_text(text, origin=origin, relativize=False)
        names |= {n.to_text() for n in zone.nodes}
    return [(name, rdtype) for name in sorted(names) for rdtype in UNIT_TYPES]


UNIT_TYPES = ["A", "AAAA", "NS", "MX", "TXT", "SOA", "CNAME", "SRV", "DS", "DNAME"]


@pytest.mark.parametrize(("name", "rdtype"), _unit_cases())
def test_unit_zones_same_answer_as_nsd(unit_servers: tuple[int, int], name: str,
                                       rdtype: str) -> None:
    nsd_port, our_port = unit_servers
    for tcp in (False, True):
        theirs = _ask(nsd_port, name, rdtype, tcp)
        ours = _ask(our_port, name, rdtype, tcp)
        full = not theirs.answer or not ours.answer
        assert _summary(ours, full) == _summary(theirs, full), "TCP" if tcp else "UDP"
