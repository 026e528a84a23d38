"""Signed zones in the answer engine: the canonical order and covering NSEC the store gives,
and DO=0 answers of a signed zone the same as its unsigned source's (zones signed by BIND's
dnssec-signzone, through the real LMDB store)."""

from __future__ import annotations

import random
from typing import NamedTuple

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.query.engine import answer
from dnsbackend.store.format import chain_key
from dnsbackend.store.snapshot import Snapshot, ZoneView, canonical_key
from testkit import dnssec
from testkit.store import store_with_zones

pytestmark = pytest.mark.skipif(dnssec.missing() is not None, reason=str(dnssec.missing()))

# RFC 4034 section 6.1's example, in canonical order.
RFC4034_ORDER = ["example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
                 "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.",
                 "\\200.z.example."]


def _wire(name: dns.name.Name) -> bytes:
    """A name's lower-case wire form."""
    wire = name.to_wire()
    assert wire is not None
    return wire.lower()


def _key(text: str) -> tuple[bytes, ...]:
    return canonical_key(_wire(dns.name.from_text(text)))


def test_canonical_key_orders_as_rfc4034() -> None:
    shuffled = RFC4034_ORDER[:]
    random.Random(1).shuffle(shuffled)
    assert sorted(shuffled, key=_key) == RFC4034_ORDER


_labels = st.lists(st.binary(min_size=1, max_size=4), min_size=0, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(_labels, min_size=2, max_size=8))
def test_canonical_key_orders_as_dnspython(names: list[list[bytes]]) -> None:
    wire = [dns.name.Name([*labels, b""]) for labels in names]
    by_key = sorted(wire, key=lambda n: canonical_key(_wire(n)))
    # dnspython compares names in DNSSEC canonical order (case-insensitively)
    assert [canonical_key(_wire(n)) for n in by_key] == \
        [canonical_key(_wire(n)) for n in sorted(wire)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.binary(min_size=1, max_size=3).map(
    lambda b: bytes(x % 4 if i % 2 else x for i, x in enumerate(b))), max_size=4),
    min_size=2, max_size=8))
def test_chain_key_orders_as_canonical_key(names: list[list[bytes]]) -> None:
    # Labels full of octets 00 to 03, which the chain key escapes or sits next to.
    wire = [_wire(dns.name.Name([*labels, b""])) for labels in names]
    assert sorted(wire, key=lambda w: chain_key(b"o", w)) == sorted(wire, key=canonical_key)


class Signed(NamedTuple):
    snapshot: Snapshot  # the zone signed
    unsigned: Snapshot  # the same zone, not signed
    zone: dns.zone.Zone  # the signed zone as dnspython reads it


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    root = tmp_path_factory.mktemp("signed")
    path = dnssec.sign(dnssec.CASES_ZONE, "signed.test.", root / "sign")
    (root / "s").mkdir()
    plain = root / "p"
    plain.mkdir()
    _, snapshot = store_with_zones(root / "s", {"signed.test.": path.read_text()})
    _, unsigned = store_with_zones(plain, {"signed.test.": dnssec.CASES_ZONE})
    return Signed(snapshot, unsigned,
                  dns.zone.from_file(str(path), origin="signed.test.", relativize=False))


def _covering_by_brute_force(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name:
    """The NSEC owner whose span (owner up to its next name) holds the name."""
    nsecs = sorted(n for n, node in zone.nodes.items()
                   if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC))
    found = nsecs[-1]
    for owner in nsecs:
        if owner <= name:
            found = owner
    return found


_NAMES = ["signed.test.", "a.signed.test.", "zzz.signed.test.", "x.wild.signed.test.",
          "*.wild.signed.test.", "c.signed.test.", "b.c.signed.test.", "x.secure.signed.test.",
          "ns1.secure.signed.test.", "0.signed.test.", "host.signed.test.",
          "hostz.signed.test.", "a.host.signed.test.", "\\000.signed.test."]


def test_covering_nsec_is_the_span_holding_the_name(
        signed: Signed) -> None:
    snapshot, _, zone = signed
    view = snapshot.zones[b"\x06signed\x04test\x00"]
    names = {dns.name.from_text(n) for n in _NAMES} | set(zone.nodes)
    rng = random.Random(2)
    for owner in list(zone.nodes):
        names.add(dns.name.Name([bytes([rng.randrange(97, 123)]) * 3, *owner.labels]))
    for name in names:
        expected = _covering_by_brute_force(zone, name)
        got = view.covering_nsec(_wire(name))
        assert dns.name.from_wire(got, 0)[0] == expected, name


def _ask(snapshot: Snapshot, name: str, rdtype: str, do: bool) -> bytes:
    q = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=do)
    q.id = 1
    response = answer(q.to_wire(), snapshot)
    assert response is not None
    return response


