"""AXFR (RFC 5936) and IXFR (RFC 1995) answers: the RRs of one zone version, or the journal's
changesets from the client's serial, read in one LMDB read transaction that pins the version
for as long as the transfer streams. Compiled (nativebuild.py): a big zone's AXFR is this
loop, the store's cursor straight into the messages."""

from __future__ import annotations

import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import lmdb

from ..store.database import Store, meta_key, node_prefix
from ..store.format import RR, Changeset, ZoneMeta, node_at, rrsig_ttl, unpack_history
from ..store.transaction import read_journal, read_version
from ..wire.codes import RRSIG, SOA
from .stream import Packer, messages

_SERIAL = struct.Struct("!I")


@dataclass
class Transfer:
    """What a transfer answer is made of: the zone's version and the RRs to send."""

    kind: str  # "AXFR", "IXFR", "IXFR-as-AXFR" or "current" (a single SOA)
    serial: int  # the zone's serial sent
    from_serial: int | None  # IXFR: the client's
    rrs: Iterator[RR]
    # The same RRs as messages, by the packer given (for AXFR, straight from the store).
    pack: Callable[[Packer], Iterator[bytes]] | None = None

    def messages(self, packer: Packer) -> Iterator[bytes]:
        """The transfer's RRs packed into messages."""
        return packer.pack(self.rrs) if self.pack is None else self.pack(packer)


def zone_rrs(zones: lmdb.Transaction, meta: ZoneMeta, version: int) -> Iterator[RR]:
    """A whole zone version, AXFR style: the SOA, every other RR, the SOA again."""
    apex = meta.origin.lower()
    soa: RR = (apex, SOA, meta.soa_ttl, meta.soa_rdata)
    yield soa
    for owner, node in read_version(zones, meta.zone_id, version):
        for rtype in sorted(node):
            if rtype == SOA and owner == apex:
                continue
            ttl, rdatas = node[rtype]
            for rdata in rdatas:
                yield owner, rtype, rrsig_ttl(node, ttl, rdata) if rtype == RRSIG else ttl, rdata
    yield soa


def zone_messages(zones: lmdb.Transaction, meta: ZoneMeta, version: int,
                  packer: Packer) -> Iterator[bytes]:
    """zone_rrs() packed into messages, without an iterator between the store and the
    packer: the cost of a big zone's AXFR is this loop."""
    apex = meta.origin.lower()
    packer.rr(apex, SOA, meta.soa_ttl, meta.soa_rdata)
    prefix = node_prefix(meta.zone_id)
    start = len(prefix)
    cursor = zones.cursor()
    if cursor.set_range(prefix):
        for key, value in cursor:
            if bytes(key[:start]) != prefix:
                break
            node = node_at(unpack_history(bytes(value)), version)
            if node is not None:
                owner = bytes(key[start:])
                packer.node(owner, node, owner == apex)
            if packer.done:
                yield from packer.take()
    packer.rr(apex, SOA, meta.soa_ttl, meta.soa_rdata)
    yield from packer.finish()


def journal_rrs(meta: ZoneMeta, changes: list[Changeset]) -> Iterator[RR]:
    """IXFR style: the new SOA, then each changeset (old SOA, removed, new SOA, added), then
    the new SOA again (RFC 1995 section 4)."""
    apex = meta.origin.lower()
    soa: RR = (apex, SOA, meta.soa_ttl, meta.soa_rdata)
    yield soa
    for change in changes:
        yield (apex, SOA, *change.old_soa)
        yield from change.removed
        yield (apex, SOA, *change.new_soa)
        yield from change.added
    yield soa


def not_older(serial: int, ours: int) -> bool:
    """Whether a client's serial is ours or newer, in serial arithmetic (RFC 1982)."""
    return serial == ours or 0 < (serial - ours) % (1 << 32) < (1 << 31)


def changes_since(journal: list[Changeset], serial: int, current: int) -> list[Changeset] | None:
    """The changesets that take a zone from `serial` to `current`, or None when the journal
    cannot (it does not reach back to `serial`)."""
    for start, change in enumerate(journal):
        if change.from_serial == serial:
            chain = journal[start:]
            if chain[-1].to_serial == current:
                return chain
            return None
    return None


def plan(store: Store, zone_id: int, version: int,
         ixfr_from: int | None) -> Generator[Transfer, None, None]:
    """The transfer of one zone version: one Transfer, yielded inside the read transaction
    that pins the version (close the generator to let it go)."""
    with store.zones_env.begin(buffers=False) as zones:
        raw = zones.get(meta_key(version))
        if raw is None:
            return  # freed since the snapshot: the caller retries with a new one
        meta = ZoneMeta.unpack(raw)
        if ixfr_from is not None:
            if not_older(ixfr_from, meta.serial):  # RFC 1995 section 2: our SOA alone
                apex = meta.origin.lower()
                yield Transfer("current", meta.serial, ixfr_from,
                               iter([(apex, SOA, meta.soa_ttl, meta.soa_rdata)]))
                return
            chain = changes_since(read_journal(zones, zone_id), ixfr_from, meta.serial)
            size = sum(len(c.removed) + len(c.added) + 2 for c in chain or [])
            if chain is not None and size < meta.records:
                yield Transfer("IXFR", meta.serial, ixfr_from, journal_rrs(meta, chain))
                return
        kind = "AXFR" if ixfr_from is None else "IXFR-as-AXFR"
        yield Transfer(kind, meta.serial, ixfr_from, zone_rrs(zones, meta, version),
                       lambda packer: zone_messages(zones, meta, version, packer))


__all__ = ["Transfer", "changes_since", "journal_rrs", "messages", "not_older", "plan",
           "zone_messages", "zone_rrs"]
