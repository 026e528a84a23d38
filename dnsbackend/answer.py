"""The answer engine: query bytes and a store snapshot in, response bytes out (no I/O).

Resolution follows RFC 1034 section 4.3.2 with what came after it: wildcards per RFC 4592,
DNAME per RFC 6672, negative answers per RFC 2308, ANY per RFC 8482, EDNS per RFC 6891.
A response is computed once per (zone version, name, type, DO, transport) and kept with
the zone version; later queries copy the client's ID, flags and question into it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from .compile import Node
from .snapshot import RESPONSE_CACHE_LIMIT, Snapshot, ZoneView
from .wire import (
    AA,
    AAAA,
    ANY,
    AXFR,
    BADVERS,
    CLASS_IN,
    CNAME,
    DNAME,
    DS,
    FORMERR,
    IXFR,
    MAILA,
    MAILB,
    MX,
    NOERROR,
    NOTIMP,
    NS,
    NXDOMAIN,
    OPT,
    PTR,
    QR,
    RD,
    REFUSED,
    RRSIG,
    SOA,
    SRV,
    TC,
    YXDOMAIN,
    A,
    FormatError,
    Query,
    Writer,
    label_starts,
    opt_record,
    parse_fields,
)

MAX_CHAIN: Final = 16  # CNAME/DNAME hops followed before giving up (loops end earlier)
# Answers made up for the query name (wildcard, DNAME) are kept only up to this size: the
# client chooses those names freely, so big ones would fill memory one name at a time.
SYNTHESIZED_CACHE_MAX: Final = 1232
CD: Final = 0x0010
_HEADER: Final = struct.Struct("!HHHHHH")
_TYPE_CLASS_TTL: Final = struct.Struct("!HHI")
_TWO: Final = struct.Struct("!H")


class RRset(NamedTuple):
    owner: bytes  # wire form, the letter case to show
    rtype: int
    ttl: int
    rdatas: tuple[bytes, ...]


@dataclass
class Result:
    """The sections of an answer before encoding."""

    rcode: int = NOERROR
    aa: bool = True
    answer: list[RRset] = field(default_factory=list)
    authority: list[RRset] = field(default_factory=list)
    required: list[RRset] = field(default_factory=list)  # additional data that must fit (glue)
    optional: list[RRset] = field(default_factory=list)  # additional data that may be left out
    cacheable: bool = True
    leaves_zones: bool = False  # a chain points out of every served zone (one may be added)
    synthesized: bool = False  # made up for this query name (wildcard or DNAME)
    name_dependent: bool = False  # a chain stopped because it came back to the query name


# An encoded answer whose question is at offset 12, ready to be stamped per query. A plain
# tuple, not a class: the caches hold hundreds of thousands, and the garbage collector
# stops tracking a tuple of bytes and ints but would scan every instance of a class.
#   (flags: AA and rcode bits,
#    tail: answer, authority and additional sections,
#    an, ns, ar: the section counts,
#    required_len: bytes of tail that must fit, else the response is truncated,
#    required_ar: additional records within required_len (glue),
#    optional: (tail length, additional count) after each optional RRset, for cutting,
#    catalog_txn: valid only for this catalog transaction; -1: for any)
Prepared = tuple[int, bytes, int, int, int, int, int, tuple[tuple[int, int], ...], int]
_TXN: Final = 8  # index of catalog_txn (the tail is [1])


@dataclass
class Settings:
    """What the engine needs from the configuration."""

    udp_payload: int = 1232  # the EDNS payload size we advertise and honour at most


# ---------------------------------------------------------------------------------------
# Entry point


def answer(msg: bytes, snapshot: Snapshot, tcp: bool = False,
           settings: Settings | None = None) -> bytes | None:
    """The response to one query message, or None when it must be dropped."""
    if len(msg) < 12:
        return None
    flags = (msg[2] << 8) | msg[3]
    if flags & QR:
        return None
    opcode = (flags >> 11) & 0xF
    try:
        fields = parse_fields(msg)
    except FormatError:
        return _header_only(msg, FORMERR if opcode == 0 else NOTIMP)
    ident, qflags, qname, qtype, qclass, question_end, edns, client_payload, version, do = \
        fields
    payload = settings.udp_payload if settings else snapshot.udp_payload
    if opcode or qtype in _REFUSED_TYPES or qclass != CLASS_IN or (edns and version):
        return _refuse(Query(*fields), msg, opcode, payload)
    lower = qname.lower()
    zone = _zone_for(snapshot, lower, qtype)
    if zone is None:
        return _error(Query(*fields), msg, REFUSED, payload)
    tcp_any = tcp and qtype == ANY
    key = (lower, qtype, tcp_any)
    prepared = zone.responses.get(key)
    if prepared is None or prepared[_TXN] not in (-1, snapshot.txn_id):
        prepared = _prepare(snapshot, zone, qname, lower, qtype, tcp, key)
    if tcp:
        limit = 65535
    elif edns:
        limit = max(512, min(client_payload, payload))
    else:
        limit = 512
    return _stamp(msg, ident, qflags, question_end, edns, do, prepared, limit, payload)


def _refuse(query: Query, msg: bytes, opcode: int, payload: int) -> bytes:
    """The error for a query we do not answer from a zone, by the first reason that applies."""
    if opcode != 0:
        return _error(query, msg, NOTIMP, payload)  # with OPT if asked with it (RFC 6891)
    if query.edns and query.edns_version > 0:
        return _error(query, msg, BADVERS, payload)
    qtype = query.qtype
    if qtype == OPT or 128 <= qtype < 251:
        return _error(query, msg, FORMERR, payload)
    if query.qclass != CLASS_IN:
        return _error(query, msg, REFUSED, payload)
    if qtype in (MAILA, MAILB):
        return _error(query, msg, NOTIMP, payload)
    return _error(query, msg, REFUSED, payload)  # AXFR, IXFR


def _prepare(snapshot: Snapshot, zone: ZoneView, qname: bytes, lower: bytes, qtype: int,
             tcp: bool, key: tuple[bytes, int, bool]) -> Prepared:
    """The prepared answer on a miss of the name's own cache entry.

    A name below a zone cut, or absent from the zone, gets an answer that does not depend
    on its labels below the cut or the closest encloser: those answers are kept once per
    (where it landed, type, length of the name), so that a stream of random names (a
    random-subdomain flood, a wildcard's clients) costs a walk down the tree, not a
    resolution and an encoding each.
    """
    landed = locate(zone, lower)
    outcome_key: tuple[int, bytes, int, bool, int] | None = None
    anchor = 0
    if landed is not None:
        kind, anchor, node = landed
        if kind == EXACT:
            assert node is not None
            if qtype == ANY or CNAME in node or (NS in node and node is not zone.apex
                                                 and qtype != DS):
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
    # StaleSnapshot goes up: the caller takes a fresh snapshot and asks again.
    result = resolve(snapshot, zone, qname, qtype, tcp)
    txn = snapshot.txn_id if result.leaves_zones else -1
    if outcome_key is not None and not result.name_dependent:
        prepared, below = encode_anchored(qname, result, txn, anchor)
        if result.cacheable:
            _keep(zone.outcomes, outcome_key, (prepared, below))
        if not below or not _shares_below(lower, anchor, below):
            if kind == NO_DATA and result.cacheable:
                _keep(zone.responses, key, prepared)
            return prepared
    prepared = encode(qname, result, txn)
    if result.cacheable and not (result.synthesized and
                                 len(prepared[1]) > SYNTHESIZED_CACHE_MAX):
        _keep(zone.responses, key, prepared)
    return prepared


# Types answered from the node as they are: no names in the rdata to compress (RFC 3597
# section 4 allows compression only in the RFC 1035 types) and no additional section.
_PLAIN_TYPES: Final = frozenset(range(65536)) - {NS, CNAME, PTR, MX, SOA, SRV, ANY}


def _plain_answer(qtype: int, data: tuple[int, tuple[bytes, ...]]) -> Prepared:
    """The answer RRset of a plain type at the query name, owner a pointer to the question:
    what resolve() and encode() give, without building either."""
    ttl, rdatas = data
    head = b"\xc0\x0c" + _TYPE_CLASS_TTL.pack(qtype, CLASS_IN, ttl)
    tail = b"".join([head + _TWO.pack(len(rdata)) + rdata for rdata in rdatas])
    return (AA, tail, len(rdatas), 0, 0, len(tail), 0, (), -1)


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


def stamp(msg: bytes, query: Query, prepared: Prepared, limit: int, payload: int) -> bytes:
    """Copy the client's ID, RD/CD flags and question into a prepared answer; truncate to limit."""
    return _stamp(msg, query.id, query.flags, query.question_end, query.edns, query.do,
                  prepared, limit, payload)


def _stamp(msg: bytes, ident: int, qflags: int, question_end: int, edns: bool, do: bool,
           prepared: Prepared, limit: int, payload: int) -> bytes:
    question = msg[12:question_end]
    opt = opt_record(payload, do) if edns else b""
    pflags, tail, an, ns, ar, required_len, required_ar, optional, _ = prepared
    flags = QR | pflags | (qflags & (RD | CD))
    room = limit - 12 - len(question) - len(opt)
    if len(tail) > room:
        if required_len > room:
            # The required records do not fit: send none, with TC, so the client retries on TCP.
            return _HEADER.pack(ident, flags | TC, 1, 0, 0, 1 if opt else 0) + question + opt
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
    flags = QR | (flags & (0x7800 | RD | CD)) | rcode
    return ident + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


def _error(query: Query, msg: bytes, rcode: int, payload: int | None = None) -> bytes:
    """An error response echoing the question (and OPT, carrying BADVERS's upper bits)."""
    flags = QR | (query.flags & (0x7800 | RD | CD)) | (rcode & 0xF)
    opt = b""
    if query.edns and payload is not None:
        opt = opt_record(payload, query.do, rcode >> 4)
    return (_HEADER.pack(query.id, flags, 1, 0, 0, 1 if opt else 0)
            + msg[12 : query.question_end] + opt)


# ---------------------------------------------------------------------------------------
# Resolution


def resolve(snapshot: Snapshot, zone: ZoneView, qname: bytes, qtype: int, tcp: bool) -> Result:
    """The sections of the answer to (qname, qtype) from the zones of one snapshot."""
    result = Result()
    name = qname
    qname_lower = qname.lower()
    seen: set[bytes] = set()
    for hop in range(MAX_CHAIN + 1):
        lower = name.lower()
        seen.add(lower)
        target = _lookup(zone, name, lower, qtype, tcp, result, first=(hop == 0))
        if target is None:
            return result
        target_lower = target.lower()
        if target_lower in seen:
            # A loop: the chain so far is the answer.
            result.name_dependent = target_lower == qname_lower
            return result
        next_zone = _zone_for(snapshot, target_lower, qtype)
        if next_zone is None:
            # The chain leaves our zones: the resolver follows it. Should a zone for the
            # target be added, this answer changes though no zone of it did.
            result.leaves_zones = True
            return result
        if next_zone is not zone:
            result.cacheable = False  # depends on two zones' versions
        zone = next_zone
        name = target
    return result


# Query types answered with an error: meta types (FORMERR), zone transfers (REFUSED),
# MAILA/MAILB (NOTIMP).
_REFUSED_TYPES: Final = frozenset([OPT, AXFR, IXFR, MAILA, MAILB, *range(128, 251)])

# Where the first step of a resolution lands, for `locate`.
BELOW_CUT: Final = 1  # under a delegation: the referral
NOT_FOUND: Final = 2  # no such name: the wildcard at the closest encloser, or NXDOMAIN
EXACT: Final = 3  # the name exists
NO_DATA: Final = 4  # the name exists, without the type (an outcome key kind, not from locate)


def locate(zone: ZoneView, lower: bytes) -> tuple[int, int, Node | None] | None:
    """Where the first step of resolving a name lands, by the same walk as `_lookup`:
    (BELOW_CUT, offset of the cut, None), (NOT_FOUND, offset of the closest encloser, None)
    or (EXACT, 0, the name's node); None when a DNAME above the name rewrites it."""
    starts = label_starts(lower)
    below = len(starts) - zone.depth
    node: Node | None = zone.apex
    for i in range(below, 0, -1):
        if i < below:
            node = zone.node(lower[starts[i]:])
            if node is None:
                return NOT_FOUND, starts[i + 1], None
            if NS in node:
                return BELOW_CUT, starts[i], None
        assert node is not None
        if DNAME in node:
            return None
    if below > 0:
        node = zone.node(lower)
        if node is None:
            return NOT_FOUND, starts[1], None
    return EXACT, 0, node


def _zone_for(snapshot: Snapshot, lower: bytes, qtype: int) -> ZoneView | None:
    """The zone that answers for a name: the closest one, but its parent for DS at an apex.

    DS lives on the parent side of a cut (RFC 4035 section 3.1.4.1); without a served
    parent the child answers (NODATA).
    """
    zone = snapshot.find_zone(lower)
    if qtype == DS and zone is not None and lower == zone.origin_lower and lower != b"\x00":
        parent = snapshot.find_zone(lower[lower[0] + 1:])
        if parent is not None:
            return parent
    return zone


def _lookup(zone: ZoneView, name: bytes, lower: bytes, qtype: int, tcp: bool,
            result: Result, first: bool) -> bytes | None:
    """Answer `name` from one zone into `result`; return a name to follow, or None when done."""
    starts = label_starts(lower)
    below = len(starts) - zone.depth  # labels between the apex and the name
    node: Node | None = zone.apex
    # Walk down from the apex: a zone cut or DNAME above the name decides before the name does.
    for i in range(below, -1, -1):
        if i < below:
            node = zone.node(lower[starts[i]:])
            if node is None:
                return _not_found(zone, name, lower, starts, i + 1, qtype, tcp, result)
        assert node is not None
        if i == 0:
            break
        if i < below and NS in node:
            return _referral(zone, name[starts[i]:], node, result, first)
        if DNAME in node:
            return _dname(name, starts[i], node, qtype, result)
    assert node is not None
    if below > 0 and NS in node and qtype != DS:
        return _referral(zone, name, node, result, first)
    return _from_node(zone, name, node, qtype, tcp, result)


def _from_node(zone: ZoneView, owner: bytes, node: Node, qtype: int, tcp: bool,
               result: Result) -> bytes | None:
    """Answer from a node that matched (exactly, or as the source of a wildcard)."""
    if qtype == ANY and node:
        types = sorted(t for t in node if t != RRSIG) or sorted(node)
        for rtype in (types if tcp else types[:1]):
            result.answer.append(_rrset(owner, rtype, node[rtype]))
        return None
    cname = node.get(CNAME)
    if cname is not None and qtype != CNAME:
        result.answer.append(_rrset(owner, CNAME, cname))
        return cname[1][0]
    data = node.get(qtype)
    if data is None:
        _negative(zone, result, NOERROR)
        return None
    rrset = _rrset(owner, qtype, data)
    result.answer.append(rrset)
    _additional(zone, rrset, result)
    return None


def _not_found(zone: ZoneView, name: bytes, lower: bytes, starts: list[int], encloser: int,
               qtype: int, tcp: bool, result: Result) -> bytes | None:
    """No node at `name`: synthesize from the wildcard at the closest encloser, or NXDOMAIN."""
    wildcard = zone.node(b"\x01*" + lower[starts[encloser]:])
    if wildcard is not None:
        result.synthesized = True
        return _from_node(zone, name, wildcard, qtype, tcp, result)
    _negative(zone, result, NXDOMAIN)
    return None


def _referral(zone: ZoneView, cut: bytes, node: Node, result: Result,
              first: bool) -> bytes | None:
    """A delegation: the child's NS set in authority, addresses of its servers as glue."""
    if first:
        result.aa = False
    ns = _rrset(cut, NS, node[NS])
    result.authority.append(ns)
    cut_lower = cut.lower()
    for target in ns.rdatas:
        t_lower = target.lower()
        inside = t_lower.endswith(cut_lower) and _is_subdomain(t_lower, cut_lower)
        _addresses(zone, target, result.required if inside else result.optional)
    return None


def _dname(name: bytes, at: int, node: Node, qtype: int, result: Result) -> bytes | None:
    """RFC 6672: answer the DNAME and a CNAME synthesized from it, then follow the CNAME."""
    ttl, rdatas = node[DNAME]
    result.answer.append(RRset(name[at:], DNAME, ttl, rdatas))
    # The prefix in lower case, as NSD does: the answer is cached and shared by every
    # spelling of the query name, so it must not depend on the first client's.
    target = name[:at].lower() + rdatas[0]
    if len(target) > 255:
        result.rcode = YXDOMAIN
        return None
    result.answer.append(RRset(name, CNAME, ttl, (target,)))
    result.synthesized = True
    return None if qtype == CNAME else target


def _negative(zone: ZoneView, result: Result, rcode: int) -> None:
    result.rcode = rcode
    meta = zone.meta
    result.authority.append(RRset(meta.origin, SOA, meta.negative_ttl, (meta.soa_rdata,)))


def _additional(zone: ZoneView, rrset: RRset, result: Result) -> None:
    """Addresses of in-zone NS, MX and SRV targets (RFC 1035 section 3.3, RFC 2782)."""
    if rrset.rtype == NS:
        targets = list(rrset.rdatas)
    elif rrset.rtype == MX:
        targets = [r[2:] for r in rrset.rdatas]
    elif rrset.rtype == SRV:
        targets = [r[6:] for r in rrset.rdatas]
    else:
        return
    for target in targets:
        _addresses(zone, target, result.optional)


def _addresses(zone: ZoneView, target: bytes, into: list[RRset]) -> None:
    t_lower = target.lower()
    if not _is_subdomain(t_lower, zone.origin_lower):
        return
    node = zone.node(t_lower)
    if not node:
        return
    for rtype in (A, AAAA):
        data = node.get(rtype)
        if data is not None:
            rrset = _rrset(target, rtype, data)
            if rrset not in into:
                into.append(rrset)


def _is_subdomain(lower: bytes, parent_lower: bytes) -> bool:
    if not lower.endswith(parent_lower):
        return False
    if len(lower) == len(parent_lower) or parent_lower == b"\x00":
        return True
    # The suffix must start at a label boundary.
    return parent_lower in {lower[p:] for p in label_starts(lower)}


def _rrset(owner: bytes, rtype: int, data: tuple[int, tuple[bytes, ...]]) -> RRset:
    return RRset(owner, rtype, data[0], data[1])


# ---------------------------------------------------------------------------------------
# Encoding


def encode(qname: bytes, result: Result, catalog_txn: int = -1, anchor: int = 0) -> Prepared:
    """Encode the sections once, compressed against a question at offset 12."""
    return _encode(Writer(qname, anchor), result, catalog_txn)


def encode_anchored(qname: bytes, result: Result, catalog_txn: int,
                    anchor: int) -> tuple[Prepared, frozenset[bytes]]:
    """Encode an answer that came from the cut or closest encloser at offset `anchor`.

    Names are compressed only against the question from the anchor up, and the question
    name itself is written only as the owner of the answer made for it. The encoding then
    fits every query name of the same length that lands at the same place, and is the
    one `encode` gives, unless a suffix of the query name below the anchor is one of the
    names written: those come back as the frozenset, and such a query name needs its own.
    """
    w = Writer(qname, anchor)
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


def _encode(w: Writer, result: Result, catalog_txn: int) -> Prepared:
    an = ns = 0
    for rrset in result.answer:
        an += _put(w, rrset)
    for rrset in result.authority:
        ns += _put(w, rrset)
    ar = 0
    for rrset in result.required:
        ar += _put(w, rrset)
    required_len = len(w.buf)
    required_ar = ar
    optional = []
    for rrset in result.optional:
        ar += _put(w, rrset)
        optional.append((len(w.buf), ar))
    flags = (AA if result.aa else 0) | (result.rcode & 0xF)
    return (flags, bytes(w.buf), an, ns, ar, required_len, required_ar, tuple(optional),
            catalog_txn)


def _put(w: Writer, rrset: RRset) -> int:
    for rdata in rrset.rdatas:
        w.rr(rrset.owner, rrset.rtype, rrset.ttl, rdata)
    return len(rrset.rdatas)