QUERY_TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "DNAME", "DS", "SRV"]


def test_do_zero_answers_as_the_unsigned_zone(signed: Signed) -> None:
    snapshot, unsigned, zone = signed
    names = sorted({n.to_text() for n in zone.nodes} | set(_NAMES))
    for name in names:
        for rdtype in QUERY_TYPES:
            # The same messages, each RRset's records in any order (the signer sorts them).
            assert dns.message.from_wire(_ask(snapshot, name, rdtype, False)) == \
                dns.message.from_wire(_ask(unsigned, name, rdtype, False)), \
                (name, rdtype)


def test_do_one_in_an_unsigned_zone_changes_only_the_opt(
        signed: Signed) -> None:
    _, unsigned, zone = signed
    for name in sorted({n.to_text() for n in zone.nodes} | set(_NAMES)):
        for rdtype in QUERY_TYPES:
            with_do = _ask(unsigned, name, rdtype, True)
            assert dns.message.from_wire(with_do).ednsflags & dns.flags.DO
            # the OPT record ends the message: its flags' top bit, 4 octets from the end, is DO
            cleared = with_do[:-4] + bytes([with_do[-4] & 0x7F]) + with_do[-3:]
            assert cleared == _ask(unsigned, name, rdtype, False), (name, rdtype)


def test_signed_answer_sigs_have_the_rrset_ttl(signed: Signed) -> None:
    snapshot = signed.snapshot
    response = dns.message.from_wire(_ask(snapshot, "nothing.signed.test.", "A", True))
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert not response.flags & dns.flags.AD
    by_type = {(r.name, r.rdtype, r.covers): r.ttl for r in response.authority}
    soa = dns.name.from_text("signed.test.")
    assert by_type[(soa, dns.rdatatype.SOA, dns.rdatatype.NONE)] == 300  # RFC 2308
    assert by_type[(soa, dns.rdatatype.RRSIG, dns.rdatatype.SOA)] == 300
    nsecs = [r for r in response.authority if r.rdtype == dns.rdatatype.NSEC]
    assert len(nsecs) == 2  # the name's cover and the wildcard's
    for nsec in nsecs:
        assert by_type[(nsec.name, dns.rdatatype.RRSIG, dns.rdatatype.NSEC)] == nsec.ttl


@pytest.fixture(scope="module")
def nsec3_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Snapshot, dns.zone.Zone]:
    root = tmp_path_factory.mktemp("nsec3")
    path = dnssec.sign(dnssec.CASES_ZONE, "signed.test.", root / "sign", dnssec.NSEC3_OPTOUT)
    (root / "s").mkdir()
    _, snapshot = store_with_zones(root / "s", {"signed.test.": path.read_text()})
    return snapshot, dns.zone.from_file(str(path), origin="signed.test.", relativize=False)


def test_nsec3_match_and_cover_by_brute_force(
        nsec3_signed: tuple[Snapshot, dns.zone.Zone]) -> None:
    snapshot, zone = nsec3_signed
    view = snapshot.zones[b"\x06signed\x04test\x00"]
    assert view.nsec3
    chain = sorted(n.labels[0].lower() for n, node in zone.nodes.items()
                   if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3))
    names = {dns.name.from_text(n) for n in _NAMES} | set(zone.nodes)
    for name in names:
        label = dns.dnssec.nsec3_hash(name, None, 0, 1).lower().encode()
        assert view.nsec3_label(_wire(name)) == label
        match = view.nsec3_match(_wire(name))
        if label in chain:
            assert match is not None and match[1:1 + match[0]] == label
        else:
            assert match is None
            below = [h for h in chain if h < label]
            expected = below[-1] if below else chain[-1]  # the last covers the wrap
            cover = view.nsec3_cover(_wire(name))
            assert cover is not None and cover[1:1 + cover[0]] == expected, name


def test_nsec3_owner_names_are_not_names(nsec3_signed: tuple[Snapshot, dns.zone.Zone]) -> None:
    snapshot, zone = nsec3_signed
    hashed = [n for n, node in zone.nodes.items()
              if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)]
    for name in hashed[:5]:
        for do in (False, True):
            response = dns.message.from_wire(_ask(snapshot, name.to_text(), "NSEC3", do))
            assert response.rcode() == dns.rcode.NXDOMAIN


# Names of signed.test. the crafted NSEC3 records collide with: a name that does not exist
# (its NXDOMAIN needs its hash covered), one under the wildcard (the synthesized answer
# needs the next closer name's covered), the wildcard an NXDOMAIN below host would need
# covered.
_COLLIDING = ["collide.signed.test.", "zz.wild.signed.test.", "*.host.signed.test."]


