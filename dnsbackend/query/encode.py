"""Encoding: the sections of a result, compressed once, as a Prepared answer to stamp per query."""

from __future__ import annotations

from typing import Final

from ..wire.codes import AA
from ..wire.compress import Compressor
from .resolve import Result, RRset

# An encoded answer whose question is at offset 12, ready to be stamped per query. A plain
# tuple, not a class: the caches hold hundreds of thousands, and the garbage collector
# stops tracking a tuple of bytes and ints but would scan every instance of a class.
#   (flags: AA and rcode bits, and MADE_UP,
#    tail: answer, authority and additional sections,
#    an, ns, ar: the section counts,
#    required_len: bytes of tail that must fit, else the response is truncated,
#    required_ar: additional records within required_len (glue),
#    optional: (tail length, additional count) after each optional RRset, for cutting,
#    catalog_txn: valid only for this catalog transaction; -1: for any,
#    partial: (tail length, an, ns) after each answer and authority RRset of a signed
#             answer (with its signatures), to keep what fits when the required part
#             does not, with TC (RFC 4035 section 3.1.1); (): send none of it)
Prepared = tuple[int, bytes, int, int, int, int, int, tuple[tuple[int, int], ...], int,
                 tuple[tuple[int, int, int], ...]]
_TXN: Final = 8  # index of catalog_txn (the tail is [1])
# A flag above the header's 16 bits: something of the answer was made up (a wildcard, a
# DNAME; Result.synthesized). Without it the query name has a node, which rate limiting
# then need not look up (query.rrl.classified); _stamp() leaves it out of the header.
MADE_UP: Final = 1 << 16


def encode(qname: bytes, result: Result, catalog_txn: int = -1, anchor: int = 0) -> Prepared:
    """Encode the sections once, compressed against a question at offset 12."""
    return _encode(Compressor(qname, anchor), result, catalog_txn)


def encode_anchored(qname: bytes, result: Result, catalog_txn: int,
                    anchor: int) -> tuple[Prepared, frozenset[bytes]]:
    """Encode an answer that came from the cut or closest encloser at offset `anchor`.

    Names are compressed only against the question from the anchor up, and the question
    name itself is written only as the owner of the answer made for it. The encoding then
    fits every query name of the same length that lands at the same place, and is the
    one `encode` gives, unless a suffix of the query name below the anchor is one of the
    names written: those come back as the frozenset, and such a query name needs its own.
    """
    w = Compressor(qname, anchor)
    w.written = []
    prepared = _encode(w, result, catalog_txn)
    tail = qname[anchor:].lower()
    below = set()
    for name in w.written:
        pos = 0
        while len(name) - pos > len(tail) and name.endswith(tail):
            below.add(name[pos:])
            pos += name[pos] + 1
    return prepared, frozenset(below)


def _encode(w: Compressor, result: Result, catalog_txn: int) -> Prepared:
    an = ns = 0
    partial: list[tuple[int, int, int]] = []  # only for a signed answer
    signed = result.dnssec
    for rrset in result.answer:
        an += _put(w, rrset)
        if signed:
            partial.append((len(w.buf), an, 0))
    for rrset in result.authority:
        ns += _put(w, rrset)
        if signed:
            partial.append((len(w.buf), an, ns))
    ar = 0
    for rrset in result.required:
        ar += _put(w, rrset)
    required_len = len(w.buf)
    required_ar = ar
    optional = []
    for rrset in result.optional:
        ar += _put(w, rrset)
        optional.append((len(w.buf), ar))
    flags = (AA if result.aa else 0) | (result.rcode & 0xF) | (MADE_UP if result.synthesized else 0)
    return (flags, bytes(w.buf), an, ns, ar, required_len, required_ar, tuple(optional),
            catalog_txn, tuple(partial))


def _put(w: Compressor, rrset: RRset) -> int:
    """Write an RRset and the signatures covering it (their TTL its own, RFC 4035 section
    2.2); as one piece, so they fit or are cut together."""
    if rrset.sigs or len(rrset.rdatas) != 1:
        w.rrset(rrset.owner, rrset.rtype, rrset.ttl, rrset.rdatas, rrset.sigs)
    else:
        w.rr(rrset.owner, rrset.rtype, rrset.ttl, rrset.rdatas[0])
    return len(rrset.rdatas) + len(rrset.sigs)
