"""Signing a zone's nodes: DNSKEY/CDS/CDNSKEY at the apex, the NSEC or NSEC3 chain, and an
RRSIG per RRset, reusing the previous version's signatures wherever they still hold.

A signature is reused only for the very RRset it signed (same TTL, same rdata: a TTL change
is a new RRset, so it is signed again, never served with the old RRSIG), made by a key in
use, and not due for refresh (within a quarter of the lifetime of its expiration). So a
save re-signs what changed and the NSEC/NSEC3 records of its neighbours, and a refresh run
re-signs what is due; everything else comes back byte for byte, and the store's diff of
the signed nodes is the delta. Each new signature is verified before it is kept.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from ..store.format import Node
from ..wire.codes import DNAME, DNSKEY, NSEC, NSEC3, RRSIG
from .chain import (
    NSEC3PARAM,
    Kind,
    Nsec3Params,
    SignError,
    add_nsec,
    classify,
    nsec3_nodes,
    signed_types,
)
from .keys import SigningKey, ds_rdata

CDS = 59
CDNSKEY = 60
CLASS_IN = 1
INCEPTION_BACKDATE = 3600  # seconds: clocks of validators that run behind still accept it
JITTER_FRACTION = 0.1  # expirations spread over the last tenth of the lifetime
REFRESH_FRACTION = 0.25  # re-signed once within this part of the lifetime of expiry
# Types the signer makes: whatever the file says of these is replaced (DNSKEY, CDS and
# CDNSKEY only at the apex: the zone's own keys).
DNSSEC_TYPES = frozenset({RRSIG, NSEC, NSEC3, NSEC3PARAM})
APEX_KEY_TYPES = frozenset({DNSKEY, CDS, CDNSKEY})
# RFC 4034 §6.2 (with RFC 6840 §5.1): types whose rdata names are lower-cased to sign.
NAMED_TYPES = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 17, 18, 21, 24, 26, 30, 33, 35,
                         36, 38, DNAME})


@dataclass(frozen=True)
class SignPolicy:
    """How a zone is signed ([dnssec] and the zone's table of the settings)."""

    algorithm: str = "ecdsap256sha256"
    denial: str = "nsec"  # or "nsec3"
    lifetime: int = 14 * 86400  # seconds
    nsec3: Nsec3Params = Nsec3Params()


@dataclass
class Signed:
    """The outcome of signing: how many signatures were made and kept."""

    made: int = 0
    reused: int = 0
    dropped: list[str] = field(default_factory=list)  # what the file said that we replace


def strip_dnssec(nodes: dict[bytes, Node], apex: bytes) -> dict[bytes, Node]:
    """The zone's nodes without what the signer makes (copies: the input is not changed)."""
    out: dict[bytes, Node] = {}
    for owner, node in nodes.items():
        drop = APEX_KEY_TYPES | DNSSEC_TYPES if owner == apex else DNSSEC_TYPES
        if node.keys() & drop:
            kept = {t: v for t, v in node.items() if t not in drop}
            if not kept and node:
                continue  # a name of the old chain (an NSEC3 owner) or of signatures only
            out[owner] = kept
        else:
            out[owner] = dict(node)
    return out


def sign_nodes(plain: dict[bytes, Node], apex: bytes, soa_ttl: int, negative_ttl: int,
               keys: list[SigningKey], policy: SignPolicy, now: int,
               old: Mapping[bytes, Node] | None = None) -> tuple[dict[bytes, Node], Signed]:
    """The signed nodes of a zone from its plain ones (which are left as they are).

    `old`: the previous signed version's nodes (owner -> node), whose signatures are reused
    where they still hold."""
    nodes = strip_dnssec(plain, apex)
    stats = Signed()
    dropped = sum(len(n) for n in plain.values()) - sum(len(n) for n in nodes.values())
    if dropped:
        stats.dropped.append(f"{dropped} RRSIG, NSEC, NSEC3 or key RRsets of the file left "
                             "out: the signer makes its own")
    add_keys(nodes[apex], apex, keys, soa_ttl, policy)
    order = classify(nodes, apex)
    kinds = list(order)
    if policy.denial == "nsec3":
        extra = nsec3_nodes(nodes, order, apex, policy.nsec3, negative_ttl)
        nodes.update(extra)
        kinds += [(owner, Kind.AUTH) for owner in extra]
    else:
        add_nsec(nodes, order, negative_ttl)
    signer = Signer(apex, keys, policy, now, old or {}, stats)
    for owner, kind in kinds:
        signer.sign_node(owner, nodes[owner], kind)
    return nodes, stats


def resign_node(owner: bytes, node: Node, previous: Node, apex: bytes, keys: list[SigningKey],
                policy: SignPolicy, now: int) -> Signed:
    """Sign an authoritative node again after some of its RRsets changed in place
    (`previous`: the node before, whose signatures are kept where they still hold)."""
    stats = Signed()
    Signer(apex, keys, policy, now, {owner: previous}, stats).sign_node(owner, node, Kind.AUTH)
    return stats


def add_keys(node: Node, apex: bytes, keys: list[SigningKey], ttl: int,
              policy: SignPolicy) -> None:
    """DNSKEY, CDS and CDNSKEY (RFC 7344: the parent may follow them) at the apex."""
    origin = dns.name.from_wire(apex, 0)[0]
    dnskeys = tuple(sorted(k.dnskey for k in keys))
    node[DNSKEY] = (ttl, dnskeys)
    node[CDNSKEY] = (ttl, dnskeys)
    node[CDS] = (ttl, tuple(sorted(ds_rdata(origin, k) for k in dnskeys)))
    if policy.denial == "nsec3":
        node[NSEC3PARAM] = (0, (policy.nsec3.param_rdata(),))


def label_count(owner: bytes) -> int:
    """The RRSIG labels field: labels of the owner, less the root and a leading `*`."""
    count = 0
    i = 0
    while owner[i]:
        count += 1
        i += owner[i] + 1
    return count - 1 if owner[:2] == b"\x01*" else count


def canonical_rdata(rtype: int, rdata: bytes) -> bytes:
    """RFC 4034 §6.2: the rdata with its names in lower case (for the types that have them)."""
    if rtype not in NAMED_TYPES:
        return rdata
    parsed = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), rdata,
                                 0, len(rdata))
    return bytes(parsed.to_digestable())


