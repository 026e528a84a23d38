"""The LMDB record store: a catalog database of served zones and a zones database of nodes.

Layout (both are LMDB environments under the data directory):
  catalog/  b"z:" + origin (lower-case wire) -> catalog entry (marshal'd dict)
            b"v"                            -> next zone version number
            b"r:" + version (8 bytes)       -> time the version stopped being current
            b"c"                            -> the catalogue policy and served settings
  zones/    version (8 bytes)               -> ZoneMeta of that version
            version (8 bytes) + owner       -> node (lower-case wire owner)
A version's nodes are written once and never changed, so a reader that found a version in
the catalog reads all of it or, once it is freed long after being replaced, none of it.
"""

from __future__ import annotations

import marshal
import os
import struct
from typing import Any

import lmdb

ENTRY_PREFIX = b"z:"
RETIRED_PREFIX = b"r:"
NEXT_VERSION = b"v"
POLICY_KEY = b"c"  # the catalogue policy (catalogue.Policy), with the served settings
_VERSION = struct.Struct(">Q")

DEFAULT_MAP_SIZE = 64 << 30  # address space only: LMDB files grow as data is written


class StoreError(Exception):
    """The store cannot be opened or used; the message says why."""


def version_key(version: int) -> bytes:
    return _VERSION.pack(version)


def entry_key(origin_lower: bytes) -> bytes:
    return ENTRY_PREFIX + origin_lower


def pack_entry(entry: dict[str, Any]) -> bytes:
    return marshal.dumps(entry)


def unpack_entry(raw: bytes) -> dict[str, Any]:
    value = marshal.loads(raw)
    assert isinstance(value, dict)
    return value


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

    def entries(self) -> dict[bytes, dict[str, Any]]:
        """Every catalog entry, keyed by lower-case origin wire name (one read snapshot)."""
        with self.catalog_env.begin() as txn:
            return read_entries(txn)

    def close(self) -> None:
        self.catalog_env.close()
        self.zones_env.close()


_shared: dict[str, Store] = {}


def open_shared(path: str) -> Store:
    """The one Store of a data directory in this process (LMDB allows one open per process)."""
    key = os.path.realpath(path)
    store = _shared.get(key)
    if store is None:
        store = _shared[key] = Store(key)
    return store


def read_entries(txn: lmdb.Transaction) -> dict[bytes, dict[str, Any]]:
    out: dict[bytes, dict[str, Any]] = {}
    cursor = txn.cursor()
    if not cursor.set_range(ENTRY_PREFIX):
        return out
    for key, value in cursor:
        key = bytes(key)
        if not key.startswith(ENTRY_PREFIX):
            break
        out[key[len(ENTRY_PREFIX):]] = unpack_entry(bytes(value))
    return out
