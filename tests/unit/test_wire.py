"""The wire layer: name reading, query parsing, OPT records and the compressing Writer."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnsbackend.wire.codes import MX, NS, SOA, SRV
from dnsbackend.wire.compress import Compressor
from dnsbackend.wire.message import (
    FormatError,
    label_starts,
    opt_record,
    parse_query,
    question_type,
    read_name,
)


def wire_name(text: str) -> bytes:
    out = dns.name.from_text(text).to_wire()
    assert out is not None
    return out


def test_read_plain_name() -> None:
    msg = b"\x00" * 5 + wire_name("www.Example.com.")
    name, end = read_name(msg, 5)
    assert name == wire_name("www.Example.com.") and end == len(msg)


def test_read_compressed_name() -> None:
    first = wire_name("example.com.")
    msg = first + b"\x03www\xc0\x00"
    name, end = read_name(msg, len(first))
    assert name == wire_name("www.example.com.")
    assert end == len(msg)  # the offset after the pointer, not after the target


@pytest.mark.parametrize("msg", [
    b"\xc0\x00",  # points at itself
    b"\x01a\xc0\x00",  # a loop through a label
    b"\x03ab",  # label runs past the end
    b"\x01a",  # no terminating root label
    b"\xc0",  # half a pointer
    b"\x80abc",  # reserved label type
    b"\x40abc",  # extended label type
    b"\xc0\x10",  # pointer past the end
    b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63 + b"\x00",
])
def test_read_name_rejects(msg: bytes) -> None:
    with pytest.raises(FormatError):
        read_name(msg, 0)


def test_read_name_longest_allowed() -> None:
    msg = b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3d" + b"d" * 61 \
        + b"\x00"
    assert len(msg) == 255
    name, end = read_name(msg, 0)
    assert name == msg and end == 255


def test_parse_query_fields() -> None:
    q = dns.message.make_query("WWW.example.com", "MX", use_edns=0, payload=4000,
                               want_dnssec=True)
    q.flags |= dns.flags.CD
    wire = q.to_wire()
    parsed = parse_query(wire)
    assert parsed.id == q.id
    assert parsed.qname == wire_name("WWW.example.com.")
    assert parsed.qtype == MX and parsed.qclass == 1
    assert parsed.question_end == 12 + len(parsed.qname) + 4
    assert parsed.edns and parsed.payload == 4000 and parsed.do and parsed.edns_version == 0
    assert parsed.flags & 0x0010  # CD as received


def test_parse_query_without_edns() -> None:
    parsed = parse_query(dns.message.make_query("example.com", "A").to_wire())
    assert not parsed.edns and parsed.payload == 512 and not parsed.do


def test_small_edns_payload_counts_as_512() -> None:
    parsed = parse_query(dns.message.make_query("example.com", "A", use_edns=0,
                                                payload=100).to_wire())
    assert parsed.payload == 512


def test_edns_version_read() -> None:
    parsed = parse_query(dns.message.make_query("example.com", "A", use_edns=3).to_wire())
    assert parsed.edns and parsed.edns_version == 3


def _with_extra(q: dns.message.Message, section: int, record: bytes) -> bytes:
    wire = q.to_wire()
    counts = list(struct.unpack_from("!HHHH", wire, 4))
    counts[section] += 1
    return wire[:4] + struct.pack("!HHHH", *counts) + wire[12:] + record


def test_records_in_answer_and_authority_are_skipped() -> None:
    q = dns.message.make_query("example.com", "A")
    rr = wire_name("example.com.") + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"
    parsed = parse_query(_with_extra(q, 1, rr))
    assert parsed.qtype == 1 and not parsed.edns


def test_opt_not_at_root_is_rejected() -> None:
    q = dns.message.make_query("example.com", "A")
    opt = b"\x01a\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    with pytest.raises(FormatError):
        parse_query(_with_extra(q, 3, opt))


def test_second_opt_is_rejected() -> None:
    q = dns.message.make_query("example.com", "A", use_edns=0)
    with pytest.raises(FormatError):
        parse_query(_with_extra(q, 3, opt_record(1232, False)))


@pytest.mark.parametrize("cut", [1, 5, 11])
def test_truncated_additional_is_rejected(cut: int) -> None:
    wire = dns.message.make_query("example.com", "A", use_edns=0).to_wire()
    with pytest.raises(FormatError):
        parse_query(wire[:-cut])


def test_label_starts() -> None:
    assert label_starts(b"\x00") == [0]
    assert label_starts(wire_name("a.bc.")) == [0, 2, 5]


def test_opt_record_layout() -> None:
    opt = opt_record(1232, True, 1)
    name, rtype, payload, ext, version, flags, rdlen = struct.unpack("!BHHBBHH", opt)
    assert (name, rtype, payload, ext, version, rdlen) == (0, 41, 1232, 1, 0, 0)
    assert flags == 0x8000


def _message(qname: str, records: list[tuple[str, int, str]]) -> bytes:
    """Header + question + records from the Writer, for dnspython to read back."""
    qwire = wire_name(qname)
    w = Compressor(qwire)
    for owner, rtype, text in records:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), text)
        rdata_wire = rdata.to_wire()
        assert rdata_wire is not None
        w.rr(wire_name(owner), rtype, 300, rdata_wire)
    header = struct.pack("!HHHHHH", 1, 0x8400, 1, len(records), 0, 0)
    return header + qwire + struct.pack("!HH", 1, 1) + bytes(w.buf)


def test_writer_compresses_against_question_and_earlier_names() -> None:
    records = [("Example.com.", NS, "ns1.example.com."), ("example.com.", NS, "ns2.EXAMPLE.com."),
               ("example.com.", MX, "10 mail.example.com."),
               ("example.com.", SOA, "ns1.example.com. host.example.com. 1 2 3 4 5")]
    msg = _message("example.com.", records)
    r = dns.message.from_wire(msg)
    got = sorted(rr.to_text().lower() for rrset in r.answer for rr in rrset)
    assert got == sorted(t.lower() for _, _, t in records)
    # example.com appears once uncompressed (the question); every later use is a pointer.
    assert msg.count(b"\x07example\x03com\x00") == 1
    assert msg.count(b"\x03ns1") == 1


def test_writer_keeps_letter_case_of_new_labels() -> None:
    msg = _message("example.com.", [("example.com.", NS, "NS1.example.com.")])
    r = dns.message.from_wire(msg)
    assert r.answer[0][0].target.to_text() == "NS1.example.com."


def test_writer_does_not_compress_srv_target() -> None:
    msg = _message("sip.example.com.", [("sip.example.com.", SRV, "0 5 5060 sip.example.com.")])
    # RFC 2782: the SRV target is never compressed, so the full name appears twice.
    assert msg.count(wire_name("sip.example.com.")) == 2
    r = dns.message.from_wire(msg)
    assert r.answer[0][0].target.to_text() == "sip.example.com."


@given(st.binary(min_size=12, max_size=80), st.sampled_from(["www.example.com.", "a.", "."]),
       st.integers(0, 65535))
def test_question_type_agrees_with_the_parser(noise: bytes, name: str, qtype: int) -> None:
    """The cheap QTYPE look-up gives what the full parser gives, for queries and garbage."""
    rdtype = dns.rdatatype.RdataType.make(qtype if qtype != 41 else 1)  # not OPT
    query = dns.message.make_query(name, rdtype).to_wire()
    for msg in (query, noise, query[:len(query) - 1]):
        try:
            expected = parse_query(msg).qtype
        except (FormatError, struct.error):
            continue
        assert question_type(msg) == expected
