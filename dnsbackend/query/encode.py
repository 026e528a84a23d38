"""Encoding: the sections of a result, compressed once, as a Prepared answer to stamp per query."""

from __future__ import annotations

import struct
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
_TWO: Final = struct.Struct("!H")


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


# An RRset with its signatures (a proof's NSEC or NSEC3 records, the negative answer's SOA)
# encoded once per zone version, to be placed after the question of any answer of the zone
# whose name ends in its context name (the longest suffix the owner shares with the query
# name), as the Compressor would write it there. A tuple:
#   (the bytes between its compression pointers,
#    each pointer's target: (whether into the piece itself, offset from the piece's start
#                            or from the context name's place in the question),
#    its length, its records (with the signatures),
#    the names its name look-ups try before reaching a suffix of the context name: a name
#    elsewhere in the message among them would have been a pointer's target instead)
Piece = tuple[tuple[bytes, ...], tuple[tuple[bool, int], ...], int, int, frozenset[bytes]]
# Past this offset a pointer cannot reach a name (RFC 1035 section 4.1.4): the Compressor
# writes names out in full there, which a piece, encoded at the start, does not.
_POINTER_REACH: Final = 0x4000


def encode_piece(context: bytes, rrset: RRset) -> Piece:
    """An RRset encoded once as a Piece, against a question whose name ends in `context`
    (lower case)."""
    question = bytes(bytearray(context))  # never the owner's object: no pointer to 12 for it
    w = Compressor(question)
    w.written = []
    w.pointers = []
    count = _put(w, rrset)
    buf = bytes(w.buf)
    segments = []
    targets = []
    at = 0
    for pos in w.pointers:
        segments.append(buf[at:pos])
        value = ((buf[pos] & 0x3F) << 8) | buf[pos + 1]
        inside = value >= w.base
        targets.append((inside, value - w.base if inside else value - 12))
        at = pos + 2
    segments.append(buf[at:])
    known = set(label_suffixes(context))
    names = {suffix for name in w.written for suffix in label_suffixes(name)} - known
    return tuple(segments), tuple(targets), len(buf), count, frozenset(names)


def label_suffixes(lower: bytes) -> list[bytes]:
    """A wire name and each of its suffixes from a label start, the root's left out."""
    found = []
    pos = 0
    while lower[pos]:
        found.append(lower[pos:])
        pos += lower[pos] + 1
    return found


def encode_pieces(lower: bytes, flags: int, head: Prepared | None,
                  pieces: list[tuple[Piece, int]]) -> tuple[Prepared, frozenset[bytes]] | None:
    """A signed answer to the lower-case query name `lower` made of pieces: the answer
    section `head` (a Prepared of the answer RRset alone, owner the question; or None),
    then each piece (with its context name's length) in the authority section; the bytes
    encode() gives for the same sections, with the names the pieces write (a query name
    with one of them as a suffix needs its own). None when they could differ: a name a piece
    writes is one the question or another piece holds, or a piece lies past a pointer's
    reach (the caller encodes the full way)."""
    names: set[bytes] = set()
    total = 0
    for piece, _ in pieces:
        names.update(piece[4])
        total += len(piece[4])
    if len(names) != total:
        return None
    pos = 0
    while lower[pos]:
        if lower[pos:] in names:
            return None
        pos += lower[pos] + 1
    parts: list[bytes] = []
    partial: list[tuple[int, int, int]] = []
    an = ns = size = 0
    if head is not None:
        parts.append(head[1])
        an = head[2]
        size = len(head[1])
        partial.extend(head[9])
    base = 12 + len(lower) + 4
    for (segments, targets, length, count, _), context_len in pieces:
        start = base + size
        if start + length >= _POINTER_REACH:
            return None
        context_at = 12 + len(lower) - context_len
        parts.append(segments[0])
        for i in range(len(targets)):
            inside, offset = targets[i]
            parts.append(_TWO.pack(0xC000 | ((start if inside else context_at) + offset)))
            parts.append(segments[i + 1])
        size += length
        ns += count
        partial.append((size, an, ns))
    tail = b"".join(parts)
    return (flags, tail, an, ns, 0, size, 0, (), -1, tuple(partial)), frozenset(names)
