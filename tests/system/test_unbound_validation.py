"""Unbound, a validating resolver trusting only our zones' DS, resolves a battery of questions
through our server: zones signed by dnssec-signzone (NSEC, NSEC3, NSEC3 opt-out) and by the
server itself (sign = true: NSEC with ECDSA P-256, NSEC3 with Ed25519), each with a signed
and an unsigned child zone.
Every answer must validate (AD) but where RFC 4035 and 5155 say it is insecure; a tampered
signature must give SERVFAIL; live edits of signed zones, and a switch of the settings from
NSEC to NSEC3 and back, validate right after each; the AXFR of every zone the server signs
passes dnssec-verify and ldns-verify-zone.

The child zones are served by the same server, a stub of their own for Unbound (a referral's
glue would send it to port 53): it asks the parent for their DS (or the proof there is none)
and the child for its names, validating the child from the parent's answer."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.dnskeybase
import dns.zone
import pytest

from testkit import dnssec, programs, unbound
from testkit.server import ServerProcess
from testkit.signing import axfr_text, dnssec_verify, ldns_verify_zone
from testkit.unbound import Resolver, Stub, Unbound
from testkit.zones import generate, write_atomically

from .test_dnssec_differential import SOURCES

pytestmark = pytest.mark.interop

SIGNED = "dnssec-signzone"  # who signs a zone: BIND's tool, before the server loads it
SERVER = "sign = true"  # or the server, from the plain file


@dataclass(frozen=True)
class Signed:
    """A signed zone of the tests: its origin, who signs it, how it denies."""

    origin: str
    signer: str
    denial: str


BATTERY = [Signed("ps-nsec.test.", SIGNED, dnssec.NSEC),
           Signed("ps-nsec3.test.", SIGNED, dnssec.NSEC3),
           Signed("ps-optout.test.", SIGNED, dnssec.NSEC3_OPTOUT),
           Signed("ps-salted.test.", SIGNED, dnssec.NSEC3_SALTED),
           Signed("auto-nsec.test.", SERVER, dnssec.NSEC),
           Signed("auto-nsec3.test.", SERVER, dnssec.NSEC3)]


def _generated(origin: str, records: int) -> str:
    """A realistic zone's text (testkit.zones.generate: hosts, aliases, mail, SRV, signed
    delegations, wildcards, TTLs in units), the same for the same arguments."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zone"
        generate(str(path), origin, records)
        return path.read_text()


# The differential test's zones (RFC 4035's example, a zone of every case) and a generated
# one, each under an origin of its own, signed by dnssec-signzone (NSEC, NSEC3, salted,
# opt-out) and by the server (NSEC, NSEC3): every name of theirs asked (the generated one,
# the largest, only as opt-out and as the server signs it, to keep the time small).
_BOTH = [(SIGNED, dnssec.NSEC), (SIGNED, dnssec.NSEC3), (SIGNED, dnssec.NSEC3_SALTED),
         (SIGNED, dnssec.NSEC3_OPTOUT), (SERVER, dnssec.NSEC), (SERVER, dnssec.NSEC3)]
SWEPT = {Signed(f"{'ps' if signer == SIGNED else 'auto'}-{denial}.{name}.test.", signer,
                denial): (origin, text, extra)
         for name, (origin, text, extra), variants in zip(
             ("rfc4035", "cases", "generated"),
             [*SOURCES, ("generated.test.", _generated("generated.test.", 100), [])],
             [_BOTH, _BOTH, _BOTH[3:]], strict=True)
         for signer, denial in variants}
TAMPERED = "tampered.test."
LIVE = {dnssec.NSEC: "live-nsec.test.", dnssec.NSEC3: "live-nsec3.test."}
SWITCHED = "switched.test."  # its server's settings switch from NSEC to NSEC3 and back
# The servers, by name: the denial each starts signing with
SERVERS = {"nsec": dnssec.NSEC, "nsec3": dnssec.NSEC3, "switch": dnssec.NSEC}


