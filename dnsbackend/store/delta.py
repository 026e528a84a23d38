"""Differences between two versions of a zone: the owners whose nodes changed, and the RR-level
changeset (as IXFR sends it) that turns one version into the other. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable

from ..wire.codes import RRSIG, SOA
from .format import RR, Changeset, Node, rrsig_ttl

# The owners a new version changes: owner -> its new node, None where it is gone.
Changes = dict[bytes, Node | None]


def diff_nodes(old: Iterable[tuple[bytes, Node]] | dict[bytes, Node],
               new: dict[bytes, Node]) -> tuple[
        Changes, dict[bytes, Node]]:
    """Compare the nodes of the served version (a dict, or pairs in any order streamed from
    the store) with a new version's.

    Returns the changes, and the old nodes of the owners that changed (what a changeset
    needs). Nodes compare as stored: an RRset whose records only moved in the file counts
    as changed here (its changeset is empty)."""
    if isinstance(old, dict):  # all in memory: let the dicts do it
        get = old.get
        changes: Changes = {owner: node for owner, node in new.items() if get(owner) != node}
        new_owners = sum(1 for owner in changes if owner not in old)
        if len(new) - new_owners != len(old):  # some owners are gone (the common edit has none)
            for owner in old.keys() - new.keys():
                changes[owner] = None
        return changes, {owner: old[owner] for owner in changes if owner in old}
    changes = {}
    before: dict[bytes, Node] = {}
    added = set(new)
    for owner, node in old:
        now = new.get(owner)
        if now is None:
            changes[owner] = None
            before[owner] = node
            continue
        added.discard(owner)
        if now != node:
            changes[owner] = now
            before[owner] = node
    for owner in added:
        changes[owner] = new[owner]
    return changes, before


def changeset(version: int, before: dict[bytes, Node], changes: Changes) -> Changeset:
    """The RRs removed and added by `changes`, given the old nodes of the changed owners, and
    the SOA before and after (taken from the apex, which must be among them or unchanged)."""
    removed: list[RR] = []
    added: list[RR] = []
    old_soa: tuple[int, bytes] | None = None
    new_soa: tuple[int, bytes] | None = None
    for owner in sorted(set(before) | set(changes)):
        old = before.get(owner) or {}
        new = changes.get(owner, old) or {}
        for rtype in sorted(set(old) | set(new)):
            was, now = old.get(rtype), new.get(rtype)
            if rtype == SOA:
                if was is not None:
                    old_soa = (was[0], was[1][0])
                if now is not None:
                    new_soa = (now[0], now[1][0])
                continue
            removed += _rrs(owner, rtype, was, now, old)
            added += _rrs(owner, rtype, now, was, new)
    if old_soa is None or new_soa is None:
        raise ValueError("a changeset needs the apex SOA before and after")
    return Changeset(version, old_soa, new_soa, removed, added)


def _rrs(owner: bytes, rtype: int, these: tuple[int, tuple[bytes, ...]] | None,
         others: tuple[int, tuple[bytes, ...]] | None, node: Node) -> list[RR]:
    """The RRs of `these` (of `node`) not in `others` (all of them when the TTL differs);
    RRSIGs with the TTL of the RRset each covers."""
    if these is None:
        return []
    ttl, rdatas = these
    if others is not None and others[0] == ttl:
        kept = set(others[1])
        rdatas = tuple(rdata for rdata in rdatas if rdata not in kept)
    if rtype == RRSIG:
        return [(owner, rtype, rrsig_ttl(node, ttl, rdata), rdata) for rdata in rdatas]
    return [(owner, rtype, ttl, rdata) for rdata in rdatas]


def apply_changeset(nodes: dict[bytes, Node], change: Changeset, apex: bytes) -> None:
    """Apply a changeset to a zone's nodes (owner -> node) in place: what a secondary does
    with an IXFR. Empty non-terminals are not the changeset's business: the caller adds
    them (zone.nodes does, for a whole zone)."""
    for owner, rtype, _, rdata in change.removed:
        node = nodes.get(owner)
        if node is None or rtype not in node:
            raise ValueError(f"removing an RR that is not there: {owner!r} {rtype}")
        old_ttl, rdatas = node[rtype]
        left = tuple(r for r in rdatas if r != rdata)
        if left:
            node[rtype] = (old_ttl, left)
        else:
            del node[rtype]
    for owner, rtype, ttl, rdata in change.added:
        node = nodes.setdefault(owner, {})
        current = node.get(rtype)
        node[rtype] = (ttl, (rdata,) if current is None else current[1] + (rdata,))
    nodes.setdefault(apex, {})[SOA] = (change.new_soa[0], (change.new_soa[1],))
