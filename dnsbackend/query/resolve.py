"""Resolution: the sections of an answer from the zones of one snapshot (no encoding).

RFC 1034 section 4.3.2 with what came after it: wildcards per RFC 4592, DNAME per RFC 6672,
negative answers per RFC 2308, ANY per RFC 8482, DS on the parent side per RFC 4035. With
`dnssec` (DO=1, a signed zone), RFC 4035 section 3.1: RRsets carry their signatures, and
the proofs of denial (query.denial says which NSEC records) go in the authority section.
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
    KEY,
    MX,
    NOERROR,
    NS,
    NSEC,
    NSEC3,
    NXDOMAIN,
    RRSIG,
    SERVFAIL,
    SOA,
    SRV,
    YXDOMAIN,
    A,
)
from ..wire.message import label_starts
from . import denial

MAX_CHAIN: Final = 16  # CNAME/DNAME hops followed before giving up (loops end earlier)
# Types that may live beside a CNAME (RFC 4035 section 2.5: RRSIG and NSEC; RFC 2535's
# SIG, KEY and NXT): asked at a CNAME owner, the owner answers them, or NODATA, and the
# CNAME is not followed (as BIND's dns_rdatatype_atcname and Knot do).
_AT_CNAME: Final = frozenset([24, KEY, 30, RRSIG, NSEC])


class RRset(NamedTuple):
    owner: bytes  # wire form, the letter case to show
    rtype: int
    ttl: int
    rdatas: tuple[bytes, ...]
    sigs: tuple[bytes, ...] = ()  # the RRSIG rdatas covering it (DO=1), sent with its TTL


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
    dnssec: bool = False  # signatures and proofs asked for (DO=1), where a zone is signed


def resolve(snapshot: Snapshot, zone: ZoneView, qname: bytes, qtype: int, tcp: bool,
            dnssec: bool = False) -> Result:
    """The sections of the answer to (qname, qtype) from the zones of one snapshot; with
    `dnssec`, signed (RFC 4035 section 3.1) where the zone is."""
    result = Result(dnssec=dnssec)
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
            return _dname(zone, name, starts[i], node, qtype, result)
    assert node is not None
    if below > 0 and NS in node and qtype != DS:
        return _referral(zone, name, node, result, first)
    return _from_node(zone, name, node, qtype, tcp, result)


def _from_node(zone: ZoneView, owner: bytes, node: Node, qtype: int, tcp: bool,
               result: Result, source: bytes | None = None) -> bytes | None:
    """Answer from a node that matched: exactly, or as the source of a wildcard (`source`,
    the wildcard's lower-case name; the signed answer then proves the query name absent)."""
    signed = result.dnssec and zone.signed
    if qtype == ANY and node:
        types = sorted(t for t in node if t != RRSIG) or sorted(node)
        for rtype in (types if tcp else types[:1]):
            result.answer.append(_rrset(owner, rtype, node, signed))
        return None
    data = node.get(qtype)
    if data is None:
        cname = None if qtype in _AT_CNAME else node.get(CNAME)
        if cname is not None:  # a CNAME owner's NSEC and RRSIG are its own (RFC 4035)
            result.answer.append(_rrset(owner, CNAME, node, signed))
            return cname[1][0]
        _negative(zone, result, NOERROR)
        if signed:
            _proof(zone, result, denial.nodata(zone, source or owner.lower(), node))
        return None
    rrset = RRset(owner, qtype, data[0], data[1], rrsigs(node, qtype) if signed else ())
    result.answer.append(rrset)
    _additional(zone, rrset, result)
    return None


def _not_found(zone: ZoneView, name: bytes, lower: bytes, starts: list[int], encloser: int,
               qtype: int, tcp: bool, result: Result) -> bytes | None:
    """No node at `name`: synthesize from the wildcard at the closest encloser, or NXDOMAIN."""
    at = starts[encloser]
    source = b"\x01*" + lower[at:]
    wildcard = zone.node(source)
    if result.dnssec and zone.signed:
        owners = absent_proof(zone, lower, at, wildcard, qtype)
        return _absent(zone, name, lower, source, wildcard, qtype, tcp, result, owners)
    if wildcard is not None:
        result.synthesized = True
        return _from_node(zone, name, wildcard, qtype, tcp, result, source)
    _negative(zone, result, NXDOMAIN)
    return None


def absent_proof(zone: ZoneView, lower: bytes, at: int, wildcard: Node | None,
                 qtype: int) -> list[bytes | None]:
    """The owners of the records proving a name without a node absent, its closest
    encloser at offset `at` (the wildcard there, `wildcard`, or None): NXDOMAIN's proof,
    or that of an answer synthesized from the wildcard (no closer name exists)."""
    if wildcard is None:
        return denial.nxdomain(zone, lower, lower[at:])
    return denial.wildcard(zone, lower, lower[at:], not _gives_records(wildcard, qtype))


def absent(zone: ZoneView, qname: bytes, lower: bytes, at: int, wildcard: Node | None,
           qtype: int, tcp: bool, owners: list[bytes | None]) -> tuple[Result, bool]:
    """resolve()'s signed answer for a name without a node in the zone it starts in, the
    proof's owners given (absent_proof's); with whether it is whole: False when the
    wildcard holds a CNAME to follow (resolve() then gives the answer)."""
    result = Result(dnssec=True)
    target = _absent(zone, qname, lower, b"\x01*" + lower[at:], wildcard, qtype, tcp, result,
                     owners)
    return result, target is None


def _absent(zone: ZoneView, name: bytes, lower: bytes, source: bytes, wildcard: Node | None,
            qtype: int, tcp: bool, result: Result, owners: list[bytes | None]) -> bytes | None:
    """_not_found() signed: the wildcard's answer (at `source`) or NXDOMAIN, with the proof
    of the records `owners`."""
    if wildcard is not None:
        result.synthesized = True
        target = _from_node(zone, name, wildcard, qtype, tcp, result, source)
        if not _proof(zone, result, owners):  # no closer name exists
            return None
        return target
    _negative(zone, result, NXDOMAIN)
    _proof(zone, result, owners)
    return None


def _gives_records(node: Node, qtype: int) -> bool:
    """Whether _from_node() answers from a node with records (of the type, ANY's, or a
    CNAME to follow), rather than NODATA."""
    return (qtype == ANY and bool(node)) or qtype in node or (
        qtype not in _AT_CNAME and CNAME in node)


def _referral(zone: ZoneView, cut: bytes, node: Node, result: Result,
              first: bool) -> bytes | None:
    """A delegation: the child's NS set in authority, addresses of its servers as glue."""
    if first:
        result.aa = False
    ns = _rrset(cut, NS, node, False)  # the child's: never signed by the parent
    result.authority.append(ns)
    if result.dnssec and zone.signed:
        if DS in node:
            result.authority.append(_rrset(cut, DS, node, True))
        else:
            _proof(zone, result, denial.nodata(zone, cut.lower(), node))
    cut_lower = cut.lower()
    for target in ns.rdatas:
        t_lower = target.lower()
        inside = t_lower.endswith(cut_lower) and _is_subdomain(t_lower, cut_lower)
        if inside:
            _addresses(zone, target, result.required)
        else:
            _addresses(zone, target, result.optional, result.dnssec)
    return None


def _dname(zone: ZoneView, name: bytes, at: int, node: Node, qtype: int,
           result: Result) -> bytes | None:
    """RFC 6672: answer the DNAME and a CNAME synthesized from it, then follow the CNAME."""
    ttl, rdatas = node[DNAME]
    result.answer.append(_rrset(name[at:], DNAME, node, result.dnssec and zone.signed))
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
    result.authority.append(negative_soa(zone, result.dnssec))


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
        _addresses(zone, target, result.optional, result.dnssec)


def _addresses(zone: ZoneView, target: bytes, into: list[RRset], signed: bool = False) -> None:
    """The target's A and AAAA RRsets, signed with `signed` where the zone is (glue never
    is: nothing signs it)."""
    t_lower = target.lower()
    if not _is_subdomain(t_lower, zone.origin_lower):
        return
    node = zone.node(t_lower)
    if not node:
        return
    for rtype in (A, AAAA):
        data = node.get(rtype)
        if data is not None:
            rrset = _rrset(target, rtype, node, signed and zone.signed)
            if rrset not in into:
                into.append(rrset)


def _is_subdomain(lower: bytes, parent_lower: bytes) -> bool:
    if not lower.endswith(parent_lower):
        return False
    if len(lower) == len(parent_lower) or parent_lower == b"\x00":
        return True
    # The suffix must start at a label boundary.
    return parent_lower in {lower[p:] for p in label_starts(lower)}


def _rrset(owner: bytes, rtype: int, node: Node, signed: bool) -> RRset:
    """The node's RRset of a type, with the signatures covering it when `signed`."""
    ttl, rdatas = node[rtype]
    return RRset(owner, rtype, ttl, rdatas, rrsigs(node, rtype) if signed else ())


def rrsigs(node: Node, rtype: int) -> tuple[bytes, ...]:
    """The node's RRSIG rdatas that cover a type (the first two octets: type covered)."""
    found = node.get(RRSIG)
    if found is None:
        return ()
    covered = rtype.to_bytes(2, "big")
    return tuple(rdata for rdata in found[1] if rdata[:2] == covered)


def _proof(zone: ZoneView, result: Result, owners: list[bytes | None]) -> bool:
    """The NSEC or NSEC3 records of a proof, signed, in authority (each once per answer).
    False when the proof is impossible (an NSEC3 hash collision, query.denial): the answer
    is then SERVFAIL, with nothing in it but the question (RFC 5155 section 7.2.9)."""
    if result.rcode == SERVFAIL:  # a proof before it failed already
        return False
    if None in owners:
        result.rcode = SERVFAIL
        result.answer.clear()
        result.authority.clear()
        result.required.clear()
        result.optional.clear()
        return False
    for owner in owners:
        assert owner is not None
        rrset = proof_rrset(zone, owner)
        if rrset is not None and rrset not in result.authority:
            result.authority.append(rrset)
    return True


_UNSET: Final[RRset] = RRset(b"", 0, 0, ())  # not yet in ZoneView.proofs


def proof_rrset(zone: ZoneView, owner: bytes) -> RRset | None:
    """The signed NSEC or NSEC3 RRset of an owner of the chain (None if it has none), made
    once per zone version and kept in ZoneView.proofs for every answer that needs it."""
    rrset: RRset | None = zone.proofs.get(owner, _UNSET)
    if rrset is _UNSET:
        rrset = zone.proofs[owner] = _proof_rrset(zone, owner)
    return rrset


def negative_soa(zone: ZoneView, dnssec: bool) -> RRset:
    """The SOA of a negative answer: its TTL RFC 2308's (RFC 9077), signed with `dnssec`
    where the zone is."""
    meta = zone.meta
    sigs = rrsigs(zone.apex, SOA) if dnssec and zone.signed else ()
    return RRset(meta.origin, SOA, meta.negative_ttl, (meta.soa_rdata,), sigs)


def _proof_rrset(zone: ZoneView, owner: bytes) -> RRset | None:
    rtype = NSEC3 if zone.nsec3 else NSEC
    node = zone.nsec3_node(owner) if zone.nsec3 else zone.node(owner)
    if node is None or rtype not in node:
        return None
    return _rrset(owner, rtype, node, True)