def zone_text(ds: list[str], serial: int = 1, extra: str = "") -> str:
    """The battery's zone (relative names): `ds` are the DS rdatas of its signed child."""
    return (f"$TTL 3600\n@ SOA ns1 hostmaster {serial} 7200 900 1209600 300\n@ NS ns1\n"
            "@ MX 10 mail\nns1 A 192.0.2.53\nmail A 192.0.2.25\n"
            "host A 192.0.2.80\nhost TXT \"host\"\nwww CNAME host\nchain CNAME www\n"
            "towild CNAME x.wild\ntonothing CNAME nothing\n*.wild A 192.0.2.99\n"
            "real.wild TXT \"real\"\ndeep.a.b TXT \"below two empty non-terminals\"\n"
            "dname DNAME sub\nx.sub A 192.0.2.70\n"
            "secure NS ns1.secure\nns1.secure A 192.0.2.200\n"
            + "".join(f"secure DS {rdata}\n" for rdata in ds)
            + f"insecure NS ns1.insecure\nns1.insecure A 192.0.2.201\n{extra}")


CHILD = ("$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\n"
         "ns1 A {ns}\nwww A {www}\n")


@dataclass(frozen=True)
class Case:
    """A question (relative name, type) and what a validator must make of the answer."""

    name: str
    rdtype: str
    rcode: str = "NOERROR"
    # the answer section as "owner TYPE rdata" (relative owners, no RRSIGs); None: some
    # records of the asked type
    answer: tuple[str, ...] | None = ()
    # its proof rests on an NSEC3 covering the next closer name: in an opt-out zone that
    # leaves the answer insecure, no AD (RFC 5155 section 9.2)
    covered: bool = False
    unsigned: bool = False  # from the unsigned child: insecure, no AD (RFC 4035 section 4.3)


CASES = [
    Case("host", "A", answer=("host A 192.0.2.80",)),
    Case("", "MX", answer=("@ MX 10 mail",)),
    Case("", "DNSKEY", answer=None),
    Case("www", "A", answer=("www CNAME host", "host A 192.0.2.80")),
    Case("chain", "A", answer=("chain CNAME www", "www CNAME host", "host A 192.0.2.80")),
    Case("towild", "A", answer=("towild CNAME x.wild", "x.wild A 192.0.2.99"), covered=True),
    Case("tonothing", "A", "NXDOMAIN", ("tonothing CNAME nothing",), covered=True),
    Case("x.dname", "A", answer=("dname DNAME sub", "x.dname CNAME x.sub",
                                 "x.sub A 192.0.2.70")),
    Case("any.wild", "A", answer=("any.wild A 192.0.2.99",), covered=True),
    Case("a.b.wild", "A", answer=("a.b.wild A 192.0.2.99",), covered=True),
    Case("any.wild", "TXT", covered=True),  # wildcard NODATA
    Case("nothere", "A", "NXDOMAIN", covered=True),
    Case("a.b.nothere", "A", "NXDOMAIN", covered=True),
    Case("host", "MX"),  # NODATA
    Case("real.wild", "A"),  # NODATA at a name the wildcard does not cover
    Case("b", "A"),  # empty non-terminals
    Case("a.b", "TXT"),
    Case("host", "DS"),  # DS NODATA where there is no delegation
    Case("secure", "DS", answer=None),  # the signed delegation's DS, from the parent
    Case("www.secure", "A", answer=("www.secure A 192.0.2.210",)),
    Case("insecure", "DS", covered=True),  # the proof that there is no DS
    Case("www.insecure", "A", answer=("www.insecure A 192.0.2.211",), covered=True,
         unsigned=True),
]


@dataclass
class Setup:
    """The servers (one signs with NSEC and ECDSA P-256 and serves the pre-signed zones too,
    one signs with NSEC3 and Ed25519, one serves SWITCHED), Unbound, and the DS records it
    trusts, by zone."""

    servers: dict[str, ServerProcess]  # by name (SERVERS)
    resolver: Resolver
    small: Resolver  # another, asking with EDNS payload 512: most signed answers truncated
    anchors: dict[str, list[str]]
    root: Path

    def server(self, origin: str) -> ServerProcess:
        return self.servers[_server_of(origin)]


