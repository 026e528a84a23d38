"""Signing in the write path: a zone with `sign = true` is signed inside the transaction that
commits its new version, against the version served (whose signatures are reused where
they still hold), so the delta written is what changed, re-signed, with its neighbours'
NSEC/NSEC3 records. Also the refresh of signatures near their expiry (resign)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import dns.name

from ..sign.chain import NSEC3PARAM, Nsec3Params, SignError
from ..sign.incremental import ChainOrder, NeedsFull, chain_order, resign_changed
from ..sign.keys import ALGORITHMS, KeyError_, SigningKey, dnskey_algorithm, zone_keys
from ..sign.signer import Signed, SignPolicy, resign_node, sign_nodes
from ..store.delta import diff_nodes
from ..store.format import Node, ZoneContents, ZoneEntry, ZoneMeta, soa_fields
from ..store.transaction import Diff, Transaction
from ..wire.codes import DNSKEY, SOA
from ..zone.files import origin_key

Signing = tuple[str, str, int]  # WantedZone.signing: algorithm, denial, lifetime (seconds)


class SigningFailed(Exception):
    """The zone could not be signed: the last good version keeps serving."""


def policy_of(signing: Signing) -> SignPolicy:
    algorithm, denial, lifetime = signing
    return SignPolicy(algorithm, denial, lifetime, Nsec3Params())


def keys_for(txn: Transaction, contents: ZoneContents, signing: Signing) -> list[SigningKey]:
    """The zone's keys, made on first use (inside the write lock: one writer makes them)."""
    origin = dns.name.from_wire(contents.meta.origin, 0)[0]
    try:
        return zone_keys(txn.store.path, origin, signing[0])
    except (KeyError_, OSError) as exc:
        raise SigningFailed(f"cannot use the zone's keys: {exc}") from None


def sign_contents(txn: Transaction, contents: ZoneContents, signing: Signing,
                  old: dict[bytes, Node] | None, warnings: list[str],
                  now: int | None = None) -> Signed:
    """Replace the contents' nodes with their signed form (the old version's signatures
    reused where they hold); its record count follows. What the file held that the signer
    replaces (its own RRSIG, NSEC, DNSKEY records) is said in `warnings`."""
    keys = keys_for(txn, contents, signing)
    meta = contents.meta
    try:
        nodes, stats = sign_nodes(contents.nodes, meta.origin.lower(), meta.soa_ttl,
                                  meta.negative_ttl, keys, policy_of(signing),
                                  int(time.time()) if now is None else now, old)
    except SignError as exc:
        raise SigningFailed(str(exc)) from None
    contents.nodes = nodes
    warnings += [f"{message} (sign = true)" for message in stats.dropped]
    meta.records = sum(len(rrset[1]) for node in nodes.values() for rrset in node.values())
    return stats


# The signed nodes of the versions this writer wrote last, by (store, origin): the next save
# reuses their signatures without reading the zone. Kept apart from update.jobs' memo,
# which holds the nodes as read from the file (zone.incremental reads against those).
# A version goes in only once its transaction committed (a rolled-back version's number is
# handed out again).
KEPT_RECORDS = 2_000_000


@dataclass
class Kept:
    """A signed version this writer wrote: its nodes, record count and chain order."""

    version: int
    nodes: dict[bytes, Node]
    records: int
    order: ChainOrder


_signed: dict[tuple[str, bytes], Kept] = {}
_pending: list[tuple[str, bytes, Kept]] = []


def begin_job() -> None:
    _pending.clear()


def written(store_path: str, origin_lower: bytes, version: int, contents: ZoneContents,
            signing: Signing) -> None:
    """A signed version put in the current transaction (kept once it commits)."""
    order = _orders.pop(id(contents.nodes), None) or chain_order(contents.nodes, signing[1])
    _pending.append((store_path, origin_lower,
                     Kept(version, contents.nodes, contents.meta.records, order)))


def committed(store_path: str) -> None:
    """The job's transaction committed: keep the signed versions it wrote."""
    for path, origin_lower, kept in _pending:
        if path != store_path:
            continue
        _signed.pop((path, origin_lower), None)
        if kept.records <= KEPT_RECORDS:
            _signed[(path, origin_lower)] = kept
    _pending.clear()
    _orders.clear()
    while sum(kept.records for kept in _signed.values()) > KEPT_RECORDS:
        del _signed[next(iter(_signed))]  # the oldest first


# The chain order of nodes signed incrementally in this job, by id of their dict.
_orders: dict[int, ChainOrder] = {}


