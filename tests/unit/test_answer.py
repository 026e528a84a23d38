"""The answer engine without sockets: zone text through the real LMDB store to answer() bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict, Unpack

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dnsbackend.query.engine import AnswerOptions, answer
from dnsbackend.store.snapshot import Reader, Snapshot
from testkit.store import load_zone, store_with_zones

FAT_ADDRESSES = 40  # A records at fat.example.com: more than fits in 512 bytes
MIX_HOSTS = 8  # MX targets of mxmix.example.com, each with one address
PADDED = "host-with-a-long-name-for-padding"

EXAMPLE_COM = """\
$ORIGIN example.com.
$TTL 3600
@        7200 IN SOA ns1 hostmaster 2026010101 7200 900 1209600 300
@        NS    ns1
@        NS    ns2.example.com.
@        NS    ns.example.org.
@        MX    10 mail
@        MX    20 mail.example.org.
@        A     192.0.2.1
@        TXT   "apex"
ns1      A     192.0.2.53
ns1      AAAA  2001:db8::53
ns2      A     192.0.2.54
mail     A     192.0.2.25
mail     AAAA  2001:db8::25
www      CNAME host
host     A     192.0.2.80
chain1   CNAME chain2
chain2   CNAME www
loop1    CNAME loop2
loop2    CNAME loop1
self     CNAME self
dangling CNAME nothing
out      CNAME www.example.org.
tonet    CNAME host.example.net.
todeleg  CNAME www.child
_sip._tcp SRV  0 5 5060 sip
sip      A     192.0.2.60
sip      AAAA  2001:db8::60
*.wild   A     192.0.2.99
*.wild   MX    10 mail
existing.wild TXT "real"
x.ent.wild TXT "below an empty non-terminal"
*.cname  CNAME host
a*.star  TXT   "asterisk inside a label is literal"
deep.a.b.c TXT "deep"
child    NS    ns1.child
child    NS    ns.example.org.
child    DS    12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E
ns1.child A    192.0.2.200
ns1.child AAAA 2001:db8::200
nods     NS    ns1.nods
ns1.nods A     192.0.2.201
served   NS    ns1.example.com.
served   DS    54321 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E
old      DNAME example.net.
old2     DNAME old
grow     DNAME a-much-longer-target-name-for-testing.example.net.
fatmx    MX    10 fat
*.fatwild TXT "one of many"
""" + "".join(f"mxmix MX {i} {PADDED}-{i}\n{PADDED}-{i} A 192.0.2.{100 + i}\n"
              for i in range(1, MIX_HOSTS + 1)) + "".join(
    f"fat A 198.51.100.{i}\n" for i in range(1, FAT_ADDRESSES + 1)) + "".join(
    f'bigtxt TXT "{i:02d} {"x" * 90}"\n' for i in range(20)) + "".join(
    f'*.fatwild TXT "{i:02d} {"y" * 200}"\n' for i in range(30))

EXAMPLE_NET = """\
$ORIGIN example.net.
$TTL 600
@    IN SOA ns1.example.com. hostmaster.example.com. 7 7200 900 1209600 60
@    NS    ns1.example.com.
host A     192.0.2.77
www  A     192.0.2.78
"""

SERVED_EXAMPLE_COM = """\
$ORIGIN served.example.com.
$TTL 600
@    IN SOA ns1.example.com. hostmaster.example.com. 3 7200 900 1209600 60
@    NS    ns1.example.com.
@    A     192.0.2.150
"""

ZONES = {"example.com.": EXAMPLE_COM, "example.net.": EXAMPLE_NET,
         "served.example.com.": SERVED_EXAMPLE_COM}


build_snapshot = store_with_zones


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    store, snapshot = build_snapshot(tmp_path_factory.mktemp("answer"), ZONES)
    yield snapshot
    store.close()


def make_query(name: str, rdtype: str | int = "A", *, rd: bool = False, edns: int = -1,
               payload: int = 1232, do: bool = False, rdclass: str = "IN") -> dns.message.Message:
    q = dns.message.make_query(name, dns.rdatatype.RdataType.make(rdtype), rdclass,
                               use_edns=edns, payload=payload, want_dnssec=do)
    if not rd:
        q.flags &= ~dns.flags.RD
    return q


class QueryOptions(TypedDict, total=False):
    """make_query()'s keyword arguments."""

    rd: bool
    edns: int
    payload: int
    do: bool
    rdclass: str


