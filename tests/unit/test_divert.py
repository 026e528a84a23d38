"""The queries the fast path passes on, without sockets: unusual() against the full parsers
(a property test: a query it lets through is never signed nor an IXFR), TSIG-signed queries
answered signed (serve.divert.Diverted, checked by dnspython), the room kept for the TSIG RR,
IXFR over UDP (TransferService.over_udp), and the time check that is TSIG's replay guard."""

from __future__ import annotations

import contextlib
import struct
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.query.responder import DIVERT, Responder, respond, unusual
from dnsbackend.serve.divert import Diverted
from dnsbackend.store.database import open_shared
from dnsbackend.store.snapshot import Reader
from dnsbackend.transfer.service import TransferService
from dnsbackend.transfer.tsig import find_tsig
from dnsbackend.wire.message import FormatError, question_type

from .test_tsig import ORIGIN, _config, _served, ring, signed_at

# Now (dnspython checks the answers' Time Signed against its own clock), given to the code;
# taken again before each test (_now): taken once, at import, it is more than TSIG's 300 s
# fudge old by the time a long test run reaches these tests.
NOW = float(int(time.time()))
OTHER_IP = bytes([192, 0, 2, 1])  # not in the ACL
LOOPBACK = bytes([127, 0, 0, 1])

TYPES = ["A", "AAAA", "TXT", "SOA", "IXFR", "AXFR", "NS", "MX"]


@pytest.fixture(autouse=True)
def _now() -> None:
    global NOW
    NOW = float(int(time.time()))


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    """Queries of every shape a client sends: EDNS or not, signed or not, an SOA in the
    authority section (IXFR) or answer section (NOTIFY), sometimes cut short."""
    rdtype = draw(st.sampled_from(TYPES))
    q = dns.message.make_query(draw(st.sampled_from([ORIGIN, "www." + ORIGIN, "x.test."])),
                               rdtype, use_edns=draw(st.sampled_from([None, 0])))
    if draw(st.booleans()):
        soa = dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", "a. b. 1 1 1 1 1")
        (q.authority if draw(st.booleans()) else q.answer).append(soa)
    if draw(st.booleans()):
        q.use_tsig(ring(), keyname="xfr.")
    wire = q.to_wire()
    cut = draw(st.integers(0, 3))
    return wire[:len(wire) - cut] if cut else wire


@settings(max_examples=300, deadline=None)
@given(queries())
def test_what_unusual_lets_through_is_neither_signed_nor_an_ixfr(wire: bytes) -> None:
    if unusual(wire):
        return
    assert question_type(wire) != dns.rdatatype.IXFR
    with contextlib.suppress(FormatError):  # one the full parser cannot read: FORMERR
        assert find_tsig(wire) is None


def _diverted(tmp_path: Path, config: str, padding: int = 10) -> tuple[Diverted, Reader]:
    _served(tmp_path, config, padding=padding)
    reader = Reader(open_shared(str(tmp_path / "db")))
    responder = Responder(reader)
    return Diverted(responder, TransferService(reader, clock=lambda: NOW), clock=lambda: NOW), \
        reader


def _key() -> dns.tsig.Key:
    return ring()[dns.name.from_text("xfr.")]


@pytest.mark.parametrize("tcp", [False, True])
def test_a_signed_query_is_diverted_and_answered_signed(tmp_path: Path, tcp: bool) -> None:
    diverted, reader = _diverted(tmp_path, _config("hmac-sha256"))
    q = dns.message.make_query("www." + ORIGIN, "A", use_edns=0)
    wire = signed_at(q, _key(), int(NOW))
    assert respond(wire, reader.snapshot(), tcp, None) == DIVERT
    reply = diverted.answer(wire, OTHER_IP, tcp)
    assert reply is not None
    request = dns.message.from_wire(wire, keyring=ring())
    r = dns.message.from_wire(reply, keyring=ring(), request_mac=request.mac)
    assert r.had_tsig and r.rcode() == dns.rcode.NOERROR and r.answer and r.edns == 0
    # The unsigned twin: the same records.
    plain = respond(q.to_wire(), reader.snapshot(), tcp, None)
    assert plain is not None and plain != DIVERT
    assert sorted(map(str, dns.message.from_wire(plain).answer)) == sorted(map(str, r.answer))


