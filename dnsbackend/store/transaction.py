"""The one way to write the store: a transaction that locks the catalog, then the zones.

Modelled on Knot's zone_update_* and dnspython's Transaction: begin, change, then commit
or roll back. Used as a context manager it commits on a clean exit and rolls back on an
exception. Nothing else in the project opens a write transaction.
"""

from __future__ import annotations

import marshal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

import lmdb

from . import lockorder
from .database import (
    META_PREFIX,
    NEXT_VERSION,
    RETIRED_PREFIX,
    STORE_FORMAT,
    STORE_FORMAT_KEY,
    Store,
    chain_prefix,
    changed_key,
    entry_key,
    journal_key,
    journal_prefix,
    meta_key,
    node_prefix,
    read_entries,
    unpack_version,
    version_key,
)
from .delta import Changes, changeset, diff_nodes
from .format import (
    ChainHistory,
    Changeset,
    Node,
    Retired,
    ZoneContents,
    ZoneEntry,
    ZoneMeta,
    chain_key,
    chain_kinds,
    node_at,
    pack_history,
    unpack_history,
)
from .testpause import pause_at

# How long a replaced version stays readable. A query reads a version for microseconds;
# this is the grace period, as in RCU, after which no reader can still be looking at it.
RETIRE_GRACE_SECONDS = 5.0


def begin_catalog(store: Store) -> lmdb.Transaction:
    """Take the catalog's writer lock (LMDB's writer mutex of the catalog environment)."""
    lockorder.acquiring("catalog")
    try:
        return store.catalog_env.begin(write=True)
    except BaseException:
        lockorder.released("catalog")
        raise


def begin_zones(store: Store) -> lmdb.Transaction:
    """Take the zones' writer lock (LMDB's writer mutex of the zones environment)."""
    lockorder.acquiring("zones")
    try:
        return store.zones_env.begin(write=True)
    except BaseException:
        lockorder.released("zones")
        raise


