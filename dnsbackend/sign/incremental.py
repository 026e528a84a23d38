"""Re-signing only what a save changed: the changed owners' RRsets and their NSEC/NSEC3
neighbours, against the served version's signed nodes and the chain's order kept from it.

The order (canonical keys of the NSEC chain's names, or the sorted NSEC3 hashes) is kept
between saves with the signed nodes, so finding a neighbour is a bisection, not a sort of
the zone. A change that moves a zone cut or a DNAME (which changes what is occluded below
it) is left to a full signing (`NeedsFull`). tests/unit/test_sign_jobs.py checks the result
against a signing from scratch over random edits.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..store.format import Node
from ..wire.codes import DNAME, NS, NSEC, NSEC3, RRSIG
from .chain import (
    Kind,
    canonical_key,
    nsec3_hash,
    nsec3_owner,
    present_types,
    signed_types,
    type_bitmap,
)
from .keys import SigningKey
from .signer import Signed, Signer, SignPolicy, add_keys, strip_dnssec


class NeedsFull(Exception):
    """The change moves a zone cut or a DNAME: sign the whole zone."""


@dataclass
class ChainOrder:
    """The chain's names in order: canonical keys (NSEC) or hashes (NSEC3)."""

    denial: str
    keys: list[tuple[bytes, ...]]  # NSEC: canonical keys of the names with an NSEC
    digests: list[bytes]  # NSEC3: the hashes, sorted


def chain_order(nodes: dict[bytes, Node], denial: str) -> ChainOrder:
    """The order of a signed zone's chain, from its nodes."""
    if denial == "nsec3":
        digests = sorted(base64.b32hexdecode(owner[1:1 + owner[0]].upper())
                         for owner, node in nodes.items() if NSEC3 in node)
        return ChainOrder(denial, [], digests)
    return ChainOrder(denial, sorted(canonical_key(o) for o, n in nodes.items() if NSEC in n),
                      [])


def owner_of(key: tuple[bytes, ...]) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in reversed(key)) + b"\x00"


def kind_of(owner: bytes, plain: dict[bytes, Node], apex: bytes) -> Kind:
    """What a name of the new zone is: below a cut or a DNAME, a cut, or authoritative."""
    if owner == apex:
        return Kind.AUTH
    pos = owner[0] + 1
    while len(owner) - pos >= len(apex):
        above = plain.get(owner[pos:])
        if above and (DNAME in above or (NS in above and owner[pos:] != apex)):
            return Kind.OCCLUDED
        if len(owner) - pos == len(apex):
            break
        pos += owner[pos] + 1
    return Kind.CUT if NS in plain[owner] else Kind.AUTH


def _moves_cut(before: Node | None, after: Node | None, at_apex: bool) -> bool:
    old, new = before or {}, after or {}
    if (DNAME in old) != (DNAME in new):
        return True
    return not at_apex and (NS in old) != (NS in new)


def resign_changed(nodes: dict[bytes, Node], plain: dict[bytes, Node],
                   changed: Iterable[bytes], old_plain: dict[bytes, Node | None], apex: bytes,
                   soa_ttl: int, negative_ttl: int, keys: list[SigningKey],
                   policy: SignPolicy, now: int, order: ChainOrder
                   ) -> tuple[dict[bytes, Node | None], Signed]:
    """Sign the changed owners of `plain` (the new zone) into `nodes` (the served signed
    zone, changed in place) with their chain neighbours; `order` follows. Returns the old
    signed nodes of every owner written (None: it was not there)."""
    owners = sorted(set(changed))
    for owner in owners:
        if _moves_cut(old_plain.get(owner), plain.get(owner), owner == apex):
            raise NeedsFull
    stats = Signed()
    before: dict[bytes, Node | None] = {}
    fresh: dict[bytes, tuple[Node, Kind]] = {}
    for owner in owners:
        before[owner] = nodes.get(owner)
        new = plain.get(owner)
        if new is None:
            nodes.pop(owner, None)
            continue
        node = strip_dnssec({owner: new}, apex).get(owner, {})
        if owner == apex:
            add_keys(node, apex, keys, soa_ttl, policy)
        fresh[owner] = (node, kind_of(owner, plain, apex))
    signer = Signer(apex, keys, policy, now, before, stats)
    step = _Nsec3Step if order.denial == "nsec3" else _NsecStep
    step(nodes, plain, apex, negative_ttl, order, signer, before, fresh).run(owners)
    return before, stats


Ordered = TypeVar("Ordered", tuple[bytes, ...], bytes)