@pytest.fixture(scope="module")
def collisions(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = tmp_path_factory.mktemp("collisions")
    path = dnssec.sign(dnssec.CASES_ZONE, "signed.test.", root / "sign", dnssec.NSEC3)
    text = dnssec.with_collisions(path.read_text(), "signed.test.", _COLLIDING)
    (root / "s").mkdir()
    _, snapshot = store_with_zones(root / "s", {"signed.test.": text})
    return snapshot


@pytest.mark.parametrize(("name", "rdtype"), [
    ("collide.signed.test.", "A"), ("a.b.collide.signed.test.", "TXT"),
    ("zz.wild.signed.test.", "A"), ("zz.wild.signed.test.", "TXT"),
    ("q.host.signed.test.", "A")])
def test_nsec3_hash_collision_is_servfail(collisions: Snapshot, name: str,
                                          rdtype: str) -> None:
    # RFC 5155 section 7.2.9: the proof would need the name's hash covered, and an NSEC3
    # record has that very hash. NSD answers SERVFAIL too (Knot also, for the wildcard).
    response = dns.message.from_wire(_ask(collisions, name, rdtype, True))
    assert response.rcode() == dns.rcode.SERVFAIL
    assert response.flags & dns.flags.AA
    # Why, as NSD 4.6 says it: EDE 0 (Other) with its text.
    assert [(o.code, o.text) for o in response.options if isinstance(o, dns.edns.EDEOption)
            ] == [(dns.edns.EDECode.OTHER, "NSEC3 hash collision")]
    assert response.answer == [] and response.authority == [] and response.additional == []
    # Without DO no proof is needed: the answer as ever.
    plain = dns.message.from_wire(_ask(collisions, name, rdtype, False))
    assert plain.rcode() != dns.rcode.SERVFAIL


@pytest.mark.parametrize(("name", "rcode"), [
    ("nothing.signed.test.", dns.rcode.NXDOMAIN), ("yy.wild.signed.test.", dns.rcode.NOERROR),
    ("q.mail.signed.test.", dns.rcode.NXDOMAIN), ("host.signed.test.", dns.rcode.NOERROR)])
def test_names_without_a_collision_are_proved(collisions: Snapshot, name: str,
                                              rcode: int) -> None:
    response = dns.message.from_wire(_ask(collisions, name, "A", True))
    assert response.rcode() == rcode
    assert response.authority or response.answer


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=4),
       st.binary(max_size=8), st.integers(0, 3))
def test_nsec3_label_is_rfc5155_hash(nsec3_signed: tuple[Snapshot, dns.zone.Zone],
                                     labels: list[bytes], salt: bytes, iterations: int) -> None:
    snapshot, _ = nsec3_signed
    shared = snapshot.zones[b"\x06signed\x04test\x00"]
    view = ZoneView(shared.env, shared.version, shared.meta)  # the fixture's stays as it is
    view.nsec3_salt, view.nsec3_iterations = salt, iterations
    name = dns.name.Name([*labels, *dns.name.from_text("signed.test.").labels])
    expected = dns.dnssec.nsec3_hash(name, salt.hex() or None, iterations, 1)
    assert view.nsec3_label(_wire(name)) == expected.lower().encode()


def _fresh(snapshot: Snapshot) -> Snapshot:
    """The same zone versions in new views: nothing found or kept yet."""
    zones = {o: ZoneView(v.env, v.version, v.meta) for o, v in snapshot.zones.items()}
    return Snapshot(snapshot.txn_id, zones, snapshot.udp_payload)


@pytest.mark.parametrize("which", ["nsec", "nsec3", "collisions"])
def test_proofs_kept_per_version_answer_as_found_afresh(
        which: str, signed: Signed, nsec3_signed: tuple[Snapshot, dns.zone.Zone],
        collisions: Snapshot) -> None:
    # What a zone version keeps for its proofs (the records of each owner, the match of
    # each name, the cover of each wildcard) gives the answers a view that kept nothing
    # gives, in whatever order the questions came.
    snapshot = {"nsec": signed.snapshot, "nsec3": nsec3_signed[0],
                "collisions": collisions}[which]
    zone = signed.zone
    names = {n.to_text() for n in zone.nodes} | set(_NAMES) | set(_COLLIDING)
    names |= {f"q{i}.{n}" for i, n in enumerate(sorted(names))}
    questions = [(n, t) for n in sorted(names) for t in QUERY_TYPES]
    random.Random(which).shuffle(questions)
    warm = _fresh(snapshot)
    for name, rdtype in questions:
        kept = _ask(warm, name, rdtype, True)
        assert kept == _ask(_fresh(snapshot), name, rdtype, True), (name, rdtype)