def served_nodes(txn: Transaction, entry: ZoneEntry) -> dict[bytes, Node]:
    """The served version's signed nodes: kept from this writer's last save when it is the
    one served, else read in the transaction."""
    kept = _signed.get((txn.store.path, entry_origin(entry)))
    if kept is not None and kept.version == entry.version:
        return kept.nodes
    return dict(txn.version_nodes(entry.zone_id, entry.version))


def served_contents(entry: ZoneEntry, nodes: dict[bytes, Node]) -> ZoneContents:
    """The served version as contents to sign again (its meta made from its apex SOA)."""
    origin = dns.name.from_text(entry.origin).to_wire()
    assert origin is not None
    ttl, (soa,) = nodes[origin.lower()][SOA]
    serial, minimum = soa_fields(soa)
    meta = ZoneMeta(origin, serial, ttl, min(ttl, minimum), soa, entry.records, entry.zone_id)
    return ZoneContents(meta, nodes)


def out_of_step(txn: Transaction, entry: ZoneEntry, signing: Signing) -> bool:
    """Whether the served version is not signed as `signing` says (unsigned, or with keys
    of another algorithm, or the other denial)."""
    apex = txn.node_at(entry.zone_id, entry.version, entry_origin(entry)) or {}
    dnskeys = apex.get(DNSKEY)
    if dnskeys is None:
        return True
    if {dnskey_algorithm(k) for k in dnskeys[1]} != {ALGORITHMS[signing[0]]}:
        return True
    return (NSEC3PARAM in apex) != (signing[1] == "nsec3")


def entry_origin(entry: ZoneEntry) -> bytes:
    return origin_key(dns.name.from_text(entry.origin))


def signed_diff(txn: Transaction, entry: ZoneEntry, contents: ZoneContents, signing: Signing,
                warnings: list[str], now: int | None = None,
                old: dict[bytes, Node] | None = None, plain: Diff | None = None) -> Diff:
    """Sign a new version against the served one; the diff of the signed nodes. With
    `plain`, the diff of the nodes as read against the served version's (the memo's),
    only its owners and their neighbours are signed, when this writer kept the served
    version's signed nodes; otherwise the whole zone (reusing signatures that hold)."""
    if plain is not None and old is None:
        kept = _signed.pop((txn.store.path, entry_origin(entry)), None)
        if kept is not None and kept.version == entry.version:
            with contextlib.suppress(NeedsFull):
                return _sign_changed(txn, entry, contents, signing, kept, plain, now)
            old = kept.nodes
    if old is None:
        old = served_nodes(txn, entry)
    sign_contents(txn, contents, signing, old, warnings, now)
    return Diff(entry.version, *diff_nodes(old, contents.nodes))


def _sign_changed(txn: Transaction, entry: ZoneEntry, contents: ZoneContents,
                  signing: Signing, kept: Kept, plain: Diff, now: int | None) -> Diff:
    """The served signed nodes (kept, changed in place) with the changed owners re-signed."""
    keys = keys_for(txn, contents, signing)
    meta = contents.meta
    apex = meta.origin.lower()
    old_plain: dict[bytes, Node | None] = dict(plain.before)
    try:
        before, _ = resign_changed(kept.nodes, contents.nodes, plain.changes, old_plain, apex,
                                   meta.soa_ttl, meta.negative_ttl, keys, policy_of(signing),
                                   int(time.time()) if now is None else now, kept.order)
    except SignError as exc:
        raise SigningFailed(str(exc)) from None
    nodes = kept.nodes
    changes = {o: nodes.get(o) for o, node in before.items() if nodes.get(o) != node}
    meta.records = kept.records + sum(_count(changes[o]) - _count(before[o]) for o in changes)
    contents.nodes = nodes
    _orders[id(nodes)] = kept.order
    return Diff(entry.version, changes, {o: n for o in changes if (n := before[o]) is not None})


def _count(node: Node | None) -> int:
    return sum(len(rrset[1]) for rrset in node.values()) if node else 0


def resign_apex(txn: Transaction, contents: ZoneContents, signing: Signing,
                previous: Node, now: int | None = None) -> None:
    """After the serial policy changed the SOA of signed contents: sign the apex again
    (`previous`: the apex node before, whose other signatures still hold)."""
    keys = keys_for(txn, contents, signing)
    apex = contents.meta.origin.lower()
    resign_node(apex, contents.nodes[apex], previous, apex, keys, policy_of(signing),
                int(time.time()) if now is None else now)