def ask(snap: Snapshot, name: str, rdtype: str | int = "A", *, tcp: bool = False,
        **kwargs: Unpack[QueryOptions]) -> dns.message.Message:
    q = make_query(name, rdtype, **kwargs)
    wire = answer(q.to_wire(), snap, tcp)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    assert r.flags & dns.flags.QR
    assert not r.flags & dns.flags.RA
    return r


def texts(section: list[dns.rrset.RRset]) -> set[str]:
    """Every record of a section as one line of text, names lower-cased."""
    out = set()
    for rrset in section:
        for line in rrset.to_text().splitlines():
            owner, rest = line.split(" ", 1)
            out.add(f"{owner.lower()} {rest}")
    return out


def types_of(section: list[dns.rrset.RRset]) -> list[tuple[str, str]]:
    return [(r.name.to_text().lower(), dns.rdatatype.to_text(r.rdtype)) for r in section]


def rcode(r: dns.message.Message) -> str:
    return dns.rcode.to_text(r.rcode())


def aa(r: dns.message.Message) -> bool:
    return bool(r.flags & dns.flags.AA)


# ---------------------------------------------------------------------------------------
# Header flags and the question


def test_authoritative_answer_sets_aa(snap: Snapshot) -> None:
    r = ask(snap, "host.example.com", "A")
    assert rcode(r) == "NOERROR" and aa(r)
    assert texts(r.answer) == {"host.example.com. 3600 IN A 192.0.2.80"}


@pytest.mark.parametrize("rd", [False, True])
def test_rd_copied_and_ra_never_set(snap: Snapshot, rd: bool) -> None:
    r = ask(snap, "host.example.com", "A", rd=rd)
    assert bool(r.flags & dns.flags.RD) == rd
    assert not r.flags & dns.flags.RA
    r = ask(snap, "nowhere.test", "A", rd=rd)  # REFUSED keeps RD too
    assert bool(r.flags & dns.flags.RD) == rd


def test_question_echoed_in_client_case_and_matched_case_insensitively(snap: Snapshot) -> None:
    q = make_query("HoSt.ExAmPlE.CoM", "A")
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None
    # The question bytes come back exactly as sent.
    assert wire[12 : 12 + len(q.question[0].name.to_wire() or b"") + 4] == \
        q.to_wire()[12 : 12 + len(q.question[0].name.to_wire() or b"") + 4]
    r = dns.message.from_wire(wire)
    assert str(r.question[0].name) == "HoSt.ExAmPlE.CoM."
    assert texts(r.answer) == {"host.example.com. 3600 IN A 192.0.2.80"}
    # A different spelling of the same name is answered with its own spelling (not a cached one).
    r2 = ask(snap, "HOST.example.COM", "A")
    assert str(r2.question[0].name) == "HOST.example.COM."
    assert texts(r2.answer) == texts(r.answer)


def test_qr_set_queries_are_dropped(snap: Snapshot) -> None:
    q = make_query("host.example.com")
    q.flags |= dns.flags.QR
    assert answer(q.to_wire(), snap, False) is None


def test_short_message_dropped(snap: Snapshot) -> None:
    assert answer(b"\x12\x34\x00", snap, False) is None


@pytest.mark.parametrize("opcode", [dns.opcode.UPDATE, dns.opcode.STATUS, dns.opcode.IQUERY,
                                    3, 15])
def test_opcodes_other_than_query_and_notify_get_notimp(snap: Snapshot, opcode: int) -> None:
    q = make_query("example.com", "SOA")
    q.set_opcode(dns.opcode.Opcode.make(opcode))
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.NOTIMP
    assert r.opcode() == opcode and r.id == q.id
    assert not r.answer


def test_notimp_keeps_edns(snap: Snapshot) -> None:
    q = make_query("example.com", "SOA", edns=0)
    q.set_opcode(dns.opcode.UPDATE)
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.NOTIMP and r.edns == 0 and r.payload == 1232


