"""`dnsbackend ds ZONE`: the DS records (SHA-256) of a signed zone's keys, for its parent."""

from __future__ import annotations

import struct
import sys

import dns.name
import lmdb

from .changes import read_zone
from .sign.keys import ds_text
from .store.database import node_prefix
from .store.format import Node, ZoneEntry, node_at, unpack_history
from .wire.codes import DNSKEY
from .zone.files import origin_key

SEP = 0x0001  # the DNSKEY flag of a key the parent points at (our CSK has it)


def _apex(txn: lmdb.Transaction, entry: ZoneEntry) -> Node | None:
    """The served version's apex node."""
    raw = txn.get(node_prefix(entry.zone_id) + origin_key(dns.name.from_text(entry.origin)))
    return None if raw is None else node_at(unpack_history(bytes(raw)), entry.version)


def main(data: str, zone: str) -> int:
    found = read_zone(data, zone, _apex)
    if isinstance(found, int):
        return found
    origin, node = found
    dnskeys = node.get(DNSKEY) if node else None
    if dnskeys is None:
        print(f"dnsbackend: zone {origin} is not signed (set sign = true in its "
              f"[zone.\"{origin}\"] table)", file=sys.stderr)
        return 1
    ttl, rdatas = dnskeys
    for rdata in rdatas:
        if struct.unpack_from("!H", rdata)[0] & SEP:
            print(ds_text(origin, rdata, ttl))
    return 0