def signed_data(owner: bytes, rtype: int, ttl: int, rdatas: tuple[bytes, ...],
                head: bytes) -> bytes:
    """RFC 4034 §3.1.8.1: what an RRSIG signs (its rdata `head` before the signature, then
    the RRset in canonical form and order)."""
    prefix = owner + struct.pack("!HHI", rtype, CLASS_IN, ttl)
    out = [head]
    for rdata in sorted({canonical_rdata(rtype, r) for r in rdatas}):
        out.append(prefix + struct.pack("!H", len(rdata)) + rdata)
    return b"".join(out)


def rrsig_fields(rdata: bytes) -> tuple[int, int, int, int, int, int]:
    """(type covered, algorithm, original TTL, expiration, inception, key tag)."""
    covered, algorithm, _, ttl, expiration, inception, tag = struct.unpack_from(
        "!HBBIIIH", rdata)
    return covered, algorithm, ttl, expiration, inception, tag


def _serial_after(a: int, b: int) -> bool:
    """a later than b in RFC 1982 arithmetic, as RRSIG times compare (RFC 4034 §3.1.5)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


class Signer:
    """Signs node after node, taking the old version's signatures where they still hold."""

    nsec3: Nsec3Params  # the zone's NSEC3 parameters (when it has NSEC3)

    def __init__(self, apex: bytes, keys: list[SigningKey], policy: SignPolicy, now: int,
                 old: Mapping[bytes, Node | None], stats: Signed) -> None:
        self.apex = apex
        self.keys = keys
        self.lifetime = policy.lifetime
        self.now = now
        self.old = old
        self.stats = stats
        self.nsec3 = policy.nsec3
        self.refresh_after = now + int(policy.lifetime * REFRESH_FRACTION)
        self.known = {(k.algorithm, k.tag) for k in keys}
        self.random = random.Random()

    def sign_node(self, owner: bytes, node: Node, kind: Kind) -> None:
        types = signed_types(node, kind)
        if not types:
            return
        old_node = self.old.get(owner)
        kept = self._reusable(node, old_node) if old_node else {}
        sigs: list[bytes] = []
        for rtype in types:
            found = kept.get(rtype)
            if found:
                sigs += found
                self.stats.reused += len(found)
            else:
                sigs += [self._sign(owner, rtype, node[rtype], key) for key in self.keys]
        node[RRSIG] = (min(node[t][0] for t in types), tuple(sigs))

    def _reusable(self, node: Node, old_node: Node) -> dict[int, list[bytes]]:
        """The old node's signatures by type covered, for RRsets unchanged since, by keys in
        use, good past the refresh point (one per key, or none for the type)."""
        old_sigs = old_node.get(RRSIG)
        if old_sigs is None:
            return {}
        out: dict[int, list[bytes]] = {}
        for sig in old_sigs[1]:
            covered, algorithm, ttl, expiration, inception, tag = rrsig_fields(sig)
            rrset = node.get(covered)
            if rrset is None or old_node.get(covered) != rrset or rrset[0] != ttl:
                continue
            if (algorithm, tag) not in self.known or \
                    not _serial_after(expiration, self.refresh_after) or \
                    _serial_after(inception, self.now):
                continue
            out.setdefault(covered, []).append(sig)
        return {t: s for t, s in out.items() if len(s) == len(self.keys)}

    def _sign(self, owner: bytes, rtype: int, rrset: tuple[int, tuple[bytes, ...]],
              key: SigningKey) -> bytes:
        ttl, rdatas = rrset
        jitter = self.random.randrange(int(self.lifetime * JITTER_FRACTION) + 1)
        expiration = (self.now + self.lifetime - jitter) & 0xFFFFFFFF
        inception = (self.now - INCEPTION_BACKDATE) & 0xFFFFFFFF
        head = struct.pack("!HBBIIIH", rtype, key.algorithm, label_count(owner), ttl,
                           expiration, inception, key.tag) + self.apex
        data = signed_data(owner, rtype, ttl, rdatas, head)
        signature = key.sign(data)
        if not key.verify(signature, data):
            raise SignError(f"a signature of {owner!r} type {rtype} does not verify "
                            f"with key {key.tag}")
        self.stats.made += 1
        return head + signature