@pytest.mark.parametrize("zone", ["example.com", "www.example.com", "not-served.test"])
@pytest.mark.parametrize("edns", [-1, 0])
def test_notify_is_refused_as_a_primary_only_server_refuses_it(snap: Snapshot, zone: str,
                                                               edns: int) -> None:
    """We are a primary only: NOTIFY is REFUSED whatever the zone (NSD 4.6 refuses it for
    a zone it serves without a primary; Knot says NOTAUTH), question and OPT echoed."""
    q = make_query(zone, "SOA", edns=edns)
    q.set_opcode(dns.opcode.NOTIFY)
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.REFUSED and r.opcode() == dns.opcode.NOTIFY
    assert r.id == q.id and r.question == q.question and r.edns == edns and not r.answer


@pytest.mark.parametrize("qdcount", [0, 2])
def test_qdcount_not_one_is_formerr(snap: Snapshot, qdcount: int) -> None:
    q = make_query("example.com", "SOA")
    body = q.to_wire()
    question = body[12:]
    msg = body[:4] + struct.pack("!HHHH", qdcount, 0, 0, 0) + question * qdcount
    wire = answer(msg, snap, False)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.FORMERR and r.id == q.id
    assert not r.answer


@pytest.mark.parametrize("tail", [
    b"\x07example\x03com",  # name without its root label
    b"\x07example\x03com\x00\x00",  # type cut short
    b"\x07example\x03com\x00\x00\x01\x00",  # class cut short
    b"\x47example\x03com\x00\x00\x01\x00\x01",  # label type 01 (reserved)
    b"\xc0\x0c\x00\x01\x00\x01",  # compression pointer in the question
    b"\x07example\x03com\x00\x00\x01\x00\x01\x00",  # trailing byte
    b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63
    + b"\x00\x00\x01\x00\x01",  # 257-byte name
])
def test_malformed_question_is_formerr(snap: Snapshot, tail: bytes) -> None:
    msg = struct.pack("!HHHHHH", 0xBEEF, 0, 1, 0, 0, 0) + tail
    wire = answer(msg, snap, False)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.FORMERR and r.id == 0xBEEF


@pytest.mark.parametrize("rdclass", ["CH", "HS", "NONE", "ANY"])
def test_class_other_than_in_is_refused(snap: Snapshot, rdclass: str) -> None:
    r = ask(snap, "example.com", "SOA", rdclass=rdclass)
    assert rcode(r) == "REFUSED" and not r.answer
    assert dns.rdataclass.to_text(r.question[0].rdclass) == rdclass


def test_name_in_no_served_zone_is_refused(snap: Snapshot) -> None:
    for name in ("example.org", "www.example.org", "com", "."):
        r = ask(snap, name, "A")
        assert rcode(r) == "REFUSED", name
        assert not r.answer and not r.authority and not aa(r)
        assert str(r.question[0].name) == dns.name.from_text(name).to_text()


# ---------------------------------------------------------------------------------------
# CNAME and DNAME


def test_cname_chain_followed_inside_zone(snap: Snapshot) -> None:
    r = ask(snap, "chain1.example.com", "A")
    assert rcode(r) == "NOERROR" and aa(r)
    assert texts(r.answer) == {
        "chain1.example.com. 3600 IN CNAME chain2.example.com.",
        "chain2.example.com. 3600 IN CNAME www.example.com.",
        "www.example.com. 3600 IN CNAME host.example.com.",
        "host.example.com. 3600 IN A 192.0.2.80",
    }
    # The chain comes in order, each CNAME before the records it points to.
    assert [n for n, _ in types_of(r.answer)] == [
        "chain1.example.com.", "chain2.example.com.", "www.example.com.", "host.example.com."]


def test_cname_query_for_cname_type_is_not_followed(snap: Snapshot) -> None:
    r = ask(snap, "www.example.com", "CNAME")
    assert texts(r.answer) == {"www.example.com. 3600 IN CNAME host.example.com."}


@pytest.mark.parametrize("rdtype", ["NSEC", "RRSIG", "KEY"])
def test_types_that_live_beside_a_cname_are_not_followed(snap: Snapshot, rdtype: str) -> None:
    # RFC 4035 section 2.5: a CNAME owner has NSEC and RRSIG of its own; asked for them
    # (or RFC 2535's KEY), it answers them or NODATA, as BIND and Knot do.
    r = ask(snap, "chain1.example.com", rdtype)
    assert rcode(r) == "NOERROR" and r.answer == []
    assert types_of(r.authority) == [("example.com.", "SOA")]


