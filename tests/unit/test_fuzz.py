"""Property tests: random and mutated messages never break the parser or the answer engine."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.query.engine import answer
from dnsbackend.store.database import Store
from dnsbackend.store.snapshot import Snapshot
from dnsbackend.wire.message import FormatError, parse_query, read_name
from testkit.zones import EXAMPLE_ZONE

from .test_answer import ZONES, build_snapshot

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

NAMES = ["example.com", "www.example.com", "chain1.example.com", "loop1.example.com",
         "x.wild.example.com", "ent.wild.example.com", "www.child.example.com",
         "a.old.example.com", "fat.example.com", "bigtxt.example.com", "mxmix.example.com",
         "nothing.example.com", "served.example.com", "host.example.net", "example.org", ".",
         "ns1.dev.example.com", "x.apps.example.com", "a.b.c.example.com"]
TYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 41, 43, 46, 0, 99, 251, 252, 255, 65535]


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    zones = dict(ZONES)
    zones["example.com."] = EXAMPLE_ZONE.read_text()
    # The project's own zone replaces the unit-test one; keep the unit-test one under its
    # own name so both sets of data are reachable.
    zones["unit.test."] = ZONES["example.com."].replace("example.com.", "unit.test.")
    store: Store
    store, snapshot = build_snapshot(tmp_path_factory.mktemp("fuzz"), zones)
    yield snapshot
    store.close()


def check_response(query: bytes, response: bytes | None) -> None:
    """A response is None or a message dnspython reads, with the query's ID and QR set."""
    if response is None:
        return
    if (response[2] >> 3) & 0xF == dns.opcode.UPDATE:
        # dnspython reads an UPDATE's question as RFC 2136's zone section and rejects one
        # that is not of type SOA: a fault of the echoed query, not of the response's wire
        # form, which is what is checked here. Read it as a QUERY's.
        response = response[:2] + bytes([response[2] & 0x87]) + response[3:]
    r = dns.message.from_wire(response)
    assert response[:2] == query[:2]
    assert r.flags & dns.flags.QR
    assert not r.flags & dns.flags.RA


queries = st.builds(
    lambda name, rdtype, edns, payload, do, rd, case: _query(name, rdtype, edns, payload, do,
                                                             rd, case),
    st.sampled_from(NAMES + [n.replace("example.com", "unit.test") for n in NAMES]),
    st.sampled_from(TYPES),
    st.sampled_from([-1, 0, 1]),
    st.integers(0, 65535),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)


def _query(name: str, rdtype: int, edns: int, payload: int, do: bool, rd: bool,
           case: int) -> bytes:
    spelled = "".join(c.upper() if case >> (i % 32) & 1 else c for i, c in enumerate(name))
    q = dns.message.make_query(spelled, dns.rdatatype.RdataType.make(rdtype), use_edns=edns,
                               payload=payload, want_dnssec=do)
    if not rd:
        q.flags &= ~dns.flags.RD
    return q.to_wire()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    msg = bytearray(draw(queries))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "append", "count"]))
        if kind == "flip" and msg:
            i = draw(st.integers(0, len(msg) - 1))
            msg[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and msg:
            i = draw(st.integers(0, len(msg) - 1))
            msg[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del msg[draw(st.integers(0, len(msg))):]
        elif kind == "insert":
            i = draw(st.integers(0, len(msg)))
            msg[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "append":
            msg += draw(st.binary(min_size=1, max_size=40))
        elif kind == "count" and len(msg) >= 12:
            i = draw(st.sampled_from([4, 6, 8, 10]))
            struct.pack_into("!H", msg, i, draw(st.integers(0, 65535)))
    return bytes(msg)


@FUZZ
@given(msg=st.binary(max_size=600), tcp=st.booleans())
def test_random_bytes(snap: Snapshot, msg: bytes, tcp: bool) -> None:
    check_response(msg, answer(msg, snap, tcp))


@FUZZ
@given(msg=st.binary(min_size=12, max_size=12).map(lambda h: h[:2] + b"\x00\x00\x00\x01" + h[6:])
       .flatmap(lambda h: st.binary(max_size=300).map(lambda b: h + b)), tcp=st.booleans())
def test_random_question(snap: Snapshot, msg: bytes, tcp: bool) -> None:
    check_response(msg, answer(msg, snap, tcp))


@FUZZ
@given(msg=mutated(), tcp=st.booleans())
def test_mutated_queries(snap: Snapshot, msg: bytes, tcp: bool) -> None:
    check_response(msg, answer(msg, snap, tcp))


@FUZZ
@given(msg=queries, tcp=st.booleans())
def test_valid_queries_always_answered(snap: Snapshot, msg: bytes, tcp: bool) -> None:
    response = answer(msg, snap, tcp)
    assert response is not None
    check_response(msg, response)
    q = dns.message.from_wire(msg)
    r = dns.message.from_wire(response)
    assert r.question[0].name.to_wire() == q.question[0].name.to_wire()  # same letter case
    assert r.question[0].rdtype == q.question[0].rdtype
    limit = max(512, min(q.payload, 1232)) if q.edns >= 0 else 512
    assert len(response) <= (65535 if tcp else limit)
    # Compressed: no longer than dnspython's (fully compressing) encoding of the same message.
    assert len(response) <= len(r.to_wire(max_size=65535))


@FUZZ
@given(msg=st.binary(max_size=300), offset=st.integers(0, 320))
def test_read_name_only_raises_format_error(msg: bytes, offset: int) -> None:
    try:
        name, end = read_name(msg, offset)
    except FormatError:
        return
    assert len(name) <= 255
    assert dns.name.from_wire(name, 0)[1] == len(name)  # an uncompressed, valid wire name
    assert offset < end <= len(msg)


@FUZZ
@given(msg=st.one_of(st.binary(min_size=12, max_size=400),
                     mutated().filter(lambda m: len(m) >= 12)))
def test_parse_query_only_raises_format_error(msg: bytes) -> None:
    try:
        query = parse_query(msg)
    except FormatError:
        return
    assert query.question_end <= len(msg)
    assert dns.name.from_wire(query.qname, 0)[1] == len(query.qname)
