"""Resolution: the sections of an answer from the zones of one snapshot (no encoding).

RFC 1034 section 4.3.2 with what came after it: wildcards per RFC 4592, DNAME per RFC 6672,
negative answers per RFC 2308, ANY per RFC 8482, DS on the parent side per RFC 4035.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, NamedTuple

from ..store.format import Node
from ..store.snapshot import Snapshot, ZoneView
from ..wire.codes import (
    AAAA,
    ANY,
    CNAME,
    DNAME,
    DS,
    MX,
    NOERROR,
    NS,
    NXDOMAIN,
    RRSIG,
    SOA,
    SRV,
    YXDOMAIN,
    A,
)
from ..wire.message import label_starts

MAX_CHAIN: Final = 16  # CNAME/DNAME hops followed before giving up (loops end earlier)


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
        next_zone = zone_for(snapshot, target_lower, qtype)
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


def zone_for(snapshot: Snapshot, lower: bytes, qtype: int) -> ZoneView | None:
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