@pytest.mark.parametrize("name", ["loop1.example.com", "self.example.com"])
def test_cname_loop_ends(snap: Snapshot, name: str) -> None:
    r = ask(snap, name, "A")
    assert rcode(r) == "NOERROR"
    owners = [n for n, _ in types_of(r.answer)]
    assert len(owners) == len(set(owners)) <= 2
    assert all(t == "CNAME" for _, t in types_of(r.answer))


def test_cname_to_missing_name_is_nxdomain_with_chain(snap: Snapshot) -> None:
    r = ask(snap, "dangling.example.com", "A")
    assert rcode(r) == "NXDOMAIN" and aa(r)
    assert texts(r.answer) == {"dangling.example.com. 3600 IN CNAME nothing.example.com."}
    assert types_of(r.authority) == [("example.com.", "SOA")]


def test_cname_leaving_served_zones_stops(snap: Snapshot) -> None:
    r = ask(snap, "out.example.com", "A")
    assert rcode(r) == "NOERROR" and aa(r)
    assert texts(r.answer) == {"out.example.com. 3600 IN CNAME www.example.org."}
    assert not r.authority


def test_cname_into_another_served_zone_is_followed(snap: Snapshot) -> None:
    r = ask(snap, "tonet.example.com", "A")
    assert rcode(r) == "NOERROR" and aa(r)
    assert texts(r.answer) == {
        "tonet.example.com. 3600 IN CNAME host.example.net.",
        "host.example.net. 600 IN A 192.0.2.77",
    }


def test_cname_into_delegation_gives_chain_and_referral(snap: Snapshot) -> None:
    r = ask(snap, "todeleg.example.com", "A")
    assert rcode(r) == "NOERROR"
    assert texts(r.answer) == {"todeleg.example.com. 3600 IN CNAME www.child.example.com."}
    assert types_of(r.authority) == [("child.example.com.", "NS")]


def test_dname_synthesizes_cname(snap: Snapshot) -> None:
    r = ask(snap, "Host.OLD.example.com", "A")
    assert rcode(r) == "NOERROR" and aa(r)
    assert texts(r.answer) == {
        "old.example.com. 3600 IN DNAME example.net.",
        "host.old.example.com. 3600 IN CNAME host.example.net.",
        "host.example.net. 600 IN A 192.0.2.77",
    }
    assert types_of(r.answer)[0] == ("old.example.com.", "DNAME")
    # The synthesized CNAME's owner is the query name as the client spelled it.
    assert str(r.answer[1].name) == "Host.OLD.example.com."


def test_dname_target_does_not_depend_on_an_earlier_spelling(snap: Snapshot) -> None:
    # The first spelling asked must not leak into the (cached) answer for a later one.
    first = ask(snap, "CaSe.old.example.com", "TXT")
    second = ask(snap, "case.OLD.example.com", "TXT")
    assert str(first.answer[1][0].target) == "case.example.net."
    assert str(second.answer[1][0].target) == "case.example.net."
    assert str(second.answer[1].name) == "case.OLD.example.com."


def test_dname_owner_itself_is_not_redirected(snap: Snapshot) -> None:
    r = ask(snap, "old.example.com", "A")
    assert rcode(r) == "NOERROR" and not r.answer
    assert types_of(r.authority) == [("example.com.", "SOA")]
    r = ask(snap, "old.example.com", "DNAME")
    assert texts(r.answer) == {"old.example.com. 3600 IN DNAME example.net."}


def test_dname_to_missing_name_is_nxdomain(snap: Snapshot) -> None:
    r = ask(snap, "missing.old.example.com", "A")
    assert rcode(r) == "NXDOMAIN"
    assert types_of(r.answer) == [("old.example.com.", "DNAME"),
                                  ("missing.old.example.com.", "CNAME")]
    assert types_of(r.authority) == [("example.net.", "SOA")]


def test_dname_chain(snap: Snapshot) -> None:
    r = ask(snap, "www.old2.example.com", "A")
    assert rcode(r) == "NOERROR"
    assert texts(r.answer) == {
        "old2.example.com. 3600 IN DNAME old.example.com.",
        "www.old2.example.com. 3600 IN CNAME www.old.example.com.",
        "old.example.com. 3600 IN DNAME example.net.",
        "www.old.example.com. 3600 IN CNAME www.example.net.",
        "www.example.net. 600 IN A 192.0.2.78",
    }


