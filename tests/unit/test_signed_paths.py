"""The short ways of the DO=1 answer path (query.engine) against the full way: every answer
of a signed zone equals resolve() then encode() then stamp(), byte for byte (zones signed
by BIND's dnssec-signzone, through the real LMDB store)."""

from __future__ import annotations

import dns.message
import dns.name
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.query import edns
from dnsbackend.query.encode import encode
from dnsbackend.query.engine import answer, stamp
from dnsbackend.query.resolve import resolve, zone_for
from dnsbackend.store.snapshot import Snapshot
from dnsbackend.wire.codes import SERVFAIL
from dnsbackend.wire.message import Query, parse_fields
from testkit import dnssec
from testkit.store import store_with_zones

pytestmark = pytest.mark.skipif(dnssec.missing() is not None, reason=str(dnssec.missing()))

ORIGIN = "signed.test."
DENIALS = [dnssec.NSEC, dnssec.NSEC3, dnssec.NSEC3_OPTOUT]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "DNAME", "DS", "SRV", "RRSIG",
         "NSEC", "NSEC3", "DNSKEY", "NSEC3PARAM", "ANY", "CAA"]
EXTRA = ["nothing", "x.wild", "a.b.wild", "x.cname", "b.c", "a.b.c", "x.secure",
         "x.insecure", "x.old", "y.inzone", "zzz", "0", "a.host", "*.wild", "Host", "WWW"]


@pytest.fixture(scope="module", params=DENIALS)
def zone(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> tuple[Snapshot, list[str]]:
    """A snapshot of the cases zone signed with one kind of denial, and names to ask."""
    root = tmp_path_factory.mktemp(request.param)
    path = dnssec.sign(dnssec.CASES_ZONE, ORIGIN, root / "sign", request.param)
    (root / "s").mkdir()
    _, snapshot = store_with_zones(root / "s", {ORIGIN: path.read_text()})
    parsed = dns.zone.from_file(str(path), origin=ORIGIN, relativize=False)
    names = sorted({n.to_text() for n in parsed.nodes} | {f"{n}.{ORIGIN}" for n in EXTRA})
    return snapshot, names


def _full_way(snapshot: Snapshot, msg: bytes, tcp: bool) -> bytes:
    """The response as resolve(), encode() and stamp() give it, no cache or short way."""
    query = Query(*parse_fields(msg))
    zone = zone_for(snapshot, query.qname.lower(), query.qtype)
    assert zone is not None and zone.signed
    result = resolve(snapshot, zone, query.qname, query.qtype, tcp, dnssec=True)
    prepared = encode(query.qname, result, snapshot.txn_id if result.leaves_zones else -1)
    payload = snapshot.udp_payload
    limit = 65535 if tcp else max(512, min(query.payload, payload))
    # A SERVFAIL (an NSEC3 hash collision) says so in an EDE option.
    extra = edns.NSEC3_COLLISION if prepared[0] & 0xF == SERVFAIL else b""
    return stamp(msg, query, prepared, limit, payload, extra)


def _query(name: str, rdtype: str, payload: int) -> bytes:
    q = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=True, payload=payload)
    q.id = 7
    return q.to_wire()


@pytest.mark.parametrize("payload", [512, 1232, 4096])
def test_every_answer_is_the_full_ways(zone: tuple[Snapshot, list[str]],
                                        payload: int) -> None:
    snapshot, names = zone
    for tcp in (False, True):
        for name in names:
            for rdtype in TYPES:
                msg = _query(name, rdtype, payload)
                expected = _full_way(snapshot, msg, tcp)
                assert answer(msg, snapshot, tcp) == expected, (name, rdtype, tcp)
                assert answer(msg, snapshot, tcp) == expected, (name, rdtype, tcp, "kept")


_label = st.text("abcwxyz0*-", min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(_label, min_size=1, max_size=3), st.sampled_from(["h", "wild", "c", "b.c",
                                                                  "host", "secure"]),
       st.sampled_from(TYPES), st.booleans())
def test_random_names_are_answered_as_the_full_way(
        zone: tuple[Snapshot, list[str]], labels: list[str], under: str, rdtype: str,
        upper: bool) -> None:
    snapshot, _ = zone
    name = ".".join(labels) + f".{under}.{ORIGIN}"
    if upper:
        name = name.upper()
    msg = _query(name, rdtype, 1232)
    assert answer(msg, snapshot) == _full_way(snapshot, msg, False)
