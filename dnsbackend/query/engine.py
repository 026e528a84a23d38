"""The answer engine's entry point: query bytes and a store snapshot in, response bytes out.

A response is computed once per (zone version, name, type, transport) and kept with the
zone version (resolve.py finds the sections, encode.py encodes them); later queries copy
the client's ID, flags and question into it and truncate it to the client's size. No I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

from ..store.format import DEFAULT_UDP_PAYLOAD, Node
from ..store.snapshot import NODE_CACHE_LIMIT, RESPONSE_CACHE_LIMIT, Snapshot, ZoneView
from ..wire.codes import (
    AA,
    ANY,
    AXFR,
    BADVERS,
    CD,
    CLASS_IN,
    CNAME,
    DS,
    FORMERR,
    IXFR,
    MAILA,
    MAILB,
    MX,
    NOTIMP,
    NS,
    NXDOMAIN,
    OPCODE_MASK,
    OPT,
    PTR,
    QR,
    RD,
    REFUSED,
    RRSIG,
    SERVFAIL,
    SOA,
    SRV,
    TC,
)
from ..wire.message import Fields, FormatError, Query, opt_record, parse_fields, with_options
from . import denial, edns
from .edns import Client
from .encode import (
    _TXN,
    MADE_UP,
    Piece,
    Prepared,
    encode,
    encode_anchored,
    encode_piece,
    encode_pieces,
    label_suffixes,
)
from .facts import Note
from .ident import CLASS_CH, chaos
from .resolve import (
    EXACT,
    NO_DATA,
    NOT_FOUND,
    Result,
    absent,
    absent_proof,
    locate,
    negative_soa,
    proof_rrset,
    resolve,
    rrsigs,
    zone_for,
)

# Answers made up for the query name (wildcard, DNAME) are kept only up to this size: the
# client chooses those names freely, so big ones would fill memory one name at a time.
SYNTHESIZED_CACHE_MAX: Final = 1232
_HEADER: Final = struct.Struct("!HHHHHH")
_TYPE_CLASS_TTL: Final = struct.Struct("!HHI")
_TWO: Final = struct.Struct("!H")
# What answer() gives for a query it can answer only knowing the client (a COOKIE option):
# shorter than any DNS message. The caller asks answer() again with the client.
NEEDS_CLIENT: Final = b"?"
_NOTIFY: Final = 4  # the opcode (RFC 1996)


@dataclass
class AnswerOptions:
    """What the engine is told by its caller instead of reading it from the store."""

    udp_payload: int = DEFAULT_UDP_PAYLOAD  # the EDNS payload size we advertise and honour
    reserve: int = 0  # bytes left free below the size limit, for a TSIG RR added after


# Query types answered with an error: meta types (FORMERR), zone transfers (REFUSED),
# MAILA/MAILB (NOTIMP).
_REFUSED_TYPES: Final = frozenset([OPT, AXFR, IXFR, MAILA, MAILB, *range(128, 251)])

def answer(msg: bytes, snapshot: Snapshot, tcp: bool = False,
           options: AnswerOptions | None = None, client: Client | None = None,
           note: Note | None = None) -> bytes | None:
    """The response to one query message, or None when it must be dropped; NEEDS_CLIENT
    when the response depends on the client and `client` is None. `note` (metrics or rate
    limiting on, its zone None) gets the zone answered from, if any (query.facts)."""
    if len(msg) < 12 or msg[2] & 0x80:  # the QR bit: a response
        return None
    flags = (msg[2] << 8) | msg[3]
    opcode = (flags >> 11) & 0xF
    try:
        fields = parse_fields(msg)
    except FormatError:
        return _header_only(msg, FORMERR if opcode == 0 else NOTIMP)
    ident, qflags, qname, qtype, qclass, question_end, edns_, client_payload, version, do = \
        fields
    payload = options.udp_payload if options else snapshot.udp_payload
    reserve = options.reserve if options else 0  # room for a TSIG RR (serve.divert)
    extra = b""
    if edns_ and not version and len(msg) != question_end + 11:
        # EDNS options (NSID, COOKIE...), or records of another shape.
        early, extra = _options(msg, fields, snapshot, tcp, payload, client)
        if early is not None:
            return early
    if opcode or qtype in _REFUSED_TYPES or qclass != CLASS_IN or (edns_ and version):
        return _refuse(Query(*fields), msg, opcode, payload, snapshot, extra)
    lower = qname.lower()
    zone = zone_for(snapshot, lower, qtype)
    if zone is None:
        return _not_served(Query(*fields), msg, snapshot, payload, extra)
    tcp_any = tcp and qtype == ANY
    key = (lower, qtype, tcp_any)
    if not (do and zone.signed):
        prepared = zone.responses.get(key)
        if prepared is None or prepared[_TXN] not in (-1, snapshot.txn_id):
            prepared = _prepare(snapshot, zone, qname, lower, qtype, tcp, key)
    else:
        prepared = _signed(snapshot, zone, qname, lower, qtype, tcp, key)
        extra = _signed_options(prepared, extra)
    if note is not None:
        _note(note, snapshot, zone, lower, qtype, prepared)
    limit = 65535 if tcp else max(512, min(client_payload, payload)) if edns_ else 512
    return _stamp(msg, ident, qflags, question_end, edns_, do, prepared, limit - reserve,
                  payload, extra)


def _note(note: Note, snapshot: Snapshot, zone: ZoneView, lower: bytes, qtype: int,
          prepared: tuple[object, ...]) -> None:
    """Note the zone a query is answered from (the closest to its name: for DS, the child
    zone_for() passed over), its name and type, and whether anything was made up (the
    flags of the `prepared` answer, taken as a tuple of any length: one item read)."""
    note.zone = zone if qtype != DS else snapshot.find_zone(lower)
    note.lower = lower
    note.qtype = qtype
    flags = prepared[0]
    note.made_up = isinstance(flags, int) and bool(flags & MADE_UP)


def _options(msg: bytes, fields: Fields, snapshot: Snapshot, tcp: bool, payload: int,
             client: Client | None) -> tuple[bytes | None, bytes]:
    """(the response when the options decide it, else None; the options to answer with)."""
    try:
        status, extra = edns.response_options(msg, fields[5], snapshot.served, tcp, client)
    except FormatError:
        return _error(Query(*fields), msg, FORMERR, payload), b""
    if status == edns.GO:
        return None, extra
    if status == edns.NEEDS_CLIENT:
        return NEEDS_CLIENT, b""
    return _error(Query(*fields), msg, edns.RCODE_BADCOOKIE, payload, extra), b""


def _not_served(query: Query, msg: bytes, snapshot: Snapshot, payload: int,
                extra: bytes) -> bytes:
    """REFUSED, EDE Not Authoritative (as NSD and Knot); before the store of a first start
    holds anything, SERVFAIL, EDE Not Ready."""
    if snapshot.ready:
        return _error(query, msg, REFUSED, payload, extra + edns.NOT_AUTHORITATIVE)
    return _error(query, msg, SERVFAIL, payload, extra + edns.NOT_READY)


def _refuse(query: Query, msg: bytes, opcode: int, payload: int, snapshot: Snapshot,
            extra: bytes) -> bytes:
    """The error for a query we do not answer from a zone, by the first reason that applies
    (class CH: the identification names)."""
    if opcode == _NOTIFY:
        # We are a primary only: refused whatever the zone, as NSD answers it.
        return _error(query, msg, REFUSED, payload, extra)
    if opcode != 0:
        return _error(query, msg, NOTIMP, payload, extra)  # with OPT if asked (RFC 6891)
    if query.edns and query.edns_version > 0:
        return _error(query, msg, BADVERS, payload)
    qtype = query.qtype
    if qtype == OPT or 128 <= qtype < 251:
        return _error(query, msg, FORMERR, payload, extra)
    if query.qclass == CLASS_CH:
        return _chaos(query, msg, payload, snapshot, extra)
    if query.qclass != CLASS_IN:
        return _error(query, msg, REFUSED, payload, extra)
    if qtype in (MAILA, MAILB):
        return _error(query, msg, NOTIMP, payload, extra)
    # AXFR, IXFR over UDP: EDE Prohibited, as BIND answers it.
    return _error(query, msg, REFUSED, payload, extra + edns.PROHIBITED)


def _chaos(query: Query, msg: bytes, payload: int, snapshot: Snapshot, extra: bytes) -> bytes:
    rcode, record, ede = chaos(query.qname.lower(), query.qtype, snapshot.served)
    if not record:
        return _error(query, msg, rcode, payload, extra + ede)
    response = _error(query, msg, rcode, payload, extra)
    # The TXT record goes between the question and the OPT record.
    at = query.question_end
    return (response[:6] + b"\x00\x01" + response[8:at] + record + response[at:])


def _prepare(snapshot: Snapshot, zone: ZoneView, qname: bytes, lower: bytes, qtype: int,
             tcp: bool, key: tuple[bytes, int, bool]) -> Prepared:
    """The prepared answer on a miss of the name's own cache entry.

    A name below a zone cut, or absent from the zone, gets an answer that does not depend
    on its labels below the cut or the closest encloser: those answers are kept once per
    (where it landed, type, length of the name), so that a stream of random names (a
    random-subdomain flood, a wildcard's clients) costs a walk down the tree, not a
    resolution and an encoding each. Here the ways without either (a plain answer from the
    node, a kept outcome); _resolve_and_keep() the full way.
    """
    landed = locate(zone, lower)
    outcome_key: tuple[int, bytes, int, bool, int] | None = None
    anchor = 0
    if landed is not None:
        kind, anchor, node = landed
        if kind == EXACT:
            assert node is not None
            if _full_way(zone, node, qtype):
                landed = None  # ANY, a CNAME to follow, or a referral: the full way
            elif qtype in node:
                if qtype in _PLAIN_TYPES:
                    prepared = _plain_answer(qtype, node[qtype])
                    _keep(zone.responses, key, prepared)
                    return prepared
                landed = None  # rdata names to compress, additional data to add
            else:
                # NODATA: the zone's SOA whatever the name, encoded against its origin.
                kind, anchor = NO_DATA, len(lower) - len(zone.origin_lower)
    if landed is not None:
        outcome_key = (kind, lower[anchor:], qtype, key[2], len(lower))
        kept = zone.outcomes.get(outcome_key)
        if kept is not None and kept[0][_TXN] in (-1, snapshot.txn_id):
            if not kept[1] or not _shares_below(lower, anchor, kept[1]):
                if kind == NO_DATA:  # a name of the zone: keep it under the name as well
                    _keep(zone.responses, key, kept[0])
                return kept[0]
            outcome_key = None  # this name is one the answer mentions: its own encoding
    return _resolve_and_keep(snapshot, zone, qname, lower, qtype, tcp, key, outcome_key, anchor)


def _resolve_and_keep(snapshot: Snapshot, zone: ZoneView, qname: bytes, lower: bytes,
                      qtype: int, tcp: bool, key: tuple[bytes, int, bool],
                      outcome_key: tuple[int, bytes, int, bool, int] | None,
                      anchor: int) -> Prepared:
    """_prepare() the full way: resolve and encode the answer, and keep it under the name's
    own key, or under `outcome_key` (encoded against the name from `anchor` on) when it
    does not depend on the labels before the anchor."""
    # StaleSnapshot goes up: the caller takes a fresh snapshot and asks again.
    result = resolve(snapshot, zone, qname, qtype, tcp)
    txn = snapshot.txn_id if result.leaves_zones else -1
    if outcome_key is not None and not result.name_dependent:
        prepared, below = encode_anchored(qname, result, txn, anchor)
        if result.cacheable:
            _keep(zone.outcomes, outcome_key, (prepared, below))
        if not below or not _shares_below(lower, anchor, below):
            if outcome_key[0] == NO_DATA and result.cacheable:
                _keep(zone.responses, key, prepared)
            return prepared
    prepared = encode(qname, result, txn)
    if result.cacheable and not (result.synthesized and
                                 len(prepared[1]) > SYNTHESIZED_CACHE_MAX):
        _keep(zone.responses, key, prepared)
    return prepared


def _signed(snapshot: Snapshot, zone: ZoneView, qname: bytes, lower: bytes, qtype: int,
            tcp: bool, key: tuple[bytes, int, bool]) -> Prepared:
    """The answer to a query with DO=1 in a signed zone: with signatures and proofs,
    resolved and kept per name (apart from the DO=0 answers, which stay as they are)."""
    prepared: Prepared | None = zone.signed_responses.get(key)
    if prepared is not None and prepared[_TXN] in (-1, snapshot.txn_id):
        return prepared
    landed = locate(zone, lower)
    if landed is not None and landed[0] == EXACT:
        node = landed[2]
        if _plain_node(zone, node, qtype) is not None:
            assert node is not None
            ttl, rdatas = node[qtype]
            prepared = _plain_answer(qtype, (ttl, rdatas), rrsigs(node, qtype))
            _keep(zone.signed_responses, key, prepared)
            return prepared
        if node is not None and qtype not in node and not _full_way(zone, node, qtype):
            # NODATA: the SOA and the name's proof, from their pieces.
            made = _from_pieces(zone, lower, AA, None, denial.nodata(zone, lower, node), True)
            if made is not None:
                _keep(zone.signed_responses, key, made[0])
                return made[0]
    elif landed is not None and landed[0] == NOT_FOUND:
        prepared = _signed_absent(zone, qname, lower, qtype, key, landed[1])
        if prepared is not None:
            return prepared
    result = resolve(snapshot, zone, qname, qtype, tcp, dnssec=True)
    return _keep_signed(zone, key, encode(qname, result, snapshot.txn_id
                                          if result.leaves_zones else -1), result)


def _keep_signed(zone: ZoneView, key: tuple[bytes, int, bool], prepared: Prepared,
                 result: Result) -> Prepared:
    """Keep a signed answer under the name's key (answers made up for it not too big)."""
    if result.cacheable and not (result.synthesized and
                                 len(prepared[1]) > SYNTHESIZED_CACHE_MAX):
        _keep(zone.signed_responses, key, prepared)
    return prepared


def _signed_options(prepared: Prepared, extra: bytes) -> bytes:
    """The EDNS options of a signed answer (DO=1: the query has EDNS): with a SERVFAIL, the
    only one resolve() gives it (an NSEC3 hash collision, RFC 5155 section 7.2.9), EDE 0
    Other, "NSEC3 hash collision", as NSD 4.6 sends it."""
    if prepared[0] & 0xF == SERVFAIL:
        return extra + edns.NSEC3_COLLISION
    return extra


def _signed_absent(zone: ZoneView, qname: bytes, lower: bytes, qtype: int,
                   key: tuple[bytes, int, bool], at: int) -> Prepared | None:
    """The signed answer for a name without a node, its closest encloser at offset `at`:
    NXDOMAIN, or synthesized from the wildcard there, with the proof. The answer depends
    on the name only through its length and the records of its proof, so that one
    encoding (against the question from the encloser up) is kept for every name of that
    length proved by the same records (in random names, an NSEC span's or an NSEC3
    hash span's). None when the wildcard holds a CNAME to follow: the full way."""
    wildcard = zone.node(b"\x01*" + lower[at:])
    if wildcard is not None and CNAME in wildcard:
        return None
    owners = absent_proof(zone, lower, at, wildcard, qtype)
    # NXDOMAIN is the same whatever the type; a wildcard answers the type (ANY: over TCP
    # all of its types).
    outcome = (lower[at:], len(lower), tuple(owners),
               -1 if wildcard is None else qtype, key[2])
    kept = zone.signed_outcomes.get(outcome)
    if kept is not None and not (kept[1] and _shares_below(lower, at, kept[1])):
        return kept[0]
    made = _absent_from_pieces(zone, lower, at, qtype, wildcard, owners)
    if made is not None:
        prepared, below, shared = made
        if shared:
            _keep(zone.signed_outcomes, outcome, (prepared, below))
        if wildcard is None or len(prepared[1]) <= SYNTHESIZED_CACHE_MAX:
            _keep(zone.signed_responses, key, prepared)
        return prepared
    result, whole = absent(zone, qname, lower, at, wildcard, qtype, key[2], owners)
    if not whole:
        return None
    prepared, below = encode_anchored(qname, result, -1, at)
    _keep(zone.signed_outcomes, outcome, (prepared, below))
    if below and _shares_below(lower, at, below):  # a name the answer mentions
        prepared = encode(qname, result)
    return _keep_signed(zone, key, prepared, result)


def _absent_from_pieces(zone: ZoneView, lower: bytes, at: int, qtype: int,
                        wildcard: Node | None, owners: list[bytes | None]
                        ) -> tuple[Prepared, frozenset[bytes], bool] | None:
    """_signed_absent()'s answer from pieces, as _from_pieces() gives it: NXDOMAIN, or from
    the wildcard at offset `at` (a plain type's RRset, or NODATA, whose proof starts with
    the wildcard's own). None where only the full way can say (a type with names in its
    rdata or additional data, ANY)."""
    if wildcard is None:
        return _from_pieces(zone, lower, AA | NXDOMAIN, None, owners, True, at)
    if qtype in wildcard:
        if qtype not in _PLAIN_TYPES:
            return None
        head = _plain_answer(qtype, wildcard[qtype], rrsigs(wildcard, qtype))
        return _from_pieces(zone, lower, AA | MADE_UP, head, owners, False, at)
    if qtype == ANY and wildcard:
        return None
    source = b"\x01*" + lower[at:]
    return _from_pieces(zone, lower, AA | MADE_UP, None,
                        [*denial.nodata(zone, source, wildcard), *owners], True, at)


def _from_pieces(zone: ZoneView, lower: bytes, flags: int, head: Prepared | None,
                 owners: list[bytes | None], negative: bool,
                 at: int = 0) -> tuple[Prepared, frozenset[bytes], bool] | None:
    """A signed answer made of pieces (query.encode): `head` (the answer section, or
    None), then in authority the negative SOA if `negative` and the records of the proof's
    `owners` (each once; none for an owner without them, as resolve() adds them). With the
    names the pieces write, and whether the answer fits every name of its length whose
    closest encloser is at offset `at` (no piece encoded against a name below it). None
    for a proof that cannot be given (an NSEC3 hash collision: resolve() answers it) or
    pieces that do not fit together (encode_pieces)."""
    placed: list[tuple[Piece, int]] = []
    if negative:
        placed.append((_negative_piece(zone), len(zone.origin_lower)))
    shared = True
    done: list[bytes] = []
    suffixes = label_suffixes(lower)
    for owner in owners:
        if owner is None:
            return None
        if owner in done:
            continue
        done.append(owner)
        context = _context_len(suffixes, owner, len(zone.origin_lower))
        shared = shared and context <= len(lower) - at
        piece = _proof_piece(zone, owner, context)
        if piece is not None:
            placed.append((piece, context))
    made = encode_pieces(lower, flags, head, placed)
    return None if made is None else (made[0], made[1], shared)


def _negative_piece(zone: ZoneView) -> Piece:
    """The negative answer's signed SOA as a piece, made once per zone version."""
    piece: Piece | None = zone.pieces.get((b"", 0))
    if piece is None:
        piece = zone.pieces[(b"", 0)] = encode_piece(zone.origin_lower,
                                                     negative_soa(zone, True))
    return piece


_NO_PIECE: Any = object()  # not yet in ZoneView.pieces (None: the owner has no records)


def _proof_piece(zone: ZoneView, owner: bytes, context: int) -> Piece | None:
    """The piece of a proof's owner encoded against its suffix of `context` octets, made
    once per zone version; None for an owner without records of the chain."""
    pieces = zone.pieces
    piece: Any = pieces.get((owner, context), _NO_PIECE)
    if piece is _NO_PIECE:
        rrset = proof_rrset(zone, owner)
        piece = None if rrset is None else encode_piece(owner[len(owner) - context:], rrset)
        if len(pieces) >= NODE_CACHE_LIMIT:
            pieces.clear()
        pieces[(owner, context)] = piece
    return piece


def _context_len(suffixes: list[bytes], owner: bytes, origin_len: int) -> int:
    """The length of the longest suffix (from a label start) a proof's owner shares with
    the query name, whose `suffixes` (label_suffixes) are given: the name its piece is
    encoded against (at least the origin)."""
    pos = 0
    while len(owner) - pos > origin_len:
        suffix = owner[pos:]
        if suffix in suffixes:
            return len(suffix)
        pos += owner[pos] + 1
    return origin_len


# Types answered from the node as they are: no names in the rdata to compress (RFC 3597
# section 4 allows compression only in the RFC 1035 types) and no additional section.
_PLAIN_TYPES: Final = frozenset(range(65536)) - {NS, CNAME, PTR, MX, SOA, SRV, ANY}


def _full_way(zone: ZoneView, node: Node, qtype: int) -> bool:
    """Whether a query landing on `node` needs resolve(): ANY, a CNAME to follow, or a
    referral (NS below the apex, unless DS is asked)."""
    return qtype == ANY or CNAME in node or (NS in node and node is not zone.apex
                                             and qtype != DS)


def _plain_node(zone: ZoneView, node: Node | None, qtype: int) -> Node | None:
    """The node at the query name when the answer is its RRset of a plain type alone (as
    _prepare() answers it), else None."""
    if qtype not in _PLAIN_TYPES or node is None or qtype not in node or \
            _full_way(zone, node, qtype):
        return None
    return node


def _plain_answer(qtype: int, data: tuple[int, tuple[bytes, ...]],
                  sigs: tuple[bytes, ...] | None = None) -> Prepared:
    """The answer RRset of a plain type at the query name, owner a pointer to the question:
    what resolve() and encode() give, without building either. With `sigs` (DO=1 in a
    signed zone), the RRSIGs covering it after it, with its TTL, the RRset and its
    signatures one piece for truncation."""
    ttl, rdatas = data
    head = b"\xc0\x0c" + _TYPE_CLASS_TTL.pack(qtype, CLASS_IN, ttl)
    parts = [head + _TWO.pack(len(rdata)) + rdata for rdata in rdatas]
    if sigs is None:
        tail = b"".join(parts)
        return (AA, tail, len(rdatas), 0, 0, len(tail), 0, (), -1, ())
    head = b"\xc0\x0c" + _TYPE_CLASS_TTL.pack(RRSIG, CLASS_IN, ttl)
    parts += [head + _TWO.pack(len(rdata)) + rdata for rdata in sigs]
    tail = b"".join(parts)
    count = len(parts)
    return (AA, tail, count, 0, 0, len(tail), 0, (), -1, ((len(tail), count, 0),))


def _shares_below(lower: bytes, anchor: int, below: frozenset[bytes]) -> bool:
    """Whether a suffix of the name, below the anchor, is one of the names `below`."""
    pos = 0
    while pos < anchor:
        if lower[pos:] in below:
            return True
        pos += lower[pos] + 1
    return False


def _keep(cache: dict[Any, Any], key: object, prepared: object) -> None:
    if len(cache) >= RESPONSE_CACHE_LIMIT:
        cache.clear()
    cache[key] = prepared


def stamp(msg: bytes, query: Query, prepared: Prepared, limit: int, payload: int,
          extra: bytes = b"") -> bytes:
    """Copy the client's ID, RD/CD flags and question into a prepared answer; truncate to
    limit. `extra`: EDNS options for the response's OPT record."""
    return _stamp(msg, query.id, query.flags, query.question_end, query.edns, query.do,
                  prepared, limit, payload, extra)


def _stamp(msg: bytes, ident: int, qflags: int, question_end: int, edns_: bool, do: bool,
           prepared: Prepared, limit: int, payload: int, extra: bytes) -> bytes:
    question = msg[12:question_end]
    opt = opt_record(payload, do) if edns_ else b""
    if extra:
        opt = with_options(opt, extra)
    pflags, tail, an, ns, ar, required_len, required_ar, optional, _, partial = prepared
    flags = QR | (pflags & 0xFFFF) | (qflags & (RD | CD))
    room = limit - 12 - len(question) - len(opt)
    if len(tail) > room:
        if required_len > room:
            # The required records do not fit: TC, so the client retries on TCP, with none
            # of them, or for a signed answer the whole RRsets that fit, as NSD and Knot do.
            if room < 0:  # nor do the EDNS options: leave them out
                opt = opt_record(payload, do)
            cut = an = ns = 0
            for end, an_count, ns_count in partial:
                if end > room:
                    break
                cut, an, ns = end, an_count, ns_count
            return (_HEADER.pack(ident, flags | TC, 1, an, ns, 1 if opt else 0) + question
                    + tail[:cut] + opt)
        ar = required_ar
        cut = required_len
        for end, count in optional:
            if end > room:
                break
            cut, ar = end, count
        tail = tail[:cut]
    if opt:
        ar += 1
    return _HEADER.pack(ident, flags, 1, an, ns, ar) + question + tail + opt


def _header_only(msg: bytes, rcode: int) -> bytes:
    ident = msg[0:2]
    flags = (msg[2] << 8) | msg[3]
    flags = QR | (flags & (OPCODE_MASK | RD | CD)) | rcode
    return ident + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


def _error(query: Query, msg: bytes, rcode: int, payload: int | None = None,
           extra: bytes = b"") -> bytes:
    """An error response echoing the question (and OPT, with `extra`'s options and the
    rcode's upper bits: BADVERS, BADCOOKIE)."""
    flags = QR | (query.flags & (OPCODE_MASK | RD | CD)) | (rcode & 0xF)
    opt = b""
    if query.edns and payload is not None:
        opt = opt_record(payload, query.do, rcode >> 4)
        if extra:
            opt = with_options(opt, extra)
    return (_HEADER.pack(query.id, flags, 1, 0, 0, 1 if opt else 0)
            + msg[12 : query.question_end] + opt)