def test_dname_synthesis_too_long_is_yxdomain(snap: Snapshot) -> None:
    # grow.example.com. -> a longer target: 213 bytes of prefix then make more than 255.
    name = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "x" * 20 + ".grow.example.com."
    assert len(dns.name.from_text(name).to_wire() or b"") <= 255
    r = ask(snap, name, "A")
    assert rcode(r) == "YXDOMAIN" and aa(r)
    assert types_of(r.answer) == [("grow.example.com.", "DNAME")]


# ---------------------------------------------------------------------------------------
# Wildcards (RFC 4592)


def test_wildcard_synthesizes_with_query_name(snap: Snapshot) -> None:
    r = ask(snap, "Anything.wild.example.com", "A")
    assert rcode(r) == "NOERROR" and aa(r)
    assert texts(r.answer) == {"anything.wild.example.com. 3600 IN A 192.0.2.99"}
    assert str(r.answer[0].name) == "Anything.wild.example.com."


def test_wildcard_covers_deeper_names(snap: Snapshot) -> None:
    r = ask(snap, "a.b.c.wild.example.com", "A")
    assert texts(r.answer) == {"a.b.c.wild.example.com. 3600 IN A 192.0.2.99"}


def test_wildcard_nodata(snap: Snapshot) -> None:
    r = ask(snap, "any.wild.example.com", "AAAA")
    assert rcode(r) == "NOERROR" and not r.answer
    assert types_of(r.authority) == [("example.com.", "SOA")]


def test_wildcard_mx_gets_additional(snap: Snapshot) -> None:
    r = ask(snap, "any.wild.example.com", "MX")
    assert texts(r.answer) == {"any.wild.example.com. 3600 IN MX 10 mail.example.com."}
    assert texts(r.additional) == {"mail.example.com. 3600 IN A 192.0.2.25",
                                   "mail.example.com. 3600 IN AAAA 2001:db8::25"}


def test_existing_name_blocks_wildcard(snap: Snapshot) -> None:
    r = ask(snap, "existing.wild.example.com", "A")
    assert rcode(r) == "NOERROR" and not r.answer
    assert types_of(r.authority) == [("example.com.", "SOA")]


def test_empty_non_terminal_blocks_wildcard(snap: Snapshot) -> None:
    r = ask(snap, "ent.wild.example.com", "A")
    assert rcode(r) == "NOERROR" and not r.answer
    # Below the empty non-terminal the closest encloser is ent.wild, which has no wildcard.
    r = ask(snap, "other.ent.wild.example.com", "A")
    assert rcode(r) == "NXDOMAIN" and not r.answer


def test_wildcard_name_itself(snap: Snapshot) -> None:
    r = ask(snap, "*.wild.example.com", "A")
    assert texts(r.answer) == {"*.wild.example.com. 3600 IN A 192.0.2.99"}
    # A name below the wildcard owner: closest encloser is *.wild, with no *.*.wild.
    r = ask(snap, "x.*.wild.example.com", "A")
    assert rcode(r) == "NXDOMAIN"


def test_asterisk_inside_label_is_not_a_wildcard(snap: Snapshot) -> None:
    r = ask(snap, "ab.star.example.com", "TXT")
    assert rcode(r) == "NXDOMAIN"
    r = ask(snap, "a*.star.example.com", "TXT")
    assert texts(r.answer) == {
        'a*.star.example.com. 3600 IN TXT "asterisk inside a label is literal"'}


def test_wildcard_cname_is_followed(snap: Snapshot) -> None:
    r = ask(snap, "x.cname.example.com", "A")
    assert texts(r.answer) == {"x.cname.example.com. 3600 IN CNAME host.example.com.",
                               "host.example.com. 3600 IN A 192.0.2.80"}


def test_wildcard_does_not_apply_to_other_branches(snap: Snapshot) -> None:
    r = ask(snap, "nothing.example.com", "A")
    assert rcode(r) == "NXDOMAIN"


# ---------------------------------------------------------------------------------------
# Delegations and DS


def test_referral(snap: Snapshot) -> None:
    for name in ("child.example.com", "www.child.example.com", "ns1.child.example.com"):
        r = ask(snap, name, "A")
        assert rcode(r) == "NOERROR" and not aa(r), name
        assert not r.answer
        assert texts(r.authority) == {"child.example.com. 3600 IN NS ns1.child.example.com.",
                                      "child.example.com. 3600 IN NS ns.example.org."}
        assert texts(r.additional) == {"ns1.child.example.com. 3600 IN A 192.0.2.200",
                                       "ns1.child.example.com. 3600 IN AAAA 2001:db8::200"}