def _needed() -> None:
    reasons = [why for why in (unbound.missing(), dnssec.missing()) if why is not None]
    for name, package in (("dnssec-verify", "bind9-utils"), ("ldns-verify-zone", "ldnsutils")):
        if programs.find(name) is None:
            reasons.append(f"{name} is needed here (Debian package {package})")
    programs.needed(reasons)


def _ds_rdatas(workdir: Path, origin: str) -> list[str]:
    """The DS rdatas dnssec-signzone wrote for the zone's KSK (dsset-ORIGIN)."""
    rdatas = []
    for line in (workdir / f"dsset-{origin}").read_text().splitlines():
        fields = line.split()  # owner [TTL] IN DS key-tag algorithm digest-type digest...
        text = " ".join(fields[fields.index("DS") + 1:])
        rdatas.append(dns.rdata.from_text("IN", "DS", text).to_text())
    return rdatas


def _served_ds(srv: ServerProcess, origin: str) -> list[str]:
    """The DS (SHA-256) of the key with the SEP flag that the server publishes for a zone it
    signs: what `dnsbackend ds` prints (test_signing checks that it does)."""
    keys = srv.query(origin, "DNSKEY", tcp=True).answer[0]
    apex = dns.name.from_text(origin)
    return [f"{origin} {keys.ttl} IN DS {dns.dnssec.make_ds(apex, key, 'SHA256')}"
            for key in keys if key.flags & dns.rdtypes.dnskeybase.Flag.SEP]