def test_room_is_kept_for_the_tsig_rr(tmp_path: Path) -> None:
    """An answer that fits 512 bytes unsigned but not with the TSIG RR: cut (optional
    records dropped, or TC), never over 512 bytes signed."""
    diverted, reader = _diverted(tmp_path, _config("hmac-sha512"), padding=0)
    for rdtype in ("NS", "MX", "TXT", "SOA", "A"):
        q = dns.message.make_query(ORIGIN, rdtype)
        wire = signed_at(q, ring("hmac-sha512")[dns.name.from_text("xfr.")], int(NOW))
        reply = diverted.answer(wire, OTHER_IP, False)
        assert reply is not None and len(reply) <= 512
        found = find_tsig(reply)
        assert found is not None and found.rdata.error == 0


def test_badtime_is_the_replay_guard_and_inside_the_fudge_is_answered(tmp_path: Path) -> None:
    """A captured signed query replayed later than the fudge (300 s) is BADTIME; replayed
    within it, it gets the same answer again (as from BIND, Knot and NSD: see
    docs/ARCHITECTURE.md on TSIG replays)."""
    diverted, _ = _diverted(tmp_path, _config("hmac-sha256"))
    wire = signed_at(dns.message.make_query("www." + ORIGIN, "A"), _key(), int(NOW) - 301)
    reply = diverted.answer(wire, OTHER_IP, False)
    assert reply is not None
    found = find_tsig(reply)
    assert found is not None and found.rdata.error == dns.rcode.BADTIME
    assert int.from_bytes(found.rdata.other, "big") == int(NOW)
    again = signed_at(dns.message.make_query("www." + ORIGIN, "A"), _key(), int(NOW) - 299)
    first, second = (diverted.answer(again, OTHER_IP, False) for _ in range(2))
    assert first is not None and first == second  # a retransmission is answered alike
    assert struct.unpack_from("!H", first, 2)[0] & 0xF == dns.rcode.NOERROR


def test_an_unsigned_unusual_query_is_answered_as_answer_would(tmp_path: Path) -> None:
    diverted, reader = _diverted(tmp_path, _config("hmac-sha256"))
    q = dns.message.make_query("www." + ORIGIN, "A")
    q.answer.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", "a. b. 1 1 1 1 1"))
    wire = q.to_wire()
    assert respond(wire, reader.snapshot(), False, None) == DIVERT
    reply = diverted.answer(wire, OTHER_IP, False)
    assert reply is not None and not dns.message.from_wire(reply).had_tsig


def test_a_signed_ixfr_over_udp_is_signed_and_cut_to_the_soa_with_tc(tmp_path: Path) -> None:
    diverted, _ = _diverted(tmp_path, _config("hmac-sha256"), padding=200)
    q = dns.message.make_query(ORIGIN, "IXFR")
    q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", "a. b. 0 1 1 1 1"))
    wire = signed_at(q, _key(), int(NOW))
    reply = diverted.answer(wire, LOOPBACK, False)
    assert reply is not None and len(reply) <= 512
    request = dns.message.from_wire(wire, keyring=ring())
    r = dns.message.from_wire(reply, keyring=ring(), request_mac=request.mac)
    assert r.had_tsig and r.flags & dns.flags.TC and len(r.answer) == 1
    assert r.answer[0].rdtype == dns.rdatatype.SOA
    # From another address: refused, and signed (the key verified).
    other = diverted.answer(wire, OTHER_IP, False)
    assert other is not None
    r = dns.message.from_wire(other, keyring=ring(), request_mac=request.mac)
    assert r.rcode() == dns.rcode.REFUSED and r.had_tsig


def test_a_signed_query_with_a_cookie_gets_both(tmp_path: Path) -> None:
    """The divert knows the client, so a signed query with a client COOKIE (RFC 7873) gets
    the server cookie in its signed answer, as an unsigned one would."""
    diverted, _ = _diverted(tmp_path, _config("hmac-sha256"))
    cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, bytes(range(8)))
    q = dns.message.make_query("www." + ORIGIN, "A", use_edns=0, options=[cookie])
    wire = signed_at(q, _key(), int(NOW))
    reply = diverted.answer(wire, OTHER_IP, False)
    assert reply is not None
    request = dns.message.from_wire(wire, keyring=ring())
    r = dns.message.from_wire(reply, keyring=ring(), request_mac=request.mac)
    assert r.had_tsig and r.rcode() == dns.rcode.NOERROR and r.answer
    cookies = [o for o in r.options if o.otype == dns.edns.OptionType.COOKIE]
    assert cookies and cookies[0].to_wire()[:8] == bytes(range(8))  # ours after theirs
