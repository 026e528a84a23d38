"""The answer engine: query bytes and a store snapshot in, response bytes out (no I/O).

Resolution follows RFC 1034 section 4.3.2 with what came after it: wildcards per RFC 4592,
DNAME per RFC 6672, negative answers per RFC 2308, ANY per RFC 8482, EDNS per RFC 6891.
A response is computed once per (zone version, name, type, DO, transport) and kept with
the zone version; later queries copy the client's ID, flags and question into it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

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
    parse_query,
)

MAX_CHAIN = 16  # CNAME/DNAME hops followed before giving up (loops end earlier)
# Answers made up for the query name (wildcard, DNAME) are kept only up to this size: the
# client chooses those names freely, so big ones would fill memory one name at a time.
SYNTHESIZED_CACHE_MAX = 1232
CD = 0x0010
_HEADER = struct.Struct("!HHHHHH")


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


class Prepared(NamedTuple):
    """An encoded answer whose question is at offset 12; ready to be stamped per query."""

    flags: int  # AA and rcode bits
    tail: bytes  # answer, authority and additional sections
    an: int
    ns: int
    ar: int
    required_len: int  # bytes of tail that must fit, else the response is truncated
    required_ar: int  # additional records within required_len (glue)
    # (tail length, additional count) after each optional RRset, for cutting to size
    optional: tuple[tuple[int, int], ...]
    catalog_txn: int  # valid only for this catalog transaction; -1: for any


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
        query = parse_query(msg)
    except FormatError:
        return _header_only(msg, FORMERR if opcode == 0 else NOTIMP)
    payload = settings.udp_payload if settings else snapshot.udp_payload
    if opcode != 0:
        return _error(query, msg, NOTIMP, payload)  # with OPT if asked with it (RFC 6891)
    if query.edns and query.edns_version > 0:
        return _error(query, msg, BADVERS, payload)
    qtype = query.qtype
    if qtype == OPT or 128 <= qtype < 251:
        return _error(query, msg, FORMERR, payload)
    if query.qclass != CLASS_IN:
        return _error(query, msg, REFUSED, payload)
    if qtype in (AXFR, IXFR):
        return _error(query, msg, REFUSED, payload)
    if qtype in (MAILA, MAILB):
        return _error(query, msg, NOTIMP, payload)
    lower = query.qname.lower()
    zone = _zone_for(snapshot, lower, qtype)
    if zone is None:
        return _error(query, msg, REFUSED, payload)
    key = (lower, qtype, query.do, tcp and qtype == ANY)
    prepared = zone.responses.get(key)
    if prepared is None or prepared.catalog_txn not in (-1, snapshot.txn_id):
        # StaleSnapshot goes up: the caller takes a fresh snapshot and asks again.
        result = resolve(snapshot, zone, query.qname, qtype, tcp)
        prepared = encode(query.qname, result, snapshot.txn_id if result.leaves_zones else -1)
        if result.cacheable and not (result.synthesized and
                                     len(prepared.tail) > SYNTHESIZED_CACHE_MAX):
            if len(zone.responses) >= RESPONSE_CACHE_LIMIT:
                zone.responses.clear()
            zone.responses[key] = prepared
    if tcp:
        limit = 65535
    elif query.edns:
        limit = max(512, min(query.payload, payload))
    else:
        limit = 512
    return stamp(msg, query, prepared, limit, payload)


def stamp(msg: bytes, query: Query, prepared: Prepared, limit: int, payload: int) -> bytes:
    """Copy the client's ID, RD/CD flags and question into a prepared answer; truncate to limit."""
    question = msg[12 : query.question_end]
    opt = opt_record(payload, query.do) if query.edns else b""
    flags = QR | prepared.flags | (query.flags & (RD | CD))
    ar = prepared.ar
    tail = prepared.tail
    room = limit - 12 - len(question) - len(opt)
    if len(tail) > room:
        if prepared.required_len > room:
            # The required records do not fit: send none, with TC, so the client retries on TCP.
            return _HEADER.pack(query.id, flags | TC, 1, 0, 0, 1 if opt else 0) + question + opt
        ar = prepared.required_ar
        cut = prepared.required_len
        for end, count in prepared.optional:
            if end > room:
                break
            cut, ar = end, count
        tail = tail[:cut]
    an, ns = prepared.an, prepared.ns
    if opt:
        ar += 1
    return _HEADER.pack(query.id, flags, 1, an, ns, ar) + question + tail + opt


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
    seen: set[bytes] = set()
    for hop in range(MAX_CHAIN + 1):
        lower = name.lower()
        seen.add(lower)
        target = _lookup(zone, name, lower, qtype, tcp, result, first=(hop == 0))
        if target is None:
            return result
        target_lower = target.lower()
        if target_lower in seen:
            return result  # a loop: the chain so far is the answer
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


def encode(qname: bytes, result: Result, catalog_txn: int = -1) -> Prepared:
    """Encode the sections once, compressed against a question at offset 12."""
    w = Writer(qname)
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
    return Prepared(flags, bytes(w.buf), an, ns, ar, required_len, required_ar, tuple(optional),
                    catalog_txn)


def _put(w: Writer, rrset: RRset) -> int:
    for rdata in rrset.rdatas:
        w.rr(rrset.owner, rrset.rtype, rrset.ttl, rdata)
    return len(rrset.rdatas)