def test_referral_for_ns_query_at_cut(snap: Snapshot) -> None:
    r = ask(snap, "child.example.com", "NS")
    assert not aa(r) and not r.answer
    assert types_of(r.authority) == [("child.example.com.", "NS")]


def test_ds_answered_from_parent_side(snap: Snapshot) -> None:
    r = ask(snap, "child.example.com", "DS")
    assert rcode(r) == "NOERROR" and aa(r)
    assert types_of(r.answer) == [("child.example.com.", "DS")]
    r = ask(snap, "nods.example.com", "DS")
    assert rcode(r) == "NOERROR" and aa(r) and not r.answer
    assert types_of(r.authority) == [("example.com.", "SOA")]


def test_ds_below_cut_is_referral(snap: Snapshot) -> None:
    r = ask(snap, "x.child.example.com", "DS")
    assert not aa(r) and types_of(r.authority) == [("child.example.com.", "NS")]


def test_ds_at_apex_of_served_child_comes_from_served_parent(snap: Snapshot) -> None:
    r = ask(snap, "served.example.com", "DS")
    assert rcode(r) == "NOERROR" and aa(r)
    assert types_of(r.answer) == [("served.example.com.", "DS")]
    # Other types at that name come from the child zone.
    r = ask(snap, "served.example.com", "A")
    assert aa(r) and texts(r.answer) == {"served.example.com. 600 IN A 192.0.2.150"}


def test_ds_at_apex_without_served_parent_is_nodata(snap: Snapshot) -> None:
    r = ask(snap, "example.com", "DS")
    assert rcode(r) == "NOERROR" and not r.answer
    assert types_of(r.authority) == [("example.com.", "SOA")]


# ---------------------------------------------------------------------------------------
# Negative answers


def test_nxdomain_with_soa_negative_ttl(snap: Snapshot) -> None:
    r = ask(snap, "nothing.example.com", "A")
    assert rcode(r) == "NXDOMAIN" and aa(r) and not r.answer
    assert len(r.authority) == 1
    soa = r.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and soa.name.to_text() == "example.com."
    assert soa.ttl == 300  # min(SOA TTL 7200, MINIMUM 300)
    # And the other way round: TTL smaller than MINIMUM.
    r = ask(snap, "nothing.example.net", "A")
    assert r.authority[0].ttl == 60


def test_nodata_with_soa(snap: Snapshot) -> None:
    r = ask(snap, "host.example.com", "AAAA")
    assert rcode(r) == "NOERROR" and aa(r) and not r.answer
    assert types_of(r.authority) == [("example.com.", "SOA")]
    assert r.authority[0].ttl == 300


@pytest.mark.parametrize("name", ["c.example.com", "b.c.example.com", "a.b.c.example.com",
                                  "_tcp.example.com", "wild.example.com"])
def test_empty_non_terminal_is_nodata(snap: Snapshot, name: str) -> None:
    r = ask(snap, name, "A")
    assert rcode(r) == "NOERROR" and not r.answer, name
    assert types_of(r.authority) == [("example.com.", "SOA")]


# ---------------------------------------------------------------------------------------
# ANY and additional-section processing


def test_any_over_udp_is_one_rrset(snap: Snapshot) -> None:
    r = ask(snap, "example.com", "ANY")
    assert rcode(r) == "NOERROR" and aa(r)
    assert len(r.answer) == 1


def test_any_over_tcp_is_every_rrset(snap: Snapshot) -> None:
    r = ask(snap, "example.com", "ANY", tcp=True)
    assert {t for _, t in types_of(r.answer)} == {"SOA", "NS", "MX", "A", "TXT"}


def test_any_on_missing_name(snap: Snapshot) -> None:
    r = ask(snap, "nothing.example.com", "ANY")
    assert rcode(r) == "NXDOMAIN"