class Transaction:
    """One atomic change to both databases: begin(), changes, then commit() or rollback()."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._catalog: lmdb.Transaction | None = None
        self._zones: lmdb.Transaction | None = None
        self.changeset: Changeset | None = None  # of the last put_zone over a served version

    # -- life cycle -------------------------------------------------------------------

    def begin(self) -> Transaction:
        self._catalog = begin_catalog(self.store)
        try:
            self._zones = begin_zones(self.store)
        except BaseException:
            self._catalog.abort()
            self._catalog = None
            lockorder.released("catalog")
            raise
        self._mark_new_store()
        return self

    def _mark_new_store(self) -> None:
        """A store's first transaction says which layout it is written in."""
        catalog, zones = self._txns()
        if catalog.get(STORE_FORMAT_KEY) is None and catalog.stat()["entries"] == 0 \
                and zones.stat()["entries"] == 0:
            catalog.put(STORE_FORMAT_KEY, STORE_FORMAT)

    def commit(self) -> None:
        """Make the change visible: zone data first, then the catalog that points at it."""
        catalog, zones = self._txns()
        self._zones = None
        self._catalog = None
        pause_at("write")  # test-only, off by default (store/testpause.py)
        try:
            zones.commit()
        except BaseException:
            lockorder.released("zones")
            catalog.abort()
            lockorder.released("catalog")
            raise
        lockorder.released("zones")
        pause_at("between")  # test-only, as above
        try:
            catalog.commit()
        finally:
            lockorder.released("catalog")

    def rollback(self) -> None:
        if self._zones is not None:
            self._zones.abort()
            self._zones = None
            lockorder.released("zones")
        if self._catalog is not None:
            self._catalog.abort()
            self._catalog = None
            lockorder.released("catalog")

    def __enter__(self) -> Transaction:
        return self.begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def _txns(self) -> tuple[lmdb.Transaction, lmdb.Transaction]:
        if self._catalog is None or self._zones is None:
            raise RuntimeError("transaction is not open")
        return self._catalog, self._zones

    # -- reading inside the transaction -----------------------------------------------

    def entries(self) -> dict[bytes, ZoneEntry]:
        catalog, _ = self._txns()
        return read_entries(catalog)

    def entry(self, origin_lower: bytes) -> ZoneEntry | None:
        catalog, _ = self._txns()
        raw = catalog.get(entry_key(origin_lower))
        return None if raw is None else ZoneEntry.unpack(bytes(raw))

    def catalog_value(self, key: bytes) -> bytes | None:
        """A catalog-wide value (such as the stored zone policy)."""
        catalog, _ = self._txns()
        raw = catalog.get(key)
        return None if raw is None else bytes(raw)

    # -- changes ----------------------------------------------------------------------

    def set_catalog_value(self, key: bytes, value: bytes) -> None:
        catalog, _ = self._txns()
        catalog.put(key, value)

    def set_entry(self, origin_lower: bytes, entry: ZoneEntry) -> None:
        catalog, _ = self._txns()
        catalog.put(entry_key(origin_lower), entry.pack())

    def put_zone(self, contents: ZoneContents, entry: ZoneEntry, diff: Diff | None = None,
                 journal: JournalLimits | None = None) -> int:
        """Make `contents` the zone's new current version and point its catalog entry at it
        (the entry's version, zone id, serial and record count are set here).

        Against a served version this writes a delta: only the owners that changed, as
        longer histories, found with `diff` when it was computed against that very version
        (outside the lock, to keep it short), else here. The changeset is kept in the
        journal (`journal`: its limits) and as `self.changeset`."""
        catalog, zones = self._txns()
        self.changeset = None
        version = self._next_number()
        self._free_leftover(version)  # of a crash between the two commits
        origin_lower = contents.meta.origin.lower()
        old = self.entry(origin_lower)
        if old is not None and old.version and old.zone_id:
            zone_id = old.zone_id
            if diff is None or diff.base != old.version:
                diff = self.diff(zone_id, old.version, contents)
            self._write_delta(zone_id, version, diff.changes)
            self._retire(old.version, zone_id, version)
            if journal is not None:
                self.changeset = changeset(version, diff.before, diff.changes)
                self.keep_changeset(zone_id, self.changeset, journal)
        else:
            zone_id = self._next_number()  # a fresh key space: nothing old can be freed in it
            self._write_first(zone_id, version, contents.nodes)
        contents.meta.zone_id = zone_id
        zones.put(meta_key(version), contents.meta.pack())
        entry.version = version
        entry.zone_id = zone_id
        entry.serial = contents.meta.serial
        entry.records = contents.meta.records
        catalog.put(entry_key(origin_lower), entry.pack())
        return version

    def diff(self, zone_id: int, version: int, contents: ZoneContents) -> Diff:
        """How `contents` differs from a stored version of the zone (read in this txn)."""
        return Diff(version, *diff_nodes(self.version_nodes(zone_id, version), contents.nodes))

    def node_at(self, zone_id: int, version: int, owner: bytes) -> Node | None:
        """One owner's node at a stored version of the zone."""
        _, zones = self._txns()
        raw = zones.get(node_prefix(zone_id) + owner)
        if raw is None:
            return None
        return node_at(unpack_history(bytes(raw)), version)

    def version_nodes(self, zone_id: int, version: int) -> Iterator[tuple[bytes, Node]]:
        """Every (owner, node) of one version of a zone, read in this transaction."""
        _, zones = self._txns()
        return read_version(zones, zone_id, version)

    def remove_zone(self, origin_lower: bytes) -> None:
        catalog, _ = self._txns()
        old = self.entry(origin_lower)
        if old is None:
            return
        if old.version:
            self._retire(old.version, old.zone_id, 0)
        catalog.delete(entry_key(origin_lower))

    def journal(self, zone_id: int) -> list[Changeset]:
        """The zone's stored changesets, oldest first."""
        _, zones = self._txns()
        return read_journal(zones, zone_id)

    def collect_garbage(self, now: float | None = None, grace: float = RETIRE_GRACE_SECONDS) -> int:
        """Free versions replaced more than `grace` seconds ago, oldest first; return how many.

        Freeing version V, replaced by S, drops from the history of each owner S changed the
        entries older than S (only V and older versions, all freed by now, could read them),
        and a history left as "gone since S" altogether. A removed zone's keys all go."""
        catalog, zones = self._txns()
        now = time.time() if now is None else now
        due: list[tuple[bytes, int, Retired]] = []
        cursor = catalog.cursor()
        if cursor.set_range(RETIRED_PREFIX):
            for key, value in cursor:
                key = bytes(key)
                if not key.startswith(RETIRED_PREFIX):
                    break
                retired = Retired.unpack(bytes(value))
                if now - retired.at >= grace:
                    due.append((key, unpack_version(key[len(RETIRED_PREFIX):]), retired))
        for key, version, retired in due:
            if retired.successor:
                self._drop_replaced(retired.zone_id, retired.successor)
            else:
                _delete_prefix(zones, node_prefix(retired.zone_id))
                _delete_prefix(zones, chain_prefix(retired.zone_id))
                _delete_prefix(zones, journal_prefix(retired.zone_id))
            zones.delete(meta_key(version))
            catalog.delete(key)
        return len(due)

    def free_orphans(self) -> int:
        """Free zone versions no catalog entry or retirement record knows (after a crash)."""
        catalog, zones = self._txns()
        known = {e.version for e in read_entries(catalog).values()}
        cursor = catalog.cursor()
        if cursor.set_range(RETIRED_PREFIX):
            for key, _ in cursor:
                key = bytes(key)
                if not key.startswith(RETIRED_PREFIX):
                    break
                known.add(unpack_version(key[len(RETIRED_PREFIX):]))
        orphans = []
        zcursor = zones.cursor()
        if zcursor.set_range(META_PREFIX):
            for key, _ in zcursor:
                key = bytes(key)
                if not key.startswith(META_PREFIX):
                    break
                version = unpack_version(key[len(META_PREFIX):])
                if version not in known:
                    orphans.append(version)
        for version in orphans:
            self._free_leftover(version)
        return len(orphans)

    def reset_if_old_layout(self) -> bool:
        """Empty a store written in another layout (it is rebuilt from the zone files, as at
        a first start) and mark it with this one. True if it was emptied."""
        catalog, zones = self._txns()
        marker = catalog.get(STORE_FORMAT_KEY)
        if marker is not None and bytes(marker) == STORE_FORMAT:
            return False
        empty = catalog.stat()["entries"] == 0 and zones.stat()["entries"] == 0
        if not empty:
            _delete_prefix(catalog, b"")
            _delete_prefix(zones, b"")
        catalog.put(STORE_FORMAT_KEY, STORE_FORMAT)
        return not empty

    # -- helpers ----------------------------------------------------------------------

    def _next_number(self) -> int:
        """The next version number or zone id (one counter: they never collide)."""
        catalog, _ = self._txns()
        raw = catalog.get(NEXT_VERSION)
        number = 1 if raw is None else int(marshal.loads(raw))
        catalog.put(NEXT_VERSION, marshal.dumps(number + 1))
        return number

    def _write_first(self, zone_id: int, version: int, nodes: dict[bytes, Node]) -> None:
        """A zone's first version: every node, in key order, in one bulk insert. Appended at
        the end of the database (no search, full pages) when nothing lies past its key space,
        as is usual: a new zone id is the highest yet and node keys sort last.

        The nodes are packed in the order they were made, which is the order they lie in
        memory, and the packed pairs sorted after: packing them in key order instead jumps
        about memory for every object of every node (5 times as long for a mixed zone)."""
        _, zones = self._txns()
        prefix = node_prefix(zone_id)
        owners = list(nodes)
        packed = [pack_history(((version, node),)) for node in nodes.values()]
        order = sorted(range(len(owners)), key=owners.__getitem__)
        cursor = zones.cursor()
        append = not cursor.set_range(prefix)
        cursor.putmulti(((prefix + owners[i], packed[i]) for i in order), append=append)
        index = chain_prefix(zone_id)
        chained = sorted((chain_key(index, owner), marshal.dumps(((version, owner, kinds),)))
                         for owner, node in nodes.items() if (kinds := chain_kinds(node)))
        if chained:
            cursor.putmulti(chained, append=not cursor.set_range(index))

    def _write_delta(self, zone_id: int, version: int, changes: Changes) -> None:
        _, zones = self._txns()
        prefix = node_prefix(zone_id)
        index = chain_prefix(zone_id)
        for owner in sorted(changes):
            key = prefix + owner
            raw = zones.get(key)
            history = () if raw is None else unpack_history(bytes(raw))
            zones.put(key, pack_history(((version, changes[owner]), *history)))
            kinds = chain_kinds(changes[owner])
            if kinds != chain_kinds(history[0][1] if history else None):
                self._chain_entry(chain_key(index, owner), (version, owner, kinds))
        zones.put(changed_key(version), marshal.dumps(tuple(changes)))

    def _chain_entry(self, key: bytes, entry: tuple[int, bytes, int]) -> None:
        """Put a new entry in front of an owner's chain index history."""
        _, zones = self._txns()
        raw = zones.get(key)
        history: ChainHistory = () if raw is None else marshal.loads(raw)
        zones.put(key, marshal.dumps((entry, *history)))

    def _drop_replaced(self, zone_id: int, successor: int) -> None:
        _, zones = self._txns()
        raw = zones.get(changed_key(successor))
        if raw is None:
            return
        prefix = node_prefix(zone_id)
        index = chain_prefix(zone_id)
        for owner in marshal.loads(raw):
            # A chain index entry changes only with the owner's NSEC/NSEC3, so the one the
            # successor reads may be older than it: keep up to the first it reads.
            for key, gone in ((prefix + owner, None), (chain_key(index, owner), 0)):
                found = zones.get(key)
                if found is None:
                    continue
                history = marshal.loads(found)
                read = next((i for i, e in enumerate(history) if e[0] <= successor),
                            len(history) - 1)
                kept = history[:read + 1]
                if len(kept) == 1 and kept[0][-1] == gone:
                    zones.delete(key)
                elif len(kept) < len(history):
                    zones.put(key, marshal.dumps(kept))
        zones.delete(changed_key(successor))

    def _free_leftover(self, version: int) -> None:
        """Undo what a version wrote to the zones database without its catalog commit."""
        _, zones = self._txns()
        raw = zones.get(meta_key(version))
        if raw is None:
            return
        try:
            zone_id = ZoneMeta.unpack(bytes(raw)).zone_id
        except ValueError:
            zone_id = 0
        changed = zones.get(changed_key(version))
        if changed is not None:  # a delta: take its entries out of the histories
            prefix = node_prefix(zone_id)
            index = chain_prefix(zone_id)
            for owner in marshal.loads(changed):
                for key in (prefix + owner, chain_key(index, owner)):
                    found = zones.get(key)
                    if found is None:
                        continue
                    kept = tuple(e for e in marshal.loads(found) if e[0] != version)
                    if kept:
                        zones.put(key, marshal.dumps(kept))
                    else:
                        zones.delete(key)
            zones.delete(changed_key(version))
        elif zone_id:  # a first version: its key space has nothing else
            _delete_prefix(zones, node_prefix(zone_id))
            _delete_prefix(zones, chain_prefix(zone_id))
        if zone_id:
            zones.delete(journal_key(zone_id, version))
        zones.delete(meta_key(version))

    def keep_changeset(self, zone_id: int, change: Changeset, limits: JournalLimits) -> None:
        """Keep a changeset in the zone's journal, in the chain, within the limits."""
        _, zones = self._txns()
        stored = [(journal_key(zone_id, c.version), c, len(raw))
                  for c, raw in _journal_items(zones, zone_id)]
        if stored and stored[-1][1].to_serial != change.from_serial:
            drop = len(stored)  # the chain is broken: start the journal again
        else:
            # No cycles: drop from the oldest while one would start where this one ends.
            drop = 0
            while any(c.from_serial == change.to_serial for _, c, _ in stored[drop:]):
                drop += 1
        raw = change.pack()
        stored = stored[drop:] + [(journal_key(zone_id, change.version), change, len(raw))]
        total = sum(size for _, _, size in stored)
        while stored and (len(stored) > limits.depth or total > limits.size):
            total -= stored[0][2]
            stored.pop(0)
            drop += 1
        for key in [k for k, _ in _stored_keys(zones, zone_id)][:drop]:
            zones.delete(key)
        if stored and stored[-1][1] is change:
            zones.put(journal_key(zone_id, change.version), raw)

    def _retire(self, version: int, zone_id: int, successor: int) -> None:
        catalog, _ = self._txns()
        catalog.put(RETIRED_PREFIX + version_key(version),
                    Retired(time.time(), zone_id, successor).pack())