def tamper(path: Path, origin: str, owner: str, covered: str) -> None:
    """Flip one bit in the signature of the RRSIG over `owner`'s `covered` RRset."""
    zone = dns.zone.from_file(str(path), origin=origin, relativize=False)
    node = zone.find_node(f"{owner}.{origin}")
    rrsigs = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG,
                                dns.rdatatype.from_text(covered))
    (old,) = list(rrsigs)
    signature = bytearray(old.signature)
    signature[len(signature) // 2] ^= 0x01
    rrsigs.remove(old)
    rrsigs.add(old.replace(signature=bytes(signature)))
    zone.to_file(str(path), relativize=False)


def _child_files(root: Path, zones: Path, origin: str) -> list[str]:
    """Write the signed and the unsigned child of `origin`; the signed one's DS rdatas."""
    child = "secure." + origin
    signed = dnssec.sign(CHILD.format(ns="192.0.2.200", www="192.0.2.210"), child,
                         root / "sign" / child)
    (zones / f"{child}zone").write_text(signed.read_text())
    (zones / f"insecure.{origin}zone").write_text(
        CHILD.format(ns="192.0.2.201", www="192.0.2.211"))
    return _ds_rdatas(signed.parent, child)


# The algorithm each server signs with: both the server can (RFC 8624 recommends both)
ALGORITHMS = {dnssec.NSEC: ("ecdsap256sha256", 13), dnssec.NSEC3: ("ed25519", 15)}


def _settings_text(denial: str, algorithm: str, signed: list[str]) -> str:
    """A server's settings: AXFR to loopback, signing `signed` so."""
    tables = "".join(f'[zone."{origin}"]\nsign = true\n' for origin in signed)
    return (f'[transfer]\nallow = [{{ address = "127.0.0.0/8" }}]\n'
            f'[dnssec]\ndenial = "{denial}"\nalgorithm = "{algorithm}"\n{tables}')


def _place(root: Path, zones: dict[str, Path], anchors: dict[str, list[str]], zone: Signed,
           text: str) -> None:
    """Write the zone's file where its server reads it: plain if the server signs it, else
    signed by dnssec-signzone (its DS added to `anchors`)."""
    home = zones[_server_of(zone.origin)]
    if zone.signer == SERVER:
        (home / f"{zone.origin}zone").write_text(text)
        return
    signed = dnssec.sign(text, zone.origin, root / "sign" / zone.origin, zone.denial)
    (home / f"{zone.origin}zone").write_text(signed.read_text())
    anchors[zone.origin] = [f"{zone.origin} DS {ds}"
                            for ds in _ds_rdatas(signed.parent, zone.origin)]


def _write_zones(root: Path, zones: dict[str, Path]) -> dict[str, list[str]]:
    """Every zone file, in the zones directory of the server that serves it (_server_of);
    the DS records of those dnssec-signzone signed, by zone."""
    anchors: dict[str, list[str]] = {}
    for zone in BATTERY:
        _place(root, zones, anchors, zone,
               zone_text(_child_files(root, zones[dnssec.NSEC], zone.origin)))
    for zone, (origin, text, _) in SWEPT.items():
        _place(root, zones, anchors, zone, text.replace(origin, zone.origin))
    signed = dnssec.sign(zone_text([]), TAMPERED, root / "sign" / TAMPERED)
    tamper(signed, TAMPERED, "host", "A")
    (zones[dnssec.NSEC] / f"{TAMPERED}zone").write_text(signed.read_text())
    anchors[TAMPERED] = [f"{TAMPERED} DS {ds}" for ds in _ds_rdatas(signed.parent, TAMPERED)]
    for denial, origin in LIVE.items():
        (zones[denial] / f"{origin}zone").write_text(zone_text([]))
    (zones["switch"] / f"{SWITCHED}zone").write_text(zone_text([]))
    return anchors


def _signed_here(server: str) -> list[str]:
    """The zones the server (by name) signs."""
    if server == "switch":
        return [SWITCHED]
    return [z.origin for z in [*BATTERY, *SWEPT] if z.signer == SERVER and z.denial == server
            ] + [LIVE[server]]


def _server_of(origin: str) -> str:
    """Which server serves the zone: the NSEC3 one the zones it signs, the switch one
    SWITCHED, the NSEC one every other zone."""
    return next((name for name in ("nsec3", "switch") if origin in _signed_here(name)),
                "nsec")


def _stubs(srv: ServerProcess, zones: Path, anchors: dict[str, list[str]]) -> list[Stub]:
    """Once each of the server's zones is served, what Unbound is told of it (the DS of
    those the server signs added to `anchors`)."""
    stubs = []
    for path in sorted(zones.glob("*.zone")):
        origin = path.name.removesuffix("zone")
        srv.wait_served(origin)
        if origin.startswith(("secure.", "insecure.")):
            stubs.append(Stub(origin, srv.port))  # trusted through its parent's DS, or not
            continue
        if origin not in anchors:  # signed by the server: the DS it prints
            anchors[origin] = _served_ds(srv, origin)
        stubs.append(Stub(origin, srv.port, anchors[origin]))
    return stubs


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    _needed()
    root = tmp_path_factory.mktemp("unbound")
    zones = {name: root / f"zones-{name}" for name in SERVERS}
    for path in zones.values():
        path.mkdir()
    anchors = _write_zones(root, zones)
    servers: dict[str, ServerProcess] = {}
    resolvers: list[Resolver] = []
    try:
        for name, path in zones.items():
            config = root / f"{name}.toml"
            denial = SERVERS[name]
            config.write_text(_settings_text(denial, ALGORITHMS[denial][0], _signed_here(name)))
            servers[name] = ServerProcess(path, root / f"db-{name}", config=config)
        stubs = [stub for name, srv in servers.items()
                 for stub in _stubs(srv, zones[name], anchors)]
        for size in (1232, 512):
            resolvers.append(Unbound().start(root / f"unbound-{size}", stubs, udp_size=size))
        yield Setup(servers, resolvers[0], resolvers[1], anchors, root)
    finally:
        for resolver in resolvers:
            resolver.stop()
        for srv in servers.values():
            srv.stop()


def _absolute(name: str, origin: str) -> str:
    return f"{name}.{origin}" if name else origin


def _records(answer: dns.message.Message, origin: str) -> set[str]:
    """The answer section as "owner TYPE rdata" with owners relative to `origin`, RRSIGs
    left out."""
    apex = dns.name.from_text(origin)
    return {f"{rrset.name.relativize(apex)} {dns.rdatatype.to_text(rrset.rdtype)} "
            f"{rdata.to_text(origin=apex, relativize=True)}"
            for rrset in answer.answer if rrset.rdtype != dns.rdatatype.RRSIG
            for rdata in rrset}


def _verdict(resolver: Resolver, origin: str, case: Case, secure: bool) -> str | None:
    """What is wrong with Unbound's answer to the case, or None."""
    name = _absolute(case.name, origin)
    resolver.flush(origin)
    answer = resolver.ask(name, case.rdtype)
    said = []
    rcode = dns.rcode.to_text(answer.rcode())
    if rcode != case.rcode:
        said.append(f"rcode {rcode}, not {case.rcode}")
    if bool(answer.flags & dns.flags.AD) != secure:
        said.append("AD " + ("missing" if secure else "set for an insecure answer"))
    records = _records(answer, origin)
    if case.answer is None:
        if not any(r.rdtype == dns.rdatatype.from_text(case.rdtype) for r in answer.answer):
            said.append(f"no {case.rdtype} in the answer")
    elif records != set(case.answer):
        said.append(f"answer {sorted(records)}, not {sorted(case.answer)}")
    if not said:
        return None
    ede = "; ".join(f"EDE {o.code}: {o.text}" for o in answer.options
                    if isinstance(o, dns.edns.EDEOption))
    return f"{name} {case.rdtype}: {', '.join(said)} {ede}"


def _hashed(name: str, origin: str, denial: str) -> str:
    """The NSEC3 owner name of `name` (absolute) in the zone (SHA-1, 0 iterations and no
    salt as both signers do by default, or the salted zones' salt and iterations)."""
    salt, iterations = ((dnssec.SALT, dnssec.ITERATIONS) if denial == dnssec.NSEC3_SALTED
                        else (None, 0))
    owner = dns.dnssec.nsec3_hash(name, salt, iterations, 1)
    return f"{owner.lower()}.{origin}"


@pytest.mark.parametrize("payload", [1232, 512])
@pytest.mark.parametrize("zone", BATTERY, ids=[z.origin.rstrip(".") for z in BATTERY])
def test_every_answer_validates_through_unbound(setup: Setup, zone: Signed,
                                                payload: int) -> None:
    """Each case of the battery, asked with EDNS payload 1232 or 512 (where an RRset and its
    RRSIGs must come together or the answer truncated, RFC 4035 section 3.1.1)."""
    resolver = setup.resolver if payload == 1232 else setup.small
    optout = zone.denial == dnssec.NSEC3_OPTOUT
    cases = list(CASES)
    if zone.denial != dnssec.NSEC:  # an NSEC3 owner name is no name of the zone
        hashed = _hashed(f"host.{zone.origin}", zone.origin, zone.denial)
        cases.append(Case(hashed.removesuffix("." + zone.origin), "A", "NXDOMAIN",
                          covered=True))
    wrong = [said for case in cases
             if (said := _verdict(resolver, zone.origin, case,
                                  secure=not case.unsigned and not (optout and case.covered)))]
    assert not wrong, "\n".join(wrong) + "\nUnbound's log:\n" + resolver.log_tail(40)


def test_a_tampered_signature_gives_servfail_for_that_rrset_only(setup: Setup) -> None:
    """One bit of host A's RRSIG is flipped: host A and the CNAME that leads to it are bogus,
    SERVFAIL (and Unbound's log says validation failed there); the rest still validates."""
    for name in ("host", "www"):
        setup.resolver.flush(TAMPERED)
        answer = setup.resolver.ask(f"{name}.{TAMPERED}", "A")
        assert answer.rcode() == dns.rcode.SERVFAIL, f"{name}: {answer}"
    assert f"validation failure <host.{TAMPERED} A IN>" in setup.resolver.log_tail(200)
    good = [Case("host", "TXT", answer=('host TXT "host"',)),
            Case("", "MX", answer=("@ MX 10 mail",)), Case("nothere", "A", "NXDOMAIN"),
            Case("x.dname", "A", answer=("dname DNAME sub", "x.dname CNAME x.sub",
                                         "x.sub A 192.0.2.70"))]
    wrong = [said for case in good
             if (said := _verdict(setup.resolver, TAMPERED, case, secure=True))]
    assert not wrong, "\n".join(wrong) + "\nUnbound's log:\n" + setup.resolver.log_tail(40)


SWEPT_TYPES = ["A", "AAAA", "MX", "TXT", "DS", "CNAME", "DNAME"]
APEX_TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "DNSKEY", "CNAME", "DNAME"]  # DS: above