@pytest.mark.parametrize(("name", "rdtype", "extra"), [
    ("example.com", "MX", {"mail.example.com. 3600 IN A 192.0.2.25",
                           "mail.example.com. 3600 IN AAAA 2001:db8::25"}),
    ("_sip._tcp.example.com", "SRV", {"sip.example.com. 3600 IN A 192.0.2.60",
                                      "sip.example.com. 3600 IN AAAA 2001:db8::60"}),
    ("example.com", "NS", {"ns1.example.com. 3600 IN A 192.0.2.53",
                           "ns1.example.com. 3600 IN AAAA 2001:db8::53",
                           "ns2.example.com. 3600 IN A 192.0.2.54"}),
])
def test_additional_addresses(snap: Snapshot, name: str, rdtype: str, extra: set[str]) -> None:
    r = ask(snap, name, rdtype)
    assert texts(r.additional) == extra


# ---------------------------------------------------------------------------------------
# EDNS(0)


def test_opt_echoed_with_our_payload(snap: Snapshot) -> None:
    r = ask(snap, "host.example.com", "A", edns=0, payload=4096)
    assert r.edns == 0 and r.payload == 1232
    assert not r.ednsflags & dns.flags.DO
    r = ask(snap, "host.example.com", "A")
    assert r.edns == -1


def test_payload_from_settings(snap: Snapshot) -> None:
    q = make_query("host.example.com", "A", edns=0, payload=4096)
    wire = answer(q.to_wire(), snap, False, AnswerOptions(udp_payload=1400))
    assert wire is not None
    assert dns.message.from_wire(wire).payload == 1400


def test_do_bit_echoed(snap: Snapshot) -> None:
    r = ask(snap, "host.example.com", "A", edns=0, do=True)
    assert r.ednsflags & dns.flags.DO
    assert texts(r.answer) == {"host.example.com. 3600 IN A 192.0.2.80"}


def test_opt_on_negative_and_refused_answers(snap: Snapshot) -> None:
    for name in ("nothing.example.com", "example.org"):
        r = ask(snap, name, "A", edns=0)
        assert r.edns == 0 and r.payload == 1232


def test_badvers(snap: Snapshot) -> None:
    r = ask(snap, "host.example.com", "A", edns=1)
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0  # we answer with the version we speak
    assert not r.answer
    assert str(r.question[0].name) == "host.example.com."


def test_two_opt_records_is_formerr(snap: Snapshot) -> None:
    q = make_query("host.example.com", "A", edns=0)
    wire = q.to_wire()
    opt = wire[-11:]
    assert opt[0] == 0 and opt[1:3] == b"\x00\x29"
    arcount = struct.unpack_from("!H", wire, 10)[0]
    twice = wire[:10] + struct.pack("!H", arcount + 1) + wire[12:] + opt
    out = answer(twice, snap, False)
    assert out is not None
    r = dns.message.from_wire(out)
    assert r.rcode() == dns.rcode.FORMERR and r.id == q.id


# ---------------------------------------------------------------------------------------
# Truncation and compression


def test_udp_without_edns_truncates_at_512(snap: Snapshot) -> None:
    q = make_query("fat.example.com", "A")
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None and len(wire) <= 512
    r = dns.message.from_wire(wire)
    assert r.flags & dns.flags.TC
    assert str(r.question[0].name) == "fat.example.com."
    assert not r.answer  # never part of an RRset


def test_edns_payload_allows_bigger_answer(snap: Snapshot) -> None:
    q = make_query("fat.example.com", "A", edns=0, payload=1232)
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None and 512 < len(wire) <= 1232
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC
    assert len(r.answer[0]) == FAT_ADDRESSES


def test_client_payload_smaller_than_ours_is_honoured(snap: Snapshot) -> None:
    q = make_query("bigtxt.example.com", "TXT", edns=0, payload=1232)
    full = answer(q.to_wire(), snap, True)
    assert full is not None and len(full) > 1232
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None and len(wire) <= 1232
    r = dns.message.from_wire(wire)
    assert r.flags & dns.flags.TC and not r.answer and r.edns == 0


def test_tcp_never_truncates_below_64k(snap: Snapshot) -> None:
    q = make_query("bigtxt.example.com", "TXT")
    wire = answer(q.to_wire(), snap, True)
    assert wire is not None
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 20