@dataclass
class Diff:
    """How a new version differs from version `base` of its zone (store.delta.diff_nodes)."""

    base: int
    changes: Changes
    before: dict[bytes, Node]  # the old nodes of the changed owners


@dataclass
class JournalLimits:
    """How many changesets a zone's journal keeps, and how many bytes."""

    depth: int = 20
    size: int = 100 << 20


def read_version(zones: lmdb.Transaction, zone_id: int,
                 version: int) -> Iterator[tuple[bytes, Node]]:
    """Every (owner, node) of one version of a zone, in owner order, from any transaction
    on the zones database."""
    prefix = node_prefix(zone_id)
    start = len(prefix)
    cursor = zones.cursor()
    if not cursor.set_range(prefix):
        return
    for key, value in cursor:
        if bytes(key[:start]) != prefix:
            return
        node = node_at(unpack_history(bytes(value)), version)
        if node is not None:
            yield bytes(key[start:]), node


def read_journal(zones: lmdb.Transaction, zone_id: int) -> list[Changeset]:
    """A zone's changesets, oldest first, from any transaction on the zones database."""
    return [change for change, _ in _journal_items(zones, zone_id)]


def journal_sizes(zones: lmdb.Transaction, zone_id: int) -> list[int]:
    """The stored size in bytes of each of a zone's changesets, oldest first."""
    return [len(raw) for _, raw in _stored_keys(zones, zone_id)]


def _journal_items(zones: lmdb.Transaction, zone_id: int) -> list[tuple[Changeset, bytes]]:
    return [(Changeset.unpack(raw), raw) for _, raw in _stored_keys(zones, zone_id)]


def _stored_keys(zones: lmdb.Transaction, zone_id: int) -> list[tuple[bytes, bytes]]:
    prefix = journal_prefix(zone_id)
    out = []
    cursor = zones.cursor()
    if cursor.set_range(prefix):
        for key, value in cursor:
            key = bytes(key)
            if not key.startswith(prefix):
                break
            out.append((key, bytes(value)))
    return out


def _delete_prefix(txn: lmdb.Transaction, prefix: bytes) -> None:
    cursor = txn.cursor()
    if not cursor.set_range(prefix):
        return
    while cursor.key()[:len(prefix)] == prefix:
        if not cursor.delete():
            break
