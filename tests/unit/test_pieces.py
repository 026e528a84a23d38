"""query.encode's pieces (RRsets encoded once, placed in any answer) against encode(): the
same bytes whenever encode_pieces() gives an answer, for random names sharing suffixes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.query.encode import MADE_UP, encode, encode_piece, encode_pieces, label_suffixes
from dnsbackend.query.resolve import Result, RRset
from dnsbackend.wire.codes import AA, NSEC, NSEC3, NXDOMAIN, SOA, A

ORIGIN = b"\x04zone\x04test\x00"


def _name(labels: list[bytes], parent: bytes = ORIGIN) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in labels) + parent


_labels = st.lists(st.sampled_from([b"a", b"b", b"*", b"Ab", b"x" * 32]), min_size=0,
                   max_size=3)
_under = st.builds(_name, _labels, st.sampled_from([ORIGIN, b"\x05other\x00"]))
_rdata = st.binary(min_size=1, max_size=12)


@st.composite
def _proof(draw: st.DrawFn) -> RRset:
    owner = _name(draw(_labels)).lower()
    rtype = draw(st.sampled_from([NSEC, NSEC3]))
    return RRset(owner, rtype, draw(st.integers(0, 99)), (draw(_rdata),),
                 tuple(draw(st.lists(_rdata, max_size=2))))


@st.composite
def _soa(draw: st.DrawFn) -> RRset:
    rdata = draw(_under) + draw(_under) + bytes(20)
    return RRset(b"\x04ZONE\x04test\x00", SOA, 60, (rdata,),
                 tuple(draw(st.lists(_rdata, max_size=2))))


def _contexts(lower: bytes, owner: bytes) -> list[bytes]:
    """The suffixes an owner shares with the query name, from the origin down."""
    ours = set(label_suffixes(lower))
    return [s for s in label_suffixes(owner) if s in ours and s.endswith(ORIGIN)]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"b", b"c", b"*", b"AB", b"x" * 32]), min_size=1,
                max_size=4),
       st.one_of(st.none(), _soa()), st.lists(_proof(), max_size=3, unique_by=lambda r: r[0]),
       st.booleans(), st.randoms(use_true_random=False))
def test_pieces_are_what_encode_writes(labels: list[bytes], soa: RRset | None,
                                       proofs: list[RRset], with_answer: bool,
                                       rnd: object) -> None:
    qname = _name(labels)
    lower = qname.lower()
    head = None
    answer: list[RRset] = []
    if with_answer:  # a wildcard's RRset at the query name, signed
        answer = [RRset(qname, A, 300, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"),
                        (b"sig",))]
        head = encode(qname, Result(answer=answer, dnssec=True))
    authority = ([soa] if soa is not None else []) + proofs
    placed = []
    if soa is not None:
        placed.append((encode_piece(ORIGIN, soa), len(ORIGIN)))
    for rrset in proofs:
        context = rnd.choice(_contexts(lower, rrset.owner))  # type: ignore[attr-defined]
        placed.append((encode_piece(context, rrset), len(context)))
    rcode = 0 if with_answer else NXDOMAIN
    flags = AA | rcode | (MADE_UP if with_answer else 0)
    made = encode_pieces(lower, flags, head, placed)
    result = Result(rcode=rcode, answer=answer, authority=authority, dnssec=True,
                    synthesized=with_answer)
    expected = encode(qname, result)
    if made is not None:
        assert made[0] == expected
    else:  # only when a name written is one another place holds
        names = [n for piece, _ in placed for n in piece[4]]
        assert len(set(names)) < len(names) or set(names) & set(label_suffixes(lower))


def test_an_nsec3_proof_is_made_of_pieces() -> None:
    """The common case of an NSEC3 NXDOMAIN: the SOA and hashed owners, all placed."""
    qname = _name([b"Nothing"])
    soa = RRset(ORIGIN, SOA, 60, (_name([b"ns1"]) + _name([b"hostmaster"]) + bytes(20),),
                (b"sig",))
    proofs = [RRset(_name([bytes([48 + i]) * 32]), NSEC3, 60, (b"rdata",), (b"s1", b"s2"))
              for i in range(3)]
    placed = [(encode_piece(ORIGIN, rrset), len(ORIGIN)) for rrset in [soa, *proofs]]
    made = encode_pieces(qname.lower(), AA | NXDOMAIN, None, placed)
    assert made is not None
    expected = encode(qname, Result(rcode=NXDOMAIN, authority=[soa, *proofs], dnssec=True))
    assert made[0] == expected
    assert made[1] == {_name([b"ns1"]), _name([b"hostmaster"]),
                       *(rrset.owner for rrset in proofs)}