def test_additional_overflow_drops_optional_records_without_tc(snap: Snapshot) -> None:
    # Over UDP without EDNS: the MX answer fits, the 40 addresses of its target do not.
    q = make_query("fatmx.example.com", "MX")
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None and len(wire) <= 512
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC
    assert texts(r.answer) == {"fatmx.example.com. 3600 IN MX 10 fat.example.com."}
    assert not r.additional  # the whole RRset left out, never part of it
    # With EDNS the OPT record still comes and the counts still match the records.
    q = make_query("fatmx.example.com", "MX", edns=0, payload=512)
    wire = answer(q.to_wire(), snap, False)
    assert wire is not None and len(wire) <= 512
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC and r.edns == 0 and not r.additional


def test_partial_additional_keeps_whole_rrsets(snap: Snapshot) -> None:
    # mxmix has 8 MX records whose targets' addresses do not all fit in 512 bytes.
    full = answer(make_query("mxmix.example.com", "MX", edns=0).to_wire(), snap, False)
    assert full is not None and len(full) > 560
    kept = []
    for payload in range(512, len(full) + 1):
        q = make_query("mxmix.example.com", "MX", edns=0, payload=payload)
        wire = answer(q.to_wire(), snap, False)
        assert wire is not None and len(wire) <= payload
        r = dns.message.from_wire(wire)
        assert not r.flags & dns.flags.TC
        assert len(r.answer) == 1 and len(r.answer[0]) == MIX_HOSTS
        assert all(len(rrset) == 1 for rrset in r.additional)
        kept.append(len(r.additional))
    assert kept == sorted(kept)  # more room never means fewer records
    assert kept[0] < MIX_HOSTS and kept[-1] == MIX_HOSTS
    assert any(0 < k < MIX_HOSTS for k in kept)
    r = ask(snap, "mxmix.example.com", "MX")  # no EDNS: 512 bytes, some addresses left out
    assert not r.flags & dns.flags.TC and len(r.additional) < MIX_HOSTS


def test_every_response_is_compressed(snap: Snapshot) -> None:
    for name, rdtype in [("example.com", "NS"), ("example.com", "MX"), ("chain1.example.com", "A"),
                         ("nothing.example.com", "A"), ("www.child.example.com", "A"),
                         ("any.wild.example.com", "MX")]:
        q = make_query(name, rdtype)
        wire = answer(q.to_wire(), snap, False)
        assert wire is not None
        r = dns.message.from_wire(wire)
        # dnspython compresses fully; ours must be no longer than its encoding of the same message.
        r.id = q.id
        again = r.to_wire()
        assert len(wire) <= len(again), (name, rdtype)
        assert b"\x07example\x03com\x00" not in wire[12 + len(q.question[0].name.to_wire() or b""):]


def test_chain_leaving_our_zones_is_followed_once_the_target_zone_is_added(
        tmp_path: Path) -> None:
    store, _ = build_snapshot(tmp_path, {"example.com.": EXAMPLE_COM})
    reader = Reader(store)  # one reader: example.com's view, and its cache, carry over
    try:
        before = reader.snapshot()
        r = ask(before, "out.example.com", "A")  # now cached with example.com's version
        assert texts(r.answer) == {"out.example.com. 3600 IN CNAME www.example.org."}
        path = tmp_path / "zones" / "example.org.zone"
        path.write_text(EXAMPLE_NET.replace("example.net.", "example.org."))
        load_zone(store.path, path, "example.org.")
        after = reader.snapshot()
        assert after.zones[b"\x07example\x03com\x00"] is before.zones[b"\x07example\x03com\x00"]
        r = ask(after, "out.example.com", "A")
        assert texts(r.answer) == {"out.example.com. 3600 IN CNAME www.example.org.",
                                   "www.example.org. 600 IN A 192.0.2.78"}
    finally:
        store.close()


def test_big_wildcard_answers_are_not_kept_per_name(snap: Snapshot) -> None:
    # Every name below fatwild gets a 6 KB answer; a flood of random names must not leave
    # one kept copy per name behind (small ones may be kept: the cache limit bounds them).
    zone = snap.find_zone(b"\x07example\x03com\x00")
    assert zone is not None
    for i in range(50):
        r = ask(snap, f"n{i}.fatwild.example.com", "TXT", tcp=True)
        assert len(r.answer[0]) == 31
        r = ask(snap, f"n{i}.fatwild.example.com", "TXT")  # over UDP: TC, same cache entry
        assert r.flags & dns.flags.TC
    kept = [p for key, p in zone.responses.items() if b"fatwild" in key[0]]
    assert sum(len(p.tail) for p in kept) < 50 * 1232
