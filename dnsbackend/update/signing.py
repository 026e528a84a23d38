"""Signing in the write path: a zone with `sign = true` is signed inside the transaction that
commits its new version, against the version served (whose signatures are reused where
they still hold), so the delta written is what changed, re-signed, with its neighbours'
NSEC/NSEC3 records. Also the refresh of signatures near their expiry (resign)."""

from __future__ import annotations

import time

import dns.name

from ..sign.chain import Nsec3Params, SignError
from ..sign.keys import KeyError_, SigningKey, zone_keys
from ..sign.signer import Signed, SignPolicy, resign_node, sign_nodes
from ..store.delta import diff_nodes
from ..store.format import Node, ZoneContents, ZoneEntry, ZoneMeta, soa_fields
from ..store.transaction import Diff, Transaction
from ..wire.codes import SOA
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
_signed: dict[tuple[str, bytes], tuple[int, dict[bytes, Node], int]] = {}
_pending: list[tuple[str, bytes, int, dict[bytes, Node]]] = []


def begin_job() -> None:
    _pending.clear()


def written(store_path: str, origin_lower: bytes, version: int,
            nodes: dict[bytes, Node]) -> None:
    """A signed version put in the current transaction (kept once it commits)."""
    _pending.append((store_path, origin_lower, version, nodes))


def committed(store_path: str) -> None:
    """The job's transaction committed: keep the signed versions it wrote."""
    for path, origin_lower, version, nodes in _pending:
        if path != store_path:
            continue
        records = sum(len(rrset[1]) for node in nodes.values() for rrset in node.values())
        _signed.pop((path, origin_lower), None)
        if records <= KEPT_RECORDS:
            _signed[(path, origin_lower)] = (version, nodes, records)
    _pending.clear()
    while sum(kept[2] for kept in _signed.values()) > KEPT_RECORDS:
        del _signed[next(iter(_signed))]  # the oldest first


def served_nodes(txn: Transaction, entry: ZoneEntry) -> dict[bytes, Node]:
    """The served version's signed nodes: kept from this writer's last save when it is the
    one served, else read in the transaction."""
    kept = _signed.get((txn.store.path, entry_origin(entry)))
    if kept is not None and kept[0] == entry.version:
        return kept[1]
    return dict(txn.version_nodes(entry.zone_id, entry.version))


def served_contents(entry: ZoneEntry, nodes: dict[bytes, Node]) -> ZoneContents:
    """The served version as contents to sign again (its meta made from its apex SOA)."""
    origin = dns.name.from_text(entry.origin).to_wire()
    assert origin is not None
    ttl, (soa,) = nodes[origin.lower()][SOA]
    serial, minimum = soa_fields(soa)
    meta = ZoneMeta(origin, serial, ttl, min(ttl, minimum), soa, entry.records, entry.zone_id)
    return ZoneContents(meta, nodes)


def entry_origin(entry: ZoneEntry) -> bytes:
    return origin_key(dns.name.from_text(entry.origin))


def signed_diff(txn: Transaction, entry: ZoneEntry, contents: ZoneContents, signing: Signing,
                old: dict[bytes, Node], warnings: list[str], now: int | None = None) -> Diff:
    """Sign a new version against the served one; the diff of the signed nodes."""
    sign_contents(txn, contents, signing, old, warnings, now)
    return Diff(entry.version, *diff_nodes(old, contents.nodes))


def resign_apex(txn: Transaction, contents: ZoneContents, signing: Signing,
                previous: Node, now: int | None = None) -> None:
    """After the serial policy changed the SOA of signed contents: sign the apex again
    (`previous`: the apex node before, whose other signatures still hold)."""
    keys = keys_for(txn, contents, signing)
    apex = contents.meta.origin.lower()
    resign_node(apex, contents.nodes[apex], previous, apex, keys, policy_of(signing),
                int(time.time()) if now is None else now)
