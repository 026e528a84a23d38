"""The LMDB layout: a catalog database of served zones and a zones database of nodes.

Layout (both are LMDB environments under the data directory):
  catalog/  b"z:" + origin (lower-case wire) -> catalog entry (format.ZoneEntry)
            b"v"                            -> next number (zone versions and zone ids)
            b"r:" + version (8 bytes)       -> format.Retired: when the version stopped being
                                               current, and what replaced it
            b"c"                            -> the zone policy the writers apply (update.policy)
            b"s"                            -> the settings every server answers by
                                               (format.ServedSettings)
            b"f"                            -> the layout of this store (STORE_FORMAT)
  zones/    b"m" + version (8 bytes)        -> format.ZoneMeta of that version
            b"n" + zone id (8) + owner      -> the owner's node history (format.History):
                                               (version, node or None), newest first
            b"c" + version (8 bytes)        -> the owners that version changed (for freeing
                                               what it replaced)
            b"j" + zone id (8) + version (8) -> format.Changeset: the change that made it
            b"o" + zone id (8) + chain key  -> format.ChainHistory: the owners of NSEC and
                                               NSEC3 records in canonical order
                                               (format.chain_key), so that the record
                                               covering a name is a cursor step from it
Versions are delta versions: a new version writes only the owners that changed, each as a
longer history; a reader at version V takes the newest entry not newer than V. A history
entry is never changed once written, so a reader sees all of its version or, once that
version is freed long after being replaced, knows it (its meta is gone) and starts again.
"""

from __future__ import annotations

import os
import struct

import lmdb

from .format import ZoneEntry

ENTRY_PREFIX = b"z:"
RETIRED_PREFIX = b"r:"
NEXT_VERSION = b"v"
POLICY_KEY = b"c"  # the zone policy (update.policy.ZonePolicy), packed by its owner
SERVED_KEY = b"s"  # format.ServedSettings
STORE_FORMAT_KEY = b"f"
CATALOG_ZONE_KEY = b"k"  # the RFC 9432 catalog zone served: (origin or b"", last serial)
# 1: full versions under version-major keys (no marker); 2: delta versions; 3: and the chain
# index
STORE_FORMAT = b"3"

META_PREFIX = b"m"
NODE_PREFIX = b"n"
CHANGED_PREFIX = b"c"
JOURNAL_PREFIX = b"j"
CHAIN_PREFIX = b"o"
_VERSION = struct.Struct(">Q")

DEFAULT_MAP_SIZE = 64 << 30  # address space only: LMDB files grow as data is written


class StoreError(Exception):
    """The store cannot be opened or used; the message says why."""


def version_key(version: int) -> bytes:
    return _VERSION.pack(version)


def meta_key(version: int) -> bytes:
    return META_PREFIX + _VERSION.pack(version)


def node_prefix(zone_id: int) -> bytes:
    """The prefix of a zone's node histories: add the lower-case wire owner."""
    return NODE_PREFIX + _VERSION.pack(zone_id)


def chain_prefix(zone_id: int) -> bytes:
    """The prefix of a zone's chain index: add format.chain_key's part."""
    return CHAIN_PREFIX + _VERSION.pack(zone_id)


def changed_key(version: int) -> bytes:
    return CHANGED_PREFIX + _VERSION.pack(version)


def journal_prefix(zone_id: int) -> bytes:
    return JOURNAL_PREFIX + _VERSION.pack(zone_id)


def journal_key(zone_id: int, version: int) -> bytes:
    return JOURNAL_PREFIX + _VERSION.pack(zone_id) + _VERSION.pack(version)


def unpack_version(raw: bytes) -> int:
    return int(_VERSION.unpack(raw)[0])


def entry_key(origin_lower: bytes) -> bytes:
    return ENTRY_PREFIX + origin_lower


class Store:
    """Both LMDB environments of one data directory, opened in this process."""

    def __init__(self, path: str, map_size: int = DEFAULT_MAP_SIZE) -> None:
        self.path = path
        try:
            os.makedirs(path, exist_ok=True)
            self.catalog_env = lmdb.open(
                os.path.join(path, "catalog"), map_size=1 << 30, max_readers=1024
            )
            self.zones_env = lmdb.open(
                os.path.join(path, "zones"), map_size=map_size, max_readers=1024,
                writemap=False, map_async=False,
            )
        except (OSError, lmdb.Error) as exc:
            raise StoreError(f"cannot open the store in {path}: {exc}") from None

    def entries(self) -> dict[bytes, ZoneEntry]:
        """Every catalog entry, keyed by lower-case origin wire name (one read snapshot)."""
        with self.catalog_env.begin() as txn:
            return read_entries(txn)

    def close(self) -> None:
        self.catalog_env.close()
        self.zones_env.close()
        if _shared.get(self.path) is self:
            del _shared[self.path]


_shared: dict[str, Store] = {}


def open_shared(path: str) -> Store:
    """The one Store of a data directory in this process (LMDB allows one open per process)."""
    key = os.path.realpath(path)
    store = _shared.get(key)
    if store is None:
        store = _shared[key] = Store(key)
    return store


def read_entries(txn: lmdb.Transaction) -> dict[bytes, ZoneEntry]:
    out: dict[bytes, ZoneEntry] = {}
    cursor = txn.cursor()
    if not cursor.set_range(ENTRY_PREFIX):
        return out
    for key, value in cursor:
        key = bytes(key)
        if not key.startswith(ENTRY_PREFIX):
            break
        try:
            out[key[len(ENTRY_PREFIX):]] = ZoneEntry.unpack(bytes(value))
        except ValueError:
            continue  # another layout's: the start-up recovery empties such a store
    return out
