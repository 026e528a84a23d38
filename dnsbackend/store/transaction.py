"""The one way to write the store: a transaction that locks the catalog, then the zones.

Modelled on Knot's zone_update_* and dnspython's Transaction: begin, change, then commit
or roll back. Used as a context manager it commits on a clean exit and rolls back on an
exception. Nothing else in the project opens a write transaction.
"""

from __future__ import annotations

import marshal
import time
from types import TracebackType

import lmdb

from . import lockorder
from .database import NEXT_VERSION, RETIRED_PREFIX, Store, entry_key, read_entries, version_key
from .format import ZoneContents, ZoneEntry

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
        return self

    def commit(self) -> None:
        """Make the change visible: zone data first, then the catalog that points at it."""
        catalog, zones = self._txns()
        self._zones = None
        self._catalog = None
        try:
            zones.commit()
        except BaseException:
            lockorder.released("zones")
            catalog.abort()
            lockorder.released("catalog")
            raise
        lockorder.released("zones")
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

    def put_zone(self, contents: ZoneContents, entry: ZoneEntry) -> int:
        """Write a new version of a zone and make the catalog entry point at it (the entry's
        version, serial and record count are set from what was written)."""
        catalog, zones = self._txns()
        version = self._next_version()
        prefix = version_key(version)
        self._free_version(version)  # leftovers of a crash between the two commits
        zones.put(prefix, contents.meta.pack())
        cursor = zones.cursor()
        cursor.putmulti(((prefix + name, value) for name, value in contents.items()), append=True)
        origin_lower = contents.meta.origin.lower()
        old = self.entry(origin_lower)
        if old and old.version:
            self._retire(old.version)
        entry.version = version
        entry.serial = contents.meta.serial
        entry.records = contents.meta.records
        catalog.put(entry_key(origin_lower), entry.pack())
        return version

    def remove_zone(self, origin_lower: bytes) -> None:
        catalog, _ = self._txns()
        old = self.entry(origin_lower)
        if old is None:
            return
        if old.version:
            self._retire(old.version)
        catalog.delete(entry_key(origin_lower))

    def collect_garbage(self, now: float | None = None, grace: float = RETIRE_GRACE_SECONDS) -> int:
        """Free versions replaced more than `grace` seconds ago; return how many."""
        catalog, _ = self._txns()
        now = time.time() if now is None else now
        due: list[tuple[bytes, int]] = []
        cursor = catalog.cursor()
        if cursor.set_range(RETIRED_PREFIX):
            for key, value in cursor:
                key = bytes(key)
                if not key.startswith(RETIRED_PREFIX):
                    break
                if now - marshal.loads(value) >= grace:
                    due.append((bytes(key), int.from_bytes(key[len(RETIRED_PREFIX):], "big")))
        for key, version in due:
            self._free_version(version)
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
                known.add(int.from_bytes(key[len(RETIRED_PREFIX):], "big"))
        orphans = []
        zcursor = zones.cursor()
        found = zcursor.first()
        while found:
            version = int.from_bytes(zcursor.key()[:8], "big")
            if version not in known:
                orphans.append(version)
            found = zcursor.set_range(version_key(version + 1))
        for version in orphans:
            self._free_version(version)
        return len(orphans)

    # -- helpers ----------------------------------------------------------------------

    def _next_version(self) -> int:
        catalog, _ = self._txns()
        raw = catalog.get(NEXT_VERSION)
        version = 1 if raw is None else int(marshal.loads(raw))
        catalog.put(NEXT_VERSION, marshal.dumps(version + 1))
        return version

    def _retire(self, version: int) -> None:
        catalog, _ = self._txns()
        catalog.put(RETIRED_PREFIX + version_key(version), marshal.dumps(time.time()))

    def _free_version(self, version: int) -> None:
        _, zones = self._txns()
        prefix = version_key(version)
        cursor = zones.cursor()
        if not cursor.set_range(prefix):
            return
        while cursor.key()[:8] == prefix:
            if not cursor.delete():
                break