def _place(items: list[Ordered], item: Ordered, chained: bool) -> bool:
    """Put an item in a sorted list, or take it out; whether that moved it."""
    i = bisect.bisect_left(items, item)
    present = i < len(items) and items[i] == item
    if chained == present:
        return False
    if chained:
        items.insert(i, item)
    else:
        del items[i]
    return True


class _NsecStep:
    """The NSEC chain mended around the changed owners, and the owners signed."""

    def __init__(self, nodes: dict[bytes, Node], plain: dict[bytes, Node], apex: bytes,
                 ttl: int, order: ChainOrder, signer: Signer,
                 before: dict[bytes, Node | None], fresh: dict[bytes, tuple[Node, Kind]]
                 ) -> None:
        self.nodes, self.plain, self.apex, self.ttl = nodes, plain, apex, ttl
        self.order, self.signer, self.before, self.fresh = order, signer, before, fresh

    def run(self, owners: list[bytes]) -> None:
        keys = self.order.keys
        dirty: set[bytes] = set()
        moved = []
        for owner in owners:
            key = canonical_key(owner)
            node_kind = self.fresh.get(owner)
            chained = node_kind is not None and node_kind[1] is not Kind.OCCLUDED and \
                bool(node_kind[0])
            if _place(keys, key, chained):
                moved.append(key)
            if chained:
                dirty.add(owner)
            elif node_kind is not None:
                self.nodes[owner] = node_kind[0]  # glue, occluded or empty: no NSEC, no RRSIG
        for key in moved:  # the names before those that came or went point elsewhere now
            dirty.add(owner_of(keys[bisect.bisect_left(keys, key) - 1]))
        for owner in dirty:
            self._chain(owner)

    def _chain(self, owner: bytes) -> None:
        if owner in self.fresh:
            node, kind = self.fresh[owner]
        else:
            old = self.nodes[owner]
            self.before.setdefault(owner, old)
            node = {t: v for t, v in old.items() if t not in (RRSIG, NSEC)}
            kind = kind_of(owner, self.plain, self.apex)
        keys = self.order.keys
        i = bisect.bisect_right(keys, canonical_key(owner))
        following = owner_of(keys[i % len(keys)])
        types = present_types(node, kind, True)
        types.append(NSEC)
        node[NSEC] = (self.ttl, (following + type_bitmap(types),))
        self.signer.sign_node(owner, node, kind)
        self.nodes[owner] = node


class _Nsec3Step(_NsecStep):
    """The NSEC3 chain mended around the changed owners' hashes, and the owners signed."""

    def run(self, owners: list[bytes]) -> None:
        digests = self.order.digests
        bitmaps: dict[bytes, bytes] = {}
        dirty: set[bytes] = set()
        moved = []
        for owner in owners:
            digest = nsec3_hash(owner, self.signer.nsec3)
            node_kind = self.fresh.get(owner)
            chained = node_kind is not None and node_kind[1] is not Kind.OCCLUDED
            if node_kind is not None:
                node, kind = node_kind
                self.signer.sign_node(owner, node, kind)
                self.nodes[owner] = node
                if chained:
                    bitmaps[digest] = type_bitmap(
                        present_types(node, kind, bool(signed_types(node, kind))))
            if _place(digests, digest, chained):
                moved.append(digest)
                if not chained:
                    hashed = nsec3_owner(digest, self.apex)
                    self.before.setdefault(hashed, self.nodes.pop(hashed, None))
            if chained:
                dirty.add(digest)
        for digest in moved:
            dirty.add(digests[bisect.bisect_left(digests, digest) - 1])
        for digest in dirty:
            self._link(digest, bitmaps)

    def _link(self, digest: bytes, bitmaps: dict[bytes, bytes]) -> None:
        hashed = nsec3_owner(digest, self.apex)
        old = self.nodes.get(hashed)
        self.before.setdefault(hashed, old)
        bitmap = bitmaps.get(digest)
        if bitmap is None:
            assert old is not None  # an unchanged name's hash keeps its bit map
            rdata = old[NSEC3][1][0]
            salt_end = 5 + rdata[4]
            bitmap = rdata[salt_end + 1 + rdata[salt_end]:]
        digests = self.order.digests
        following = digests[(bisect.bisect_right(digests, digest)) % len(digests)]
        head = self.signer.nsec3.rdata_head()
        node: Node = {NSEC3: (self.ttl, (head + bytes((len(following),)) + following + bitmap,))}
        self.signer.sign_node(hashed, node, Kind.AUTH)
        self.nodes[hashed] = node
