"""The LMDB layout: a catalog database of served zones and a zones database of nodes.

Layout (both are LMDB environments under the data directory):
  catalog/  b"z:" + origin (lower-case wire) -> catalog entry (format.ZoneEntry)
            b"v"                            -> next zone version number
            b"r:" + version (8 bytes)       -> time the version stopped being current
            b"c"                            -> the zone policy the writers apply (update.policy)
            b"s"                            -> the settings every server answers by
                                               (format.ServedSettings)
  zones/    version (8 bytes)               -> ZoneMeta of that version
            version (8 bytes) + owner       -> node (lower-case wire owner)
A version's nodes are written once and never changed, so a reader that found a version in
the catalog reads all of it or, once it is freed long after being replaced, none of it.
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
_VERSION = struct.Struct(">Q")

DEFAULT_MAP_SIZE = 64 << 30  # address space only: LMDB files grow as data is written


class StoreError(Exception):
    """The store cannot be opened or used; the message says why."""


def version_key(version: int) -> bytes:
    return _VERSION.pack(version)


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
        out[key[len(ENTRY_PREFIX):]] = ZoneEntry.unpack(bytes(value))
    return out