def verify_nodes(nodes: Mapping[bytes, Node], apex: bytes, keys: list[SigningKey],
                 now: int) -> list[str]:
    """Every problem a validator would find with the signatures of signed nodes (a check of
    the whole zone, for tests and for `dnsbackend ds`): RRsets without a valid, current
    signature by each key, signatures that do not verify."""
    problems: list[str] = []
    by_tag = {(k.algorithm, k.tag): k for k in keys}
    plain = {o: n for o, n in nodes.items() if not (NSEC3 in n and len(n) <= 2)}
    kinds = dict(classify(plain, apex))
    for owner, node in nodes.items():
        kind = kinds.get(owner, Kind.AUTH)
        sigs = node.get(RRSIG, (0, ()))[1]
        for rtype in signed_types(node, kind):
            problems += _verify_rrset(owner, rtype, node[rtype], sigs, by_tag, now, apex)
    return problems


def _verify_rrset(owner: bytes, rtype: int, rrset: tuple[int, tuple[bytes, ...]],
                  sigs: tuple[bytes, ...], by_tag: dict[tuple[int, int], SigningKey],
                  now: int, apex: bytes) -> list[str]:
    good: set[tuple[int, int]] = set()
    for sig in sigs:
        covered, algorithm, ttl, expiration, inception, tag = rrsig_fields(sig)
        if covered != rtype:
            continue
        key = by_tag.get((algorithm, tag))
        head_size = 18 + len(apex)
        if key is None or ttl != rrset[0] or _serial_after(inception, now) or \
                not _serial_after(expiration, now):
            continue
        data = signed_data(owner, rtype, rrset[0], rrset[1], sig[:head_size])
        if key.verify(sig[head_size:], data):
            good.add((algorithm, tag))
    missing = set(by_tag) - good
    if missing:
        return [f"{owner!r} type {rtype}: no valid signature by key(s) "
                f"{sorted(t for _, t in missing)}"]
    return []