def _resolvable(zone: dns.zone.Zone, name: dns.name.Name, links: int = 0) -> bool:
    """Whether Unbound can resolve the name from our server alone: in the zone, not below a
    delegation (whose servers are not there), and where a CNAME or DNAME leads the same,
    not to a delegation either."""
    apex = zone.origin
    assert apex is not None
    if links > 8 or not name.is_subdomain(apex):
        return False
    for owner, node in zone.nodes.items():
        if owner in (apex, name) or not name.is_subdomain(owner):
            continue
        if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None:
            return False
        dname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.DNAME)
        if dname is not None:
            target = name.relativize(owner).derelativize(dname[0].target)
            return _resolvable(zone, target, links + 1) and not _delegation(zone, target)
    found = zone.get_node(name)
    cname = None if found is None else found.get_rdataset(dns.rdataclass.IN,
                                                           dns.rdatatype.CNAME)
    if cname is None:
        return True
    target = cname[0].target
    return _resolvable(zone, target, links + 1) and not _delegation(zone, target)


def _delegation(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    node = zone.get_node(name)
    return (name != zone.origin and node is not None
            and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None)


def _below_dname(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    return any(name.is_subdomain(owner) and name != owner
               and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.DNAME) is not None
               for owner, node in zone.nodes.items())


def _sweep(zone: Signed) -> list[tuple[str, str]]:
    """Every question of the zone that Unbound can resolve from our server: each name
    (owners, the differential test's other names, NSEC3 owner names) with the types, and
    a name below it; at a delegation only its DS, at the apex no DS (that is the trust
    anchor's) but the apex's types."""
    source, text, extra = SWEPT[zone]
    parsed = dns.zone.from_text(text.replace(source, zone.origin), origin=zone.origin,
                                relativize=False)
    apex = dns.name.from_text(zone.origin)
    names = set(parsed.nodes) | {dns.name.from_text(n.removesuffix(source) + zone.origin)
                                 for n in extra}
    if zone.denial != dnssec.NSEC:
        names |= {dns.name.from_text(_hashed(n.to_text(), zone.origin, zone.denial))
                  for n in sorted(parsed.nodes)[:3]}
    questions = []
    for name in sorted(names):
        if not _resolvable(parsed, name):
            continue
        types = (["DS"] if _delegation(parsed, name) else
                 APEX_TYPES if name == apex else SWEPT_TYPES)
        if _below_dname(parsed, name):
            # Unbound 1.17 answers SERVFAIL to these, from NSD and Knot as from us: it takes
            # the synthesized CNAME that is the answer for a zone cut ("DS got DNAME answer")
            types = [t for t in types if t not in ("CNAME", "DNAME")]
        questions += [(name.to_text(), rdtype) for rdtype in types]
        below = dns.name.from_text("nx", name)  # a name below each name
        if not _delegation(parsed, name) and not name.is_wild() and _resolvable(parsed, below):
            questions.append((below.to_text(), "A"))
    return questions


@pytest.mark.parametrize("zone", list(SWEPT), ids=[z.origin.rstrip(".") for z in SWEPT])
def test_every_name_and_type_validates_through_unbound(setup: Setup, zone: Signed) -> None:
    """Unbound's verdict on each question: validated (AD), never SERVFAIL. In an opt-out
    zone only a positive answer that is no wildcard's must be: the others' proofs may rest
    on an opt-out NSEC3 (RFC 5155 section 9.2)."""
    setup.resolver.flush(zone.origin)
    wrong = []
    questions = _sweep(zone)
    for name, rdtype in questions:
        answer = setup.resolver.ask(name, rdtype)
        secure = zone.denial != dnssec.NSEC3_OPTOUT or _plainly_positive(answer)
        if answer.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or \
                (secure and not answer.flags & dns.flags.AD):
            wrong.append(f"{name} {rdtype}: {dns.rcode.to_text(answer.rcode())}, "
                         f"flags {dns.flags.to_text(answer.flags)}")
    assert len(questions) > 100
    assert not wrong, "\n".join(wrong) + "\nUnbound's log:\n" + setup.resolver.log_tail(40)


def _plainly_positive(answer: dns.message.Message) -> bool:
    """NOERROR with records of the asked type (at the end of any CNAME chain), none of
    them signed as a wildcard's expansion (an RRSIG's labels fewer than its owner's)."""
    asked = answer.question[0].rdtype
    return answer.rcode() == dns.rcode.NOERROR and any(
        rrset.rdtype == asked for rrset in answer.answer) and all(
        rdata.labels >= len(rrset.name) - 1 for rrset in answer.answer
        if rrset.rdtype == dns.rdatatype.RRSIG for rdata in rrset)


def _verify_axfr(setup: Setup, origin: str, name: str) -> str:
    """The zone's AXFR, checked by dnssec-verify and by ldns-verify-zone (trusting the DS
    `dnsbackend ds` printed); its text."""
    text = axfr_text(setup.server(origin).port, origin)
    path = setup.root / name
    path.write_text(text)
    anchors = setup.root / f"{origin}ds"
    anchors.write_text("\n".join(setup.anchors[origin]) + "\n")
    for done in (dnssec_verify(path, origin), ldns_verify_zone(path, anchors)):
        assert done.returncode == 0, f"{done.args}: {done.stdout}{done.stderr}"
    return text


@pytest.mark.parametrize("zone", [z for z in [*BATTERY, *SWEPT] if z.signer == SERVER],
                         ids=lambda z: z.origin.rstrip("."))
def test_the_axfr_of_a_zone_the_server_signs_verifies(setup: Setup, zone: Signed) -> None:
    text = _verify_axfr(setup, zone.origin, f"{zone.origin}axfr")
    assert (" NSEC3 " in text) == (zone.denial == dnssec.NSEC3) and " RRSIG " in text
    assert f" DNSKEY 257 3 {ALGORITHMS[zone.denial][1]} " in text


def _rrsig_ttl(answer: dns.message.Message, rdtype: str) -> int:
    """The original TTL the answer's RRSIG over `rdtype` was made for."""
    for rrset in answer.answer:
        for rdata in rrset:
            if isinstance(rdata, dns.rdtypes.ANY.RRSIG.RRSIG) and \
                    rdata.type_covered == dns.rdatatype.from_text(rdtype):
                return int(rdata.original_ttl)
    raise AssertionError(f"no RRSIG over {rdtype}: {answer}")


# Edits of a signed zone, each on the text the one before left: (old, new) replacements
# (old "": appended), and what a validator must then make of some questions.
EDITS: list[tuple[list[tuple[str, str]], list[Case]]] = [
    ([("", "new A 192.0.2.77\n")], [Case("new", "A", answer=("new A 192.0.2.77",))]),
    ([('real.wild TXT "real"\n', "")],  # the wildcard answers for it now
     [Case("real.wild", "A", answer=("real.wild A 192.0.2.99",)), Case("real.wild", "TXT")]),
    ([("host A", "host 7200 A")], [Case("host", "A", answer=("host A 192.0.2.80",))]),
    ([("*.wild A 192.0.2.99\n", "")],
     [Case("any.wild", "A", "NXDOMAIN"), Case("towild", "A", "NXDOMAIN",
                                              answer=("towild CNAME x.wild",))]),
    ([("", "newsub NS ns.newsub\nns.newsub A 192.0.2.202\nc.a.b A 192.0.2.12\n")],
     [Case("newsub", "DS"), Case("c.a.b", "A", answer=("c.a.b A 192.0.2.12",)),
      Case("a.b", "A")]),
]


@pytest.mark.parametrize("denial", [dnssec.NSEC, dnssec.NSEC3])
def test_live_edits_of_a_signed_zone_validate_right_after_each(setup: Setup,
                                                               denial: str) -> None:
    """Added, removed (the wildcard then answers for it), a TTL raised, the wildcard
    removed, a delegation and a name below empty non-terminals added: once the server serves
    each new serial, Unbound (its cache of the zone flushed) validates the new data, and the
    AXFR verifies."""
    origin = LIVE[denial]
    srv = setup.server(origin)
    path = srv.zones / f"{origin}zone"
    text = zone_text([])
    for serial, (replacements, cases) in enumerate(EDITS, start=2):
        text = re.sub(r"hostmaster \d+ ", f"hostmaster {serial} ", text, count=1)
        for old, new in replacements:
            assert not old or old in text
            text = text.replace(old, new) if old else text + new
        write_atomically(str(path), text)
        srv.wait_until(origin, "SOA", lambda r, s=serial: bool(r.answer)  # type: ignore[misc]
                       and r.answer[0][0].serial == s)
        _verify_axfr(setup, origin, f"{origin}{serial}")
        checks = [*cases, Case("nothere", "A", "NXDOMAIN")]
        wrong = [said for case in checks
                 if (said := _verdict(setup.resolver, origin, case, secure=True))]
        assert not wrong, f"serial {serial}:\n" + "\n".join(wrong)
    setup.resolver.flush(origin)
    answer = setup.resolver.ask(f"host.{origin}", "A")
    assert _rrsig_ttl(answer, "A") == 7200, "signed again for its new TTL"
    ttl = answer.get_rrset(answer.answer, dns.name.from_text(f"host.{origin}"),
                           dns.rdataclass.IN, dns.rdatatype.A)
    assert ttl is not None and ttl.ttl > 3600, "a validator keeps the TTL the RRSIG was made for"


def _answered_if(wanted: bool) -> Callable[[dns.message.Message], bool]:
    """A wait_until predicate: the question has an answer, or has none."""
    return lambda response: bool(response.answer) == wanted


def test_a_denial_switched_in_the_settings_validates(setup: Setup) -> None:
    """The settings file says NSEC3, then NSEC again: once the zone is served so, with the
    other chain gone, every case of the battery validates and the AXFR verifies."""
    srv = setup.servers["switch"]
    cases = [c for c in CASES if not c.name.endswith(("secure", "insecure"))]
    cases += [Case("secure", "DS"), Case("insecure", "DS")]  # no DS here: both unsigned
    for denial in (dnssec.NSEC3, dnssec.NSEC):
        write_atomically(str(setup.root / "switch.toml"),
                         _settings_text(denial, ALGORITHMS[dnssec.NSEC][0], [SWITCHED]))
        srv.wait_until(SWITCHED, "NSEC3PARAM", _answered_if(denial == dnssec.NSEC3))
        axfr = _verify_axfr(setup, SWITCHED, f"{SWITCHED}{denial}")
        assert (" NSEC3 " in axfr, " NSEC " in axfr) == (denial == dnssec.NSEC3,
                                                        denial == dnssec.NSEC)
        wrong = [said for case in cases
                 if (said := _verdict(setup.resolver, SWITCHED, case, secure=True))]
        assert not wrong, f"{denial}:\n" + "\n".join(wrong)
